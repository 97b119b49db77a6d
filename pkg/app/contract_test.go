package app_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// run invokes prog in-process against the test driver and returns stdout, stderr and the exit code.
func run(t *testing.T, prog string, args ...string) (string, string, int) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Prog = prog
	code := app.Run(append([]string{prog}, args...), f)
	return out.String(), errOut.String(), code
}

// walk visits every command of prog's tree.
func walk(t *testing.T, prog string, fn func(*cobra.Command)) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var visit func(*cobra.Command)
	visit = func(c *cobra.Command) {
		fn(c)
		for _, s := range c.Commands() {
			visit(s)
		}
	}
	visit(app.NewRoot(f, prog))
}

// Every group command refuses a word that names none of its subcommands (exit 2, plain text,
// a suggestion), in every tree: a typo in a timer unit must not pass as help with exit 0.
func TestGroupsRejectUnknownSubcommands(t *testing.T) {
	for _, prog := range []string{"hvctl", "vmctl", "isoctl", "netctl", "auditctl"} {
		walk(t, prog, func(c *cobra.Command) {
			if !c.HasAvailableSubCommands() {
				return
			}
			path := strings.Fields(c.CommandPath())[1:]
			_, stderr, code := run(t, prog, append(path, "bogus-subcommand")...)
			if code != 2 || !strings.Contains(stderr, `unknown command "bogus-subcommand" for "`+c.CommandPath()+`"`) {
				t.Errorf("%s bogus-subcommand: exit %d, stderr %q", c.CommandPath(), code, stderr)
			}
			if strings.Contains(stderr, `\"`) || strings.Contains(stderr, `\n`) {
				t.Errorf("%s: the message is an escaped Go string: %q", c.CommandPath(), stderr)
			}
		})
	}
	_, stderr, code := run(t, "vmctl", "snapshot", "prnue", "web01")
	if code != 2 || !strings.Contains(stderr, "hint: did you mean 'vmctl snapshot prune'?") {
		t.Errorf("snapshot prnue: exit %d, %q", code, stderr)
	}
	// A flag after the typo does not hide it: cobra parsed the flags first and said
	// "unknown flag: --all", as if suspend were a verb without --all.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"suspend", "--all"}, `unknown command "suspend" for "vmctl"`},
		{[]string{"suspend", "-x", "web01"}, `unknown command "suspend" for "vmctl"`},
		{[]string{"snapshot", "prnue", "web01", "--keep-daily", "3"}, "did you mean 'vmctl snapshot prune'?"},
	} {
		if _, stderr, code := run(t, "vmctl", c.args...); code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("vmctl %q: exit %d, %q, want %q", c.args, code, stderr, c.want)
		}
	}
	// help with an unknown topic is the same typo.
	if _, stderr, code := run(t, "vmctl", "help", "snapshot", "prnue"); code != 2 || !strings.Contains(stderr, "did you mean 'vmctl snapshot prune'?") {
		t.Errorf("help snapshot prnue: exit %d, %q", code, stderr)
	}
	if out, _, code := run(t, "vmctl", "help", "snapshot", "prune"); code != 0 || !strings.Contains(out, "--keep-last") {
		t.Errorf("help snapshot prune: exit %d, %q", code, out)
	}
	// Without an argument a group still prints its help.
	if out, _, code := run(t, "hvctl", "vm"); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("hvctl vm: exit %d, %q", code, out)
	}
}

// Output flags exist only where data is printed, and every such command has all of them.
func TestOutputFlagsOnlyOnDataCommands(t *testing.T) {
	noData := map[string]bool{"vmctl xml": true, "vmctl profile render": true, "vmctl console": true, "isoctl seed": true}
	walk(t, "vmctl", func(c *cobra.Command) {
		if noData[c.CommandPath()] && cmdutil.HasOutputFlags(c) {
			t.Errorf("%s prints no data but has --json", c.CommandPath())
		}
	})
	walk(t, "isoctl", func(c *cobra.Command) {
		if noData[c.CommandPath()] && cmdutil.HasOutputFlags(c) {
			t.Errorf("%s prints no data but has --json", c.CommandPath())
		}
	})
	for _, args := range [][]string{{"xml", "test", "--json"}, {"xml", "test", "--jq", ".name"}, {"profile", "render", "x.toml", "-o", "json"}} {
		_, stderr, code := run(t, "vmctl", args...)
		var body model.ErrorBody
		if code != 2 || json.Unmarshal([]byte(stderr), &body) != nil || body.Error.Code != "usage" || !strings.Contains(body.Error.Message, "unknown") {
			t.Errorf("vmctl %v: exit %d, stderr %q; want a JSON usage error", args, code, stderr)
		}
	}
	walk(t, "hvctl", func(c *cobra.Command) {
		if c.Root().PersistentFlags().Lookup("json") != nil {
			t.Fatal("--json is still a global flag")
		}
	})
}

// Under --json every error is JSON, usage errors included, with the failing command's hint.
func TestJSONErrors(t *testing.T) {
	for _, args := range [][]string{
		{"list", "--json", "--bogus"},
		{"list", "--bogus", "--json"},
		{"show", "--json"},
		{"show", "nope", "-o", "json"},
		{"list", "--jq", ".[", "--json"},
	} {
		_, stderr, code := run(t, "vmctl", args...)
		var body model.ErrorBody
		if err := json.Unmarshal([]byte(stderr), &body); err != nil || body.Error.ExitCode != code || code == 0 {
			t.Errorf("vmctl %v: exit %d, stderr %q is not a JSON error (%v)", args, code, stderr, err)
		}
	}
	_, stderr, _ := run(t, "vmctl", "show", "--json")
	if !strings.Contains(stderr, `"hint":"see 'vmctl show --help'"`) {
		t.Errorf("hint does not name the failing command: %s", stderr)
	}
}

// Argument counts are usage errors by type; an OS error that reads "invalid argument" is not.
func TestArgumentCountsAreTyped(t *testing.T) {
	_, stderr, code := run(t, "vmctl", "snapshot", "create")
	if code != 2 || !strings.Contains(stderr, "vmctl snapshot create takes a VM and an optional snapshot name, got 0 argument(s)") {
		t.Errorf("snapshot create: exit %d, %q", code, stderr)
	}
	_, stderr, code = run(t, "hvctl", "version", "extra")
	if code != 2 || !strings.Contains(stderr, "hint: see 'hvctl version --help'") {
		t.Errorf("version extra: exit %d, %q", code, stderr)
	}
	if app.IsCobraUsage(syscall.EINVAL.Error()) || app.IsCobraUsage("remove /x: invalid argument") {
		t.Error("EINVAL is taken for a usage error")
	}
}

func TestVersionFlag(t *testing.T) {
	for _, prog := range []string{"hvctl", "vmctl", "isoctl", "netctl", "auditctl"} {
		out, _, code := run(t, prog, "--version")
		if code != 0 || !strings.HasPrefix(out, prog+" ") {
			t.Errorf("%s --version: exit %d, %q", prog, code, out)
		}
	}
}

// Commands that look a VM up take any name libvirt accepted; only names hvctl creates follow
// hvctl's strict rule.
func TestLookupTakesAnyLibvirtName(t *testing.T) {
	c := virttest.Open(t)
	odd := []string{"My Windows VM (old)", "db:primary+replica"}
	for _, n := range odd {
		virttest.Define(t, c, `<domain type='test'><name>`+n+`</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	}
	for _, n := range odd {
		for _, args := range [][]string{{"show", n, "-o", "name"}, {"xml", n}, {"start", n}, {"kill", n}} {
			if _, stderr, code := run(t, "vmctl", args...); code != 0 {
				t.Errorf("vmctl %q: exit %d: %s", args, code, stderr)
			}
		}
	}
	// -o name prints the name as it is in a pipe (escaped only on a terminal).
	raw := "tab\there\u009b2J"
	virttest.Define(t, c, `<domain type='test'><name>tab&#9;here&#155;2J</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	if out, stderr, code := run(t, "vmctl", "show", raw, "-o", "name"); code != 0 || out != raw+"\n" {
		t.Errorf("show -o name: exit %d, %q %s", code, out, stderr)
	}
	if _, stderr, code := run(t, "vmctl", "clone", odd[0], "new clone"); code != 2 || !strings.Contains(stderr, `invalid VM name "new clone"`) {
		t.Errorf("clone to a name hvctl would not create: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, "vmctl", "show", "a/b"); code != 2 || !strings.Contains(stderr, "cannot contain '/'") {
		t.Errorf("show a/b: exit %d: %s", code, stderr)
	}
}

// A flag value the flag's parser refuses is a usage error that names the flag as typed
// (--state, -j/--parallel), in every tree: "invalid state …" or "invalid output format …"
// leaves a cron job's author to guess which of a dozen flags it was.
func TestBadFlagValuesNameTheFlag(t *testing.T) {
	const bad = "bogus%"
	for _, prog := range []string{"vmctl", "isoctl", "netctl", "auditctl", "hvctl"} {
		walk(t, prog, func(c *cobra.Command) {
			if c.Runnable() == false || c.Name() == "help" || c.Name() == "__complete" {
				return
			}
			path := strings.Fields(c.CommandPath())[1:]
			c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
				if fl.Value.Type() == "bool" || fl.Value.Type() == "count" || fl.Value.Set(bad) == nil {
					return // the parser takes anything; the command checks it, if at all
				}
				_, stderr, code := run(t, prog, append(append([]string{}, path...), "--"+fl.Name, bad)...)
				if code != 2 || !strings.Contains(strings.SplitN(stderr, "\n", 2)[0], "--"+fl.Name) {
					t.Errorf("%s --%s %s: exit %d, %q; want exit 2 naming --%s", c.CommandPath(), fl.Name, bad, code, stderr, fl.Name)
				}
			})
		})
	}
	// -o is checked by the command, not its parser: the same rule.
	for _, args := range [][]string{{"vmctl", "list", "-o", "yaml"}, {"auditctl", "run", "-o", "pdf"}, {"netctl", "list", "--output", "yaml"}} {
		_, stderr, code := run(t, args[0], args[1:]...)
		if code != 2 || !strings.Contains(stderr, "-o/--output ") {
			t.Errorf("%v: exit %d, %q; want exit 2 naming -o/--output", args, code, stderr)
		}
	}
}

// -o name on a command whose data has no name is refused (exit 2, nothing on stdout) as
// `hvctl version -o name` is: printing the whole document instead feeds xargs garbage.
func TestNameOutputWithoutNames(t *testing.T) {
	for _, args := range [][]string{{"hvctl", "version", "-o", "name"}, {"vmctl", "profile", "schema", "-o", "name"}} {
		stdout, stderr, code := run(t, args[0], args[1:]...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "-o name: this command prints no name; use -o json") {
			t.Errorf("%v: exit %d, stdout %.40q, stderr %q; want exit 2 and no output", args, code, stdout, stderr)
		}
	}
}

// --jq implies --json, so -o table|wide|name with it contradict each other as with --json
// (and as -o sarif with --jq does): one of the two would be silently ignored.
func TestJQContradictsOtherFormats(t *testing.T) {
	for _, o := range []string{"name", "wide", "table"} {
		for _, prog := range []string{"vmctl", "netctl"} {
			stdout, stderr, code := run(t, prog, "list", "--jq", ".[].name", "-o", o)
			var body model.ErrorBody
			if code != 2 || stdout != "" || json.Unmarshal([]byte(stderr), &body) != nil || !strings.Contains(body.Error.Message, "--jq and -o "+o+" contradict each other") {
				t.Errorf("%s list --jq … -o %s: exit %d, stdout %q, stderr %q; want a JSON usage error", prog, o, code, stdout, stderr)
			}
		}
	}
	if stdout, stderr, code := run(t, "vmctl", "list", "--jq", ".[].name", "-o", "json"); code != 0 || stdout != "test\n" {
		t.Errorf("--jq with -o json: exit %d, %q %s", code, stdout, stderr)
	}
}

// The same act has the same action word in every tree's results: a script that checks for
// "autostart_on" works for VMs, networks and pools alike.
func TestAutostartActionIsOneWord(t *testing.T) {
	for _, args := range [][]string{
		{"vmctl", "autostart", "on", "test"}, {"netctl", "autostart", "on", "default"}, {"vmctl", "pool", "autostart", "on", "default-pool"},
		{"vmctl", "autostart", "off", "test"}, {"netctl", "autostart", "off", "default"}, {"vmctl", "pool", "autostart", "off", "default-pool"},
	} {
		stdout, stderr, code := run(t, args[0], append(args[1:], "--json")...)
		var results []model.Result
		want := "autostart_" + args[len(args)-2]
		// "none" is the word for nothing to do (vmctl autostart off of a VM that has none).
		if code != 0 || json.Unmarshal([]byte(stdout), &results) != nil || len(results) != 1 || (results[0].Action != want && results[0].Action != "none") {
			t.Errorf("%v --json: exit %d, %q %s; want action %q", args, code, stdout, stderr, want)
		}
	}
}

// The confirmation sentence starts a sentence of its own in every help text: "Before removing,
// On a terminal …" read as a typo.
func TestHelpConfirmSentence(t *testing.T) {
	for _, prog := range []string{"hvctl", "vmctl", "isoctl", "netctl", "auditctl"} {
		walk(t, prog, func(c *cobra.Command) {
			if i := strings.Index(c.Long, cmdutil.ConfirmHelp); i > 0 {
				if before := strings.TrimRight(c.Long[:i], " \n"); !strings.HasSuffix(before, ".") && !strings.HasSuffix(before, ")") {
					t.Errorf("%s: %q comes mid-sentence: …%s", c.CommandPath(), cmdutil.ConfirmHelp, before[max(0, len(before)-40):])
				}
			}
		})
	}
}
