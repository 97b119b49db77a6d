package vm

import (
	"context"
	"fmt"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// flagCase is one argv run through a NewCmdX with a capturing runF: the options it produced
// (printed without the factory), or the kind of error it failed with.
type flagCase struct {
	argv []string
	want string
	err  errs.Kind
}

func runFlagCases[T any](t *testing.T, name string, build func(f *cmdutil.Factory, runF func(context.Context, *T) error) *cobra.Command, show func(*T) string, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		var got *T
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		cmd := build(f, func(_ context.Context, o *T) error { got = o; return nil })
		err := parse(t, cmd, f, tc.argv...)
		switch {
		case tc.err != 0:
			if errs.KindOf(err) != tc.err || got != nil {
				t.Errorf("%s %v: %v (ran: %v), want a %v error", name, tc.argv, err, got != nil, tc.err)
			}
		case err != nil:
			t.Errorf("%s %v: %v", name, tc.argv, err)
		case show(got) != tc.want:
			t.Errorf("%s %v:\n got %s\nwant %s", name, tc.argv, show(got), tc.want)
		}
	}
}

func TestNewCmdCreate(t *testing.T) {
	runFlagCases(t, "create", func(f *cmdutil.Factory, r func(context.Context, *CreateOptions) error) *cobra.Command {
		return NewCmdCreate(f, r)
	},
		func(o *CreateOptions) string {
			return fmt.Sprintf("%s name=%s set=%v start=%v wait=%s dry=%v", o.Profile, o.Name, o.Set, o.Start, o.WaitFor, o.DryRun)
		}, []flagCase{
			{argv: []string{"web"}, want: "web name= set=[] start=false wait= dry=false"},
			{argv: []string{"p.toml", "--name", "t1", "--set", "memory=4GiB", "--set", "vcpus=2", "--wait", "ip"}, want: "p.toml name=t1 set=[memory=4GiB vcpus=2] start=true wait=ip dry=false"},
			{argv: []string{"web", "--start", "--dry-run"}, want: "web name= set=[] start=true wait= dry=true"},
			{argv: []string{}, err: errs.Usage},
			{argv: []string{"a", "b"}, err: errs.Usage},
			{argv: []string{"web", "--name", "bad/name"}, err: errs.Usage},
			{argv: []string{"web", "--wait", "lunch"}, err: errs.Usage},
		})
}

func TestNewCmdClone(t *testing.T) {
	runFlagCases(t, "clone", func(f *cmdutil.Factory, r func(context.Context, *CloneOptions) error) *cobra.Command {
		return NewCmdClone(f, r)
	},
		func(o *CloneOptions) string {
			return fmt.Sprintf("%s→%s linked=%v start=%v stop=%v", o.Source, o.Name, o.Linked, o.Start, o.StopSource)
		}, []flagCase{
			{argv: []string{"a", "b"}, want: "a→b linked=false start=false stop=false"},
			{argv: []string{"a", "b", "--linked", "--start", "--stop-source"}, want: "a→b linked=true start=true stop=true"},
			{argv: []string{"a"}, err: errs.Usage},
			{argv: []string{"a", "b/c"}, err: errs.Usage},
		})
}

func TestNewCmdWait(t *testing.T) {
	runFlagCases(t, "wait", func(f *cmdutil.Factory, r func(context.Context, *WaitOptions) error) *cobra.Command {
		return NewCmdWait(f, r)
	},
		func(o *WaitOptions) string { return fmt.Sprintf("%v for=%s sources=%v", o.Targets, o.For, o.Sources) },
		[]flagCase{
			{argv: []string{"web-*", "--for", "ip"}, want: "[web-*] for=ip sources=[lease agent arp]"},
			{argv: []string{"a", "--for", "ip", "--source", "agent,arp"}, want: "[a] for=ip sources=[agent arp]"},
			{argv: []string{"a", "--for", "stopped"}, want: "[a] for=stopped sources=[lease agent arp]"},
			{argv: []string{"a", "--for", "lunch"}, err: errs.Usage},
			{argv: []string{"--for", "ip"}, err: errs.Usage},
		})
}

func TestNewCmdDelete(t *testing.T) {
	runFlagCases(t, "delete", func(f *cmdutil.Factory, r func(context.Context, *LifecycleOptions) error) *cobra.Command {
		return NewCmdDelete(f, r)
	},
		func(o *LifecycleOptions) string {
			return fmt.Sprintf("%s %v yes=%v force=%v storage=%v perVM=%s", o.Verb, o.Targets, o.Yes, o.Force, o.Storage, o.PerVM)
		}, []flagCase{
			{argv: []string{"old"}, want: "delete [old] yes=false force=false storage=false perVM=1m0s"},
			{argv: []string{"t-*", "-y", "--force", "--remove-storage", "--timeout", "5s"}, want: "delete [t-*] yes=true force=true storage=true perVM=5s"},
			{argv: []string{}, err: errs.Usage},
		})
}

func TestNewCmdAutostart(t *testing.T) {
	runFlagCases(t, "autostart", func(f *cmdutil.Factory, r func(context.Context, *LifecycleOptions) error) *cobra.Command {
		return NewCmdAutostart(f, r)
	},
		func(o *LifecycleOptions) string { return fmt.Sprintf("%s on=%v %v", o.Verb, o.On, o.Targets) },
		[]flagCase{
			{argv: []string{"on", "web01", "db01"}, want: "autostart on on=true [web01 db01]"},
			{argv: []string{"off", "--all"}, want: "autostart off on=false []"},
			{argv: []string{"on"}, err: errs.Usage},
		})
}

func TestNewCmdAutostartRun(t *testing.T) {
	runFlagCases(t, "autostart run", func(f *cmdutil.Factory, r func(context.Context, *AutostartRunOptions) error) *cobra.Command {
		return NewCmdAutostartRun(f, r)
	},
		func(o *AutostartRunOptions) string { return fmt.Sprintf("dry=%v", o.DryRun) },
		[]flagCase{
			{argv: nil, want: "dry=false"},
			{argv: []string{"--dry-run"}, want: "dry=true"},
			{argv: []string{"web01"}, err: errs.Usage},
		})
}

func TestNewCmdIPAndList(t *testing.T) {
	runFlagCases(t, "ip", func(f *cmdutil.Factory, r func(context.Context, *IPOptions) error) *cobra.Command {
		return NewCmdIP(f, r)
	},
		func(o *IPOptions) string { return fmt.Sprintf("%s %v", o.Name, o.Sources) },
		[]flagCase{
			{argv: []string{"web01"}, want: "web01 [lease agent arp]"},
			{argv: []string{"web01", "--source", "arp"}, want: "web01 [arp]"},
			{argv: []string{}, err: errs.Usage},
		})
	runFlagCases(t, "list", func(f *cmdutil.Factory, r func(context.Context, *ListOptions) error) *cobra.Command {
		return NewCmdList(f, r)
	},
		func(o *ListOptions) string { return fmt.Sprintf("%v %v", o.Patterns, o.States) },
		[]flagCase{
			{argv: nil, want: "[] []"},
			{argv: []string{"web-*", "--state", "running"}, want: "[web-*] [running]"},
		})
}
