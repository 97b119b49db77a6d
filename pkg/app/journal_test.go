package app_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

// journalRun runs prog in-process with env (on top of the test driver's) and a clock that
// advances 250ms at every reading, and returns stderr and the exit code.
func journalRun(t *testing.T, env map[string]string, uid int, prog string, args ...string) (string, int) {
	t.Helper()
	f, _, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(env))
	f.Prog, f.UID = prog, uid
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { now = now.Add(250 * time.Millisecond); return now }
	code := app.Run(append([]string{prog}, args...), f)
	return errOut.String(), code
}

func readJournal(t *testing.T, path string, filter journal.Filter) []model.JournalRecord {
	t.Helper()
	j, err := journal.Open(context.Background(), path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, err := j.Query(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestJournalRecordsCommandsThatChangeSomething(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"HVCTL_PATHS_STATE": state, "SUDO_USER": "alice"}
	for _, argv := range [][]string{
		{"vmctl", "pause", "test"},
		{"vmctl", "list"},                                         // reads: no record
		{"vmctl", "start", "te*", "nomatch*", "-q"},               // one ok, one unmatched: exit 6
		{"vmctl", "snapshot", "create", "test", "before-upgrade"}, // the VM is the target, not the snapshot
		{"hvctl", "history"},                                      // reads: no record
		{"netctl", "autostart", "on", "default"},
	} {
		journalRun(t, env, 0, argv[0], argv[1:]...)
	}
	recs := readJournal(t, filepath.Join(state, journal.FileName), journal.Filter{})
	var got []string
	for _, r := range recs {
		var targets []string
		for _, tg := range r.Targets {
			targets = append(targets, fmt.Sprintf("%s=%v/%s", tg.Name, tg.OK, tg.Action))
		}
		got = append(got, fmt.Sprintf("%s|%s|%s|%d|%s|%s", r.Command, strings.Join(r.Argv, " "), r.Kind, *r.ExitCode, strings.Join(targets, ","), r.Error))
		// The clock moves 250ms at every reading: the journal's two readings at least.
		if d := *r.DurationSeconds; d < 0.25 || d != float64(int(d*4))/4 {
			t.Errorf("%s: duration %v", r.Command, d)
		}
	}
	want := []string{
		"vmctl pause|vmctl pause test|vm|0|test=true/paused|",
		"vmctl start|vmctl start te* nomatch* -q|vm|6|test=true/none,nomatch*=false/|start failed for 1 of 2 targets",
		"vmctl snapshot create|vmctl snapshot create test before-upgrade|vm|4|test=false/|snapshot create test: test has a writable disk vda that is not qcow2: internal snapshots need qcow2",
		"netctl autostart on|netctl autostart on default|network|0|default=true/" + "autostart_on|",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
	host, _ := os.Hostname()
	r := recs[0]
	if r.Time != "2026-12-03T09:00:00.25Z" || r.Source != "hvctl" || *r.UID != 0 || r.User != "root" || r.SudoUser != "alice" || r.Host != host || r.URI != "test:///default" {
		t.Errorf("who and where: %+v", r)
	}
	// --vm finds the VM's records, the network of another name is not one of them.
	if vm := readJournal(t, filepath.Join(state, journal.FileName), journal.Filter{VM: "test"}); len(vm) != 3 {
		t.Errorf("--vm test: %d records", len(vm))
	}
}

// A password in a URL given as a target stays out of the journal: not in the command line,
// the targets, nor the error that quotes the URL.
func TestJournalRedactsURLTargets(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"HVCTL_PATHS_STATE": state, "HVCTL_PATHS_ISOS": filepath.Join(state, "isos"), "HVCTL_PATHS_IMAGES": filepath.Join(state, "images")}
	if _, code := journalRun(t, env, 0, "isoctl", "pull", "http://ops:s3cret@127.0.0.1:1/x.iso", "--insecure"); code == 0 {
		t.Fatal("a pull from a closed port succeeded")
	}
	recs := readJournal(t, filepath.Join(state, journal.FileName), journal.Filter{})
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	all := strings.Join(r.Argv, " ") + " " + r.Error
	for _, tg := range r.Targets {
		all += " " + tg.Name + " " + tg.Error
	}
	if strings.Contains(all, "s3cret") || len(r.Targets) != 1 || !strings.Contains(r.Targets[0].Name, "ops:REDACTED@127.0.0.1:1/x.iso") {
		t.Errorf("the journal keeps the password or loses the target: %+v", r)
	}
}

// A user who is not root and keeps the default paths.state writes their own journal under
// $XDG_STATE_HOME; `hvctl history` reads that one.
func TestJournalOfAnotherUser(t *testing.T) {
	xdg := t.TempDir()
	env := map[string]string{"HVCTL_PATHS_STATE": "", "XDG_STATE_HOME": xdg}
	if stderr, code := journalRun(t, env, 1000, "vmctl", "pause", "test"); code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if recs := readJournal(t, filepath.Join(xdg, "hvctl", journal.FileName), journal.Filter{}); len(recs) != 1 || *recs[0].UID != 1000 {
		t.Fatalf("records: %+v", recs)
	}
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(env))
	f.Prog, f.UID = "hvctl", 1000
	if code := app.Run([]string{"hvctl", "history", "-o", "name"}, f); code != 0 || out.String() != "1\n" {
		t.Errorf("history: exit %d, %q", code, out.String())
	}
}

// A journal that cannot be written never fails a command: it warns once, stays quiet while the
// reason is the same, and warns again after it worked in between. -q silences it.
func TestJournalUnwritableWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HVCTL_PATHS_STATE": filepath.Join(blocker, "state"), "XDG_RUNTIME_DIR": dir}
	warning := "vmctl: warning: operations journal " + filepath.Join(blocker, "state", journal.FileName) + " not written"
	stderr, code := journalRun(t, env, 0, "vmctl", "pause", "test")
	if code != 0 || strings.Count(stderr, warning) != 1 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("first: exit %d, stderr %q", code, stderr)
	}
	if stderr, code = journalRun(t, env, 0, "vmctl", "pause", "test"); code != 0 || stderr != "" {
		t.Fatalf("second: exit %d, stderr %q (said once)", code, stderr)
	}
	// It works again: the marker goes, and the next failure is said again (but not with -q).
	ok := map[string]string{"HVCTL_PATHS_STATE": filepath.Join(dir, "state"), "XDG_RUNTIME_DIR": dir}
	if stderr, code = journalRun(t, ok, 0, "vmctl", "pause", "test"); code != 0 || stderr != "" {
		t.Fatalf("writable: exit %d, stderr %q", code, stderr)
	}
	if stderr, code = journalRun(t, env, 0, "vmctl", "pause", "test", "-q"); code != 0 || stderr != "" {
		t.Fatalf("-q: exit %d, stderr %q", code, stderr)
	}
	if stderr, code = journalRun(t, env, 0, "vmctl", "pause", "test"); code != 0 || strings.Count(stderr, warning) != 1 {
		t.Fatalf("again: exit %d, stderr %q", code, stderr)
	}
	// A failing command keeps its own exit code and message.
	if stderr, code = journalRun(t, env, 0, "vmctl", "pause", "nope"); code != 3 || strings.Contains(stderr, "warning") {
		t.Fatalf("failing command: exit %d, stderr %q", code, stderr)
	}
}

// Real hvctl processes started at once (the test binary under the name vmctl, as testscript
// runs it) lose no record and leave a sound database.
func TestJournalParallelProcesses(t *testing.T) {
	const procs, rounds = 16, 2
	state := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range rounds {
		var wg sync.WaitGroup
		failures := make([]string, procs)
		for p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				verb := []string{"pause", "resume", "start", "autostart on"}[p%4]
				cmd := exec.Command(exe, append(strings.Fields(verb), "test", "-q")...)
				cmd.Args[0] = "vmctl"
				cmd.Env = append(os.Environ(), "HVCTL_URI=test:///default", "HVCTL_PATHS_STATE="+state,
					"HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_RUNTIME_DIR="+state, "XDG_CONFIG_HOME="+state)
				if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
					failures[p] = fmt.Sprintf("%s: %v: %s", verb, err, out)
				}
			}()
		}
		wg.Wait()
		for _, f := range failures {
			if f != "" {
				t.Error(f)
			}
		}
	}
	path := filepath.Join(state, journal.FileName)
	recs := readJournal(t, path, journal.Filter{})
	if len(recs) != procs*rounds {
		t.Errorf("%d records, want %d", len(recs), procs*rounds)
	}
	for _, r := range recs {
		if r.ExitCode == nil || *r.ExitCode != 0 || len(r.Targets) != 1 || r.Targets[0].Name != "test" {
			t.Errorf("record %d: %+v", r.ID, r)
		}
	}
	j, err := journal.Open(context.Background(), path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Check(context.Background()); err != nil {
		t.Error(err)
	}
}

// journaledKinds are the kinds of targets the journal knows.
var journaledKinds = []string{"vm", "network", "image", "profile", "pool", "volume", "journal"}

// mustJournal lists commands that change something: each must carry cmdutil.AnnJournal. The
// verbs other engineers are adding (disk, nic, pool, volume, save, restore, rename, exec, cp)
// are checked as soon as they exist.
var mustJournal = []string{
	"vmctl start", "vmctl stop", "vmctl kill", "vmctl restart", "vmctl reboot", "vmctl pause", "vmctl resume",
	"vmctl delete", "vmctl autostart on", "vmctl autostart off", "vmctl autostart run", "vmctl create", "vmctl apply",
	"vmctl clone", "vmctl gc", "vmctl snapshot create", "vmctl snapshot revert", "vmctl snapshot delete",
	"vmctl snapshot prune", "vmctl profile import",
	"isoctl pull", "isoctl rm", "isoctl import", "isoctl attach", "isoctl eject",
	"netctl create", "netctl start", "netctl stop", "netctl delete", "netctl autostart", "netctl autostart on",
	"netctl autostart off", "netctl reserve", "netctl unreserve",
	"hvctl history",
	"vmctl disk attach", "vmctl disk detach", "vmctl disk resize", "vmctl nic attach", "vmctl nic detach",
	"vmctl nic link", "vmctl pool create", "vmctl pool delete", "vmctl pool start", "vmctl pool stop",
	"vmctl volume create", "vmctl volume delete", "vmctl volume resize", "vmctl volume upload", "vmctl save",
	"vmctl restore", "vmctl rename", "vmctl exec", "vmctl cp", "vmctl guest fstrim", "vmctl guest password",
}

// Every command that changes something is journaled, with a kind the journal knows; commands
// that only read are not.
func TestJournalAnnotations(t *testing.T) {
	journaled := map[string]string{}
	for _, prog := range []string{"hvctl", "vmctl", "isoctl", "netctl", "auditctl"} {
		walk(t, prog, func(c *cobra.Command) {
			if v, ok := c.Annotations[cmdutil.AnnJournal]; ok {
				journaled[c.CommandPath()] = v
				kind, _, _ := strings.Cut(v, ":")
				if !slices.Contains(journaledKinds, kind) {
					t.Errorf("%s: journal kind %q is none of %v", c.CommandPath(), kind, journaledKinds)
				}
			}
		})
	}
	exists := map[string]bool{}
	walk(t, "vmctl", func(c *cobra.Command) { exists[c.CommandPath()] = true })
	for _, name := range mustJournal {
		if _, ok := journaled[name]; !ok && (exists[name] || !strings.HasPrefix(name, "vmctl ")) {
			t.Errorf("%s changes something but is not journaled (add Annotations: cmdutil.Journaled(KIND, nil))", name)
		}
	}
	for _, reader := range []string{"vmctl list", "vmctl show", "vmctl wait", "vmctl stats", "vmctl xml", "isoctl list", "netctl list", "auditctl run", "hvctl metrics"} {
		if _, ok := journaled[reader]; ok {
			t.Errorf("%s only reads but is journaled", reader)
		}
	}
}
