package vm

import (
	"context"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// parse runs a command with args through cobra, capturing the options via runF.
func parse(t *testing.T, cmd *cobra.Command, f *cmdutil.Factory, args ...string) error {
	t.Helper()
	root := &cobra.Command{Use: "vmctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	return root.ExecuteContext(context.Background())
}

func TestStopFlags(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var got *LifecycleOptions
	cmd := NewCmdStop(f, func(_ context.Context, o *LifecycleOptions) error { got = o; return nil })
	if err := parse(t, cmd, f, "web-*", "db01", "--force", "--timeout", "2m", "-j", "8", "--mode", "agent"); err != nil {
		t.Fatal(err)
	}
	if got.Verb != "stop" || !got.Force || got.PerVM != 2*time.Minute || got.Bulk.Parallel != 8 || got.Mode != "agent" ||
		len(got.Targets) != 2 || got.Targets[0] != "web-*" {
		t.Errorf("options: %+v", got)
	}
}

func TestStopDefaultWait(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var got *LifecycleOptions
	cmd := NewCmdStop(f, func(_ context.Context, o *LifecycleOptions) error { got = o; return nil })
	if err := parse(t, cmd, f, "--all"); err != nil {
		t.Fatal(err)
	}
	if got.PerVM != 60*time.Second || !got.Bulk.All || got.Bulk.Parallel != 4 {
		t.Errorf("defaults: %+v", got)
	}
}

func TestAutostartArgs(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var got *LifecycleOptions
	cmd := NewCmdAutostart(f, func(_ context.Context, o *LifecycleOptions) error { got = o; return nil })
	if err := parse(t, cmd, f, "on", "web01"); err != nil {
		t.Fatal(err)
	}
	if !got.On || len(got.Targets) != 1 || got.Targets[0] != "web01" {
		t.Errorf("autostart on: %+v", got)
	}
}

func TestUsageErrors(t *testing.T) {
	never := func(_ context.Context, o *LifecycleOptions) error { t.Error("runF reached"); return nil }
	cases := []struct {
		cmd  func(*cmdutil.Factory) *cobra.Command
		args []string
	}{
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdStart(f, never) }, nil},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdStart(f, never) }, []string{"--all", "x"}},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdStart(f, never) }, []string{"../etc"}},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdStart(f, never) }, []string{"[x"}},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdStop(f, never) }, []string{"x", "--mode", "psychic"}},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdAutostart(f, never) }, []string{"on"}},
		{func(f *cmdutil.Factory) *cobra.Command { return NewCmdKill(f, never) }, []string{"x", "-j", "0"}},
		{func(f *cmdutil.Factory) *cobra.Command {
			return NewCmdWait(f, func(context.Context, *WaitOptions) error { t.Error("runF reached"); return nil })
		}, []string{"x", "--for", "lunch"}},
	}
	for _, c := range cases {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		err := parse(t, c.cmd(f), f, c.args...)
		if errs.KindOf(err) != errs.Usage {
			t.Errorf("%v: got %v, want a usage error", c.args, err)
		}
	}
}
