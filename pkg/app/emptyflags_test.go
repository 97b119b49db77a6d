package app_test

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every flag that takes a string or a list refuses an empty value (exit 2, naming the flag)
// before anything runs, instead of reading it as "not given": `history --since ""` listed the
// whole journal, `-c ""` went to the local libvirt, `--jq ""` printed the table. Only flags
// marked cmdutil.AnnEmptyOK take "".
func TestEveryFlagRefusesAnEmptyValue(t *testing.T) {
	// Through the whole program: the examples QA found, the root's own flags, and a list flag
	// given an empty element.
	for _, args := range [][]string{
		{"history", "--since", ""}, {"vm", "stats", "--since="}, {"-c", "", "vm", "list"}, {"--config=", "vm", "list"},
		{"vm", "list", "--jq", ""}, {"vm", "gc", "--pool="}, {"vm", "exec", "web01", "--env", "", "--", "true"},
	} {
		_, stderr, code := run(t, "hvctl", args...)
		if code != 2 || !strings.Contains(stderr, ": empty value") {
			t.Errorf("hvctl %q: exit %d, stderr %q; want exit 2 naming the empty flag", args, code, stderr)
		}
	}
	// An empty snapshot description is no description: allowed (and so past the flag check).
	if _, stderr, _ := run(t, "hvctl", "vm", "snapshot", "create", "test", "s1", "--description="); strings.Contains(stderr, "empty value") {
		t.Errorf("--description '' refused: %q", stderr)
	}

	// Every other flag of the tree, checked the way cobra runs a command up to its argument
	// check, so that a command the check misses is not run (vmctl events and top would not end).
	checked := 0
	walk(t, "hvctl", func(c *cobra.Command) {
		if !c.Runnable() || c.Hidden || c.DisableFlagParsing {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if _, ok := fl.Annotations[cmdutil.AnnEmptyOK]; ok || fl.NoOptDefVal != "" {
				return
			}
			if _, list := fl.Value.(pflag.SliceValue); !list && fl.Value.Type() != "string" && fl.Value.Type() != "strings" {
				return
			}
			checked++
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			cmd, _, err := app.NewRoot(f, "hvctl").Find(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags([]string{"--" + fl.Name + "="}); err != nil {
				if !strings.Contains(err.Error(), `""`) {
					t.Errorf("hvctl %s --%s='': %v", c.CommandPath(), fl.Name, err)
				}
				return // an enum flag refuses "" as a value it does not know
			}
			if err := cmd.ValidateArgs(nil); err == nil || !strings.Contains(err.Error(), "--"+fl.Name+": empty value") {
				t.Errorf("%s --%s='': %v; want a usage error naming the empty flag", c.CommandPath(), fl.Name, err)
			}
		})
	})
	if checked < 100 {
		t.Fatalf("only %d flags checked: the walk missed the tree", checked)
	}
}
