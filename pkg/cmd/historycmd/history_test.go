package historycmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

// run puts cmd under a root with the global flags and runs argv.
func run(f *cmdutil.Factory, cmd *cobra.Command, argv ...string) error {
	root := &cobra.Command{Use: "hvctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(argv)
	return root.ExecuteContext(context.Background())
}

func TestNewCmdHistory(t *testing.T) {
	show := func(o *Options) string {
		return fmt.Sprintf("vm=%s since=%s user=%s failed=%v limit=%d prune=%v older=%s yes=%v", o.VM, o.Since, o.User, o.Failed, o.Limit, o.Prune, o.OlderThan, o.Yes)
	}
	for _, tc := range []struct {
		argv []string
		want string
		err  errs.Kind
	}{
		{argv: []string{"history"}, want: "vm= since= user= failed=false limit=100 prune=false older= yes=false"},
		{argv: []string{"history", "--vm", "web-*", "--since", "7d", "--user", "alice", "--failed", "--limit", "0"}, want: "vm=web-* since=7d user=alice failed=true limit=0 prune=false older= yes=false"},
		{argv: []string{"history", "--since", "2026-12-01T08:00:00Z"}, want: "vm= since=2026-12-01T08:00:00Z user= failed=false limit=100 prune=false older= yes=false"},
		{argv: []string{"history", "--since", "2026-12-01"}, want: "vm= since=2026-12-01 user= failed=false limit=100 prune=false older= yes=false"},
		{argv: []string{"history", "--prune", "--older-than", "90d", "-y"}, want: "vm= since= user= failed=false limit=100 prune=true older=90d yes=true"},
		{argv: []string{"history", "--prune"}, want: "vm= since= user= failed=false limit=100 prune=true older= yes=false"},
		{argv: []string{"history", "--since", "last tuesday"}, err: errs.Usage},
		{argv: []string{"history", "--limit", "-1"}, err: errs.Usage},
		{argv: []string{"history", "--older-than", "90d"}, err: errs.Usage},
		{argv: []string{"history", "--prune", "--older-than", "ninety"}, err: errs.Usage},
		{argv: []string{"history", "--prune", "--older-than", "90d", "--vm", "x"}, err: errs.Usage},
		{argv: []string{"history", "extra"}, err: errs.Usage},
	} {
		var got *Options
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		err := run(f, NewCmdHistory(f, func(_ context.Context, o *Options) error { got = o; return nil }), tc.argv...)
		switch {
		case tc.err != 0:
			if errs.KindOf(err) != tc.err || got != nil {
				t.Errorf("%v: %v (ran %v), want a %v error", tc.argv, err, got != nil, tc.err)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.argv, err)
		case show(got) != tc.want:
			t.Errorf("%v:\n got %s\nwant %s", tc.argv, show(got), tc.want)
		}
	}
}

// seed writes records into the journal of state, one per hour from 2026-12-01T00:00Z.
func seed(t *testing.T, state string, entries ...journal.Entry) {
	t.Helper()
	j, err := journal.Open(context.Background(), filepath.Join(state, journal.FileName), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range entries {
		e.Time = start.Add(time.Duration(i) * time.Hour)
		id, err := j.Begin(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		code := 0
		if strings.Contains(e.Command, "fail") {
			code = 3
		}
		if e.Command == "killed" {
			continue
		}
		if err := j.Finish(context.Background(), id, journal.Outcome{Duration: 1500 * time.Millisecond, ExitCode: code}); err != nil {
			t.Fatal(err)
		}
	}
}

func newFactory(t *testing.T, state string) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	f, out, errOut := cmdutiltest.NewFactory(t, map[string]string{"HVCTL_PATHS_STATE": state})
	f.Now = func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	return f, out, errOut
}

func TestHistory(t *testing.T) {
	state := t.TempDir()
	uid := 0
	seed(t, state,
		journal.Entry{Command: "vmctl start", Argv: []string{"vmctl", "start", "web 1"}, Kind: "vm", Targets: []string{"web 1"}, User: "root", SudoUser: "alice", UID: &uid},
		journal.Entry{Command: "vmctl stop fail", Argv: []string{"vmctl", "stop", "db01"}, Kind: "vm", Targets: []string{"db01"}, User: "bob"},
		journal.Entry{Command: "killed", Argv: []string{"vmctl", "snapshot", "create", "db01"}, Kind: "vm", Targets: []string{"db01"}, User: "bob"},
	)
	f, out, _ := newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history"); err != nil {
		t.Fatal(err)
	}
	want := `ID   TIME                   USER                COMMAND                      RESULT       DURATION
1    2026-12-01T00:00:00Z   alice (sudo root)   vmctl start 'web 1'          ok           1.5s
2    2026-12-01T01:00:00Z   bob                 vmctl stop db01              exit 3       1.5s
3    2026-12-01T02:00:00Z   bob                 vmctl snapshot create db01   unfinished   -
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}

	for _, tc := range []struct {
		argv []string
		ids  []int64
	}{
		{[]string{"--vm", "db*"}, []int64{2, 3}},
		{[]string{"--user", "alice"}, []int64{1}},
		{[]string{"--failed"}, []int64{2}},
		{[]string{"--since", "11h"}, []int64{2, 3}}, // now is 12:00
		{[]string{"--since", "2026-12-01T02:00:00Z"}, []int64{3}},
		{[]string{"--limit", "1"}, []int64{3}},
	} {
		f, out, _ := newFactory(t, state)
		if err := run(f, NewCmdHistory(f, nil), append([]string{"history", "--json"}, tc.argv...)...); err != nil {
			t.Fatalf("%v: %v", tc.argv, err)
		}
		var recs []model.JournalRecord
		if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
			t.Fatalf("%v: %v: %s", tc.argv, err, out)
		}
		var got []int64
		for _, r := range recs {
			got = append(got, r.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.ids) {
			t.Errorf("%v: got %v, want %v", tc.argv, got, tc.ids)
		}
	}
	// The JSON of a killed command: no exit code, no duration.
	f, out, _ = newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--jq", ".[2] | [.exit_code, .duration_seconds, .targets[0].name]"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(strings.Fields(out.String()), "") != `[null,null,"db01"]` {
		t.Errorf("killed record: %s", out)
	}
}

func TestHistoryWithoutJournal(t *testing.T) {
	f, out, _ := newFactory(t, filepath.Join(t.TempDir(), "none"))
	if err := run(f, NewCmdHistory(f, nil), "history", "--json"); err != nil || out.String() != "[]\n" {
		t.Errorf("no journal: %v, %q", err, out)
	}
}

// An empty journal.db (a first command stopped between creating the file and writing to it)
// is a journal with nothing in it yet: it said "no such table: records" and exit 1.
func TestHistoryEmptyJournalFile(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, journal.FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, _ := newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--json"); err != nil || out.String() != "[]\n" {
		t.Errorf("empty journal file: %v, %q", err, out)
	}
}

func TestHistoryPrune(t *testing.T) {
	state := t.TempDir()
	seed(t, state, journal.Entry{Command: "a"}, journal.Entry{Command: "b"}, journal.Entry{Command: "c"})
	// Without a terminal and without --yes: refused, nothing removed.
	f, _, _ := newFactory(t, state)
	err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "10h30m")
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("without --yes: %v", err)
	}
	f, out, _ := newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "10h30m", "--yes", "--json"); err != nil {
		t.Fatal(err)
	}
	var res model.JournalPrune
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Pruned != 2 || res.Before != "2026-12-01T01:30:00Z" {
		t.Fatalf("prune: %+v %v (%s)", res, err, out)
	}
	f, out, _ = newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "-o", "name"); err != nil || out.String() != "3\n" {
		t.Errorf("after prune: %v %q", err, out)
	}
	// The default age is journal.retention (365d): nothing that young goes.
	f, out, _ = newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--yes", "--json"); err != nil || !strings.Contains(out.String(), `"pruned":0`) {
		t.Errorf("default retention: %v %s", err, out)
	}
	f, _, _ = newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "0", "--yes"); errs.KindOf(err) != errs.Usage {
		t.Errorf("--older-than 0: %v", err)
	}
}
