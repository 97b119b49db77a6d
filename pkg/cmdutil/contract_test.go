package cmdutil

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestConfirm(t *testing.T) {
	q := Question{Verb: "delete", What: "VM definitions", Done: "deleted", Objects: []string{"web-01", "web-02"}}
	cases := []struct {
		name     string
		tty, yes bool
		answer   string
		wantKind errs.Kind // Failure stands for "no error"
		wantErr  string
	}{
		{"--yes needs no terminal", false, true, "", errs.Failure, ""},
		{"no terminal, no --yes", false, false, "y\n", errs.Usage, "not confirmed: refusing to delete without confirmation (use --yes)"},
		{"terminal, yes", true, false, "y\n", errs.Failure, ""},
		{"terminal, YES", true, false, " YES \n", errs.Failure, ""},
		{"terminal, no", true, false, "n\n", errs.Usage, "not confirmed; nothing deleted"},
		{"terminal, end of input", true, false, "", errs.Usage, "not confirmed; nothing deleted"},
	}
	for _, c := range cases {
		ios, in, _, errOut := iostreams.Test()
		ios.SetTTY(c.tty, false, c.tty)
		in.WriteString(c.answer)
		err := Confirm(ios, c.yes, q)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || errs.KindOf(err) != c.wantKind || err.Error() != c.wantErr):
			t.Errorf("%s: got %v, want %s error %q", c.name, err, c.wantKind, c.wantErr)
		}
		if c.tty && !c.yes && !strings.Contains(errOut.String(), "  web-01\n  web-02\n") {
			t.Errorf("%s: the prompt does not list the matched objects: %q", c.name, errOut.String())
		}
	}
	// Nothing matched: nothing to confirm.
	ios, _, _, _ := iostreams.Test()
	if err := Confirm(ios, false, Question{Verb: "delete"}); err != nil {
		t.Errorf("empty list: %v", err)
	}
}

// parse runs cmd with args under a bare root and returns the error.
func parse(cmd *cobra.Command, args ...string) error {
	root := &cobra.Command{Use: "t", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	root.SetOut(&bytes.Buffer{})
	return root.ExecuteContext(context.Background())
}

func TestArgs(t *testing.T) {
	cases := []struct {
		args cobra.PositionalArgs
		n    int
		ok   bool
	}{
		{ExactArgs(1, "one VM"), 1, true}, {ExactArgs(1, "one VM"), 2, false},
		{MinimumArgs(1, "VMs"), 0, false}, {MinimumArgs(1, "VMs"), 3, true},
		{RangeArgs(1, 2, "a VM"), 0, false}, {RangeArgs(1, 2, "a VM"), 2, true}, {RangeArgs(1, 2, "a VM"), 3, false},
		{NoArgs, 0, true}, {NoArgs, 1, false},
	}
	for i, c := range cases {
		cmd := &cobra.Command{Use: "x", Args: c.args, RunE: func(*cobra.Command, []string) error { return nil }}
		err := parse(cmd, make([]string, c.n)...)
		if c.ok != (err == nil) || (err != nil && errs.KindOf(err) != errs.Usage) {
			t.Errorf("case %d (%d args): %v", i, c.n, err)
		}
		if err != nil && errs.HintOf(err) != "see 't x --help'" {
			t.Errorf("case %d: hint %q", i, errs.HintOf(err))
		}
	}
}

func TestEnumFlags(t *testing.T) {
	var mode string
	var states []string
	newCmd := func() *cobra.Command {
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		StringEnumFlag(cmd, &mode, "mode", "", "acpi", []string{"acpi", "agent"}, "how")
		StringSliceEnumFlag(cmd, &states, "state", "", nil, []string{"running", "paused"}, "which")
		return cmd
	}
	if err := parse(newCmd()); err != nil || mode != "acpi" || states != nil {
		t.Errorf("defaults: %v %q %v", err, mode, states)
	}
	if err := parse(newCmd(), "--mode", "agent", "--state", "running,paused", "--state", "running"); err != nil ||
		mode != "agent" || strings.Join(states, " ") != "running paused running" {
		t.Errorf("values: %v %q %v", err, mode, states)
	}
	for _, bad := range [][]string{{"--mode", "psychic"}, {"--state", "running,gone"}} {
		err := parse(newCmd(), bad...)
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "want one of") {
			t.Errorf("%v: %v", bad, err)
		}
	}
	cmd := newCmd()
	if u := cmd.Flags().Lookup("mode").Usage; u != "how {acpi|agent}" {
		t.Errorf("help: %q", u)
	}
	if _, ok := cmd.GetFlagCompletionFunc("state"); !ok {
		t.Error("no completion for --state")
	}
}

func TestOutputFlagsFormat(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	if _, err := (OutputFlags{Zero: true}).Format(ios); errs.KindOf(err) != errs.Usage {
		t.Errorf("-0 without -o name: %v", err)
	}
	f, err := (OutputFlags{Output: "name", Zero: true}).Format(ios)
	if err != nil || !f.Zero || f.Terminal {
		t.Errorf("-o name -0: %+v %v", f, err)
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"list", "--json"}, true}, {[]string{"list", "-o", "json"}, true}, {[]string{"list", "--jq=.x"}, true},
		{[]string{"list", "-o", "name"}, false}, {[]string{"list", "--", "--json"}, false},
	} {
		if got := WantsJSON(nil, c.args); got != c.want {
			t.Errorf("WantsJSON(%v) = %v", c.args, got)
		}
	}
}

// A failed target did nothing, whatever action the verb was attempting.
func TestRunBulkFailureHasNoAction(t *testing.T) {
	results, _ := RunBulk(context.Background(), []string{"bad", "good"}, 2, func(_ context.Context, name string) (string, error) {
		if name == "bad" {
			return "started", errs.New(errs.Conflict, "cannot start")
		}
		return "started", nil
	})
	if results[0].Action != "" || results[0].OK || results[1].Action != "started" || !results[1].OK {
		t.Errorf("results: %+v", results)
	}
}

func managed(name, profile, owner string) string {
	return `<domain type='test'><name>` + name + `</name><memory>65536</memory><os><type>hvm</type></os>
<metadata><hvctl:vm xmlns:hvctl="https://hyper-nixos.org/hvctl/1"><hvctl:profile>` + profile + `</hvctl:profile><hvctl:owner>` + owner + `</hvctl:owner></hvctl:vm></metadata></domain>`
}

// --profile and --owner keep only what hvctl made from that profile or for that owner; a plain
// name outside the scope is not let through.
func TestBulkSelectors(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, managed("ci-1", "runner", "ci"), managed("ci-2", "runner", "ci"), managed("web-1", "web", "ops"))
	ctx := context.Background()
	all, err := c.DomainNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b    BulkFlags
		want string
	}{
		{BulkFlags{Owner: "ci"}, "ci-1 ci-2"},
		{BulkFlags{Profile: "web"}, "web-1"},
		{BulkFlags{Profile: "runner", Owner: "ops"}, ""},
		{BulkFlags{}, "ci-1 ci-2 test web-1"},
	} {
		got, err := tc.b.Scope(ctx, c, all)
		slices.Sort(got)
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%+v: %v %v, want %s", tc.b, got, err, tc.want)
		}
	}
	scoped := BulkFlags{Owner: "ci"}
	targets, unmatched := scoped.Resolve([]string{"web-1", "ci-*", "test"}, []string{"ci-1", "ci-2"})
	if !slices.Equal(targets, []string{"ci-1", "ci-2"}) || !slices.Equal(unmatched, []string{"web-1", "test"}) {
		t.Errorf("scoped resolve: %v %v", targets, unmatched)
	}
}

func TestConfirmAll(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	targets := []string{"a", "b"}
	if err := (BulkFlags{All: true, Destructive: true}).ConfirmAll(ios, "stop", targets); errs.KindOf(err) != errs.Usage {
		t.Errorf("stop --all without --yes off a terminal: %v", err)
	}
	for _, b := range []BulkFlags{{All: true, Destructive: true, Yes: true}, {All: true}, {Destructive: true}} {
		if err := b.ConfirmAll(ios, "stop", targets); err != nil {
			t.Errorf("%+v: %v", b, err)
		}
	}
}

func TestWarnfAndQuiet(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	f := &Factory{IO: ios, Prog: "vmctl", Global: &Global{}}
	f.Warnf("kept %s", "x.qcow2")
	if errOut.String() != "vmctl: warning: kept x.qcow2\n" {
		t.Errorf("warning: %q", errOut.String())
	}
	errOut.Reset()
	f.Global.Quiet = true
	f.Warnf("kept %s", "x.qcow2")
	f.Infof("done")
	if errOut.Len() != 0 {
		t.Errorf("-q printed %q", errOut.String())
	}
}
