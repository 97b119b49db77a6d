package netcmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// testFactory is a Factory without configuration or libvirt: enough to parse flags.
func testFactory(t *testing.T) (*cmdutil.Factory, *bytes.Buffer) {
	f, _, errOut := cmdutiltest.NewFactory(t, nil)
	f.Prog = "netctl"
	return f, errOut
}

// parse runs cmd with args under a root carrying the global flags; runF captures the options.
func parse(f *cmdutil.Factory, cmd *cobra.Command, args ...string) error {
	root := &cobra.Command{Use: "netctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.ExecuteContext(context.Background())
}

// wantUsage fails unless err is a usage error (exit 2) mentioning msg.
func wantUsage(t *testing.T, args []string, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("%q: accepted, want a usage error with %q", args, msg)
		return
	}
	if errs.KindOf(err) != errs.Usage && !strings.Contains(err.Error(), "flag") && !strings.Contains(err.Error(), "required") {
		t.Errorf("%q: %v is %s, want a usage error", args, err, errs.KindOf(err))
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%q: %q does not say %q", args, err, msg)
	}
}
