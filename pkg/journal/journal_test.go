package journal

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// clock is an injected clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) add(d time.Duration)       { c.t = c.t.Add(d) }
func newClock() *clock                     { return &clock{t: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)} }
func ptr[T any](v T) *T                    { return &v }
func open(t *testing.T, c *clock) *Journal { return openOpt(t, c, Options{}) }

func openOpt(t *testing.T, c *clock, opt Options) *Journal {
	t.Helper()
	opt.Now = c.now
	j, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// record begins and finishes one command at the clock's time.
func record(t *testing.T, j *Journal, c *clock, e Entry, o Outcome) int64 {
	t.Helper()
	e.Time = c.now()
	id, err := j.Begin(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(context.Background(), id, o); err != nil {
		t.Fatal(err)
	}
	return id
}

func query(t *testing.T, j *Journal, f Filter) []model.JournalRecord {
	t.Helper()
	recs, err := j.Query(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func ids(recs []model.JournalRecord) []int64 {
	out := []int64{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func TestRecordRoundTrip(t *testing.T) {
	c := newClock()
	j := open(t, c)
	e := Entry{Time: c.now(), UID: ptr(0), User: "root", SudoUser: "alice", Host: "hv1", URI: "qemu:///system",
		Command: "vmctl stop", Argv: []string{"vmctl", "stop", "web-*"}, Kind: "vm", Targets: []string{"web-*"}}
	id, err := j.Begin(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	// Running (or killed): no exit code, no duration, the targets as given.
	got := query(t, j, Filter{})
	if len(got) != 1 || got[0].ExitCode != nil || got[0].DurationSeconds != nil || got[0].Targets[0].Name != "web-*" || got[0].Targets[0].OK {
		t.Fatalf("running record: %+v", got)
	}
	c.add(1500 * time.Millisecond)
	results := []model.JournalTarget{{Name: "web-1", OK: true, Action: "stopped"}, {Name: "web-2", Error: "domain is not running"}}
	if err := j.Finish(context.Background(), id, Outcome{Duration: 1500 * time.Millisecond, ExitCode: 6, Error: "stop failed for 1 of 2 targets", Results: results}); err != nil {
		t.Fatal(err)
	}
	want := model.JournalRecord{ID: id, Time: "2026-12-03T10:00:00Z", Source: "hvctl", DurationSeconds: ptr(1.5), UID: ptr(0),
		User: "root", SudoUser: "alice", Host: "hv1", URI: "qemu:///system", Command: "vmctl stop",
		Argv: []string{"vmctl", "stop", "web-*"}, Kind: "vm", Targets: results, ExitCode: ptr(6), Error: "stop failed for 1 of 2 targets"}
	if got := query(t, j, Filter{}); !reflect.DeepEqual(got, []model.JournalRecord{want}) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// Without per-target results, the targets of Begin take the command's outcome.
func TestFinishWithoutResults(t *testing.T) {
	c := newClock()
	j := open(t, c)
	record(t, j, c, Entry{Command: "vmctl snapshot create", Kind: "vm", Targets: []string{"db01"}}, Outcome{ExitCode: 4, Error: "snapshot exists"})
	record(t, j, c, Entry{Command: "vmctl snapshot create", Kind: "vm", Targets: []string{"db02"}}, Outcome{})
	got := query(t, j, Filter{})
	if got[0].Targets[0] != (model.JournalTarget{Name: "db01", Error: "snapshot exists"}) || got[1].Targets[0] != (model.JournalTarget{Name: "db02", OK: true}) {
		t.Errorf("targets: %+v / %+v", got[0].Targets, got[1].Targets)
	}
}

func TestQueryFilters(t *testing.T) {
	c := newClock()
	j := open(t, c)
	a := record(t, j, c, Entry{User: "root", SudoUser: "alice", Command: "vmctl stop", Kind: "vm", Targets: []string{"db01"}}, Outcome{})
	c.add(time.Hour)
	b := record(t, j, c, Entry{User: "bob", Command: "vmctl start", Kind: "vm", Targets: []string{"web-1", "web-2"}}, Outcome{ExitCode: 6})
	c.add(time.Hour)
	n := record(t, j, c, Entry{User: "root", Command: "netctl stop", Kind: "network", Targets: []string{"db01"}}, Outcome{ExitCode: 3})
	c.add(time.Hour)
	k := record(t, j, c, Entry{User: "root", Command: "vmctl kill", Kind: "vm", Targets: []string{"db01"}}, Outcome{})
	for _, tc := range []struct {
		name string
		f    Filter
		want []int64
	}{
		{"all, oldest first", Filter{}, []int64{a, b, n, k}},
		{"vm name: not the network of the same name", Filter{VM: "db01"}, []int64{a, k}},
		{"vm pattern", Filter{VM: "web-*"}, []int64{b}},
		{"vm bracket pattern", Filter{VM: "web-[2]"}, []int64{b}},
		{"vm none", Filter{VM: "nope"}, []int64{}},
		{"user or sudo user", Filter{User: "alice"}, []int64{a}},
		{"user", Filter{User: "root"}, []int64{a, n, k}},
		{"failed", Filter{Failed: true}, []int64{b, n}},
		{"since", Filter{Since: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)}, []int64{b, n, k}},
		{"limit keeps the newest", Filter{Limit: 2}, []int64{n, k}},
		{"combined", Filter{User: "root", Failed: true, Limit: 5}, []int64{n}},
	} {
		if got := ids(query(t, j, tc.f)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPruneAndRetention(t *testing.T) {
	c := newClock()
	j := openOpt(t, c, Options{Retention: 48 * time.Hour})
	old := record(t, j, c, Entry{Command: "vmctl start", Kind: "vm", Targets: []string{"a"}}, Outcome{})
	c.add(24 * time.Hour)
	mid := record(t, j, c, Entry{Command: "vmctl start", Kind: "vm", Targets: []string{"b"}}, Outcome{})
	// Auto-retention is occasional: old is 49h old, past the 48h but within the slack
	// (4.8h), so this Begin leaves it, for history --prune to find and remove at once.
	c.add(25 * time.Hour)
	late := record(t, j, c, Entry{Command: "vmctl start", Kind: "vm", Targets: []string{"l"}}, Outcome{})
	if got := ids(query(t, j, Filter{})); !reflect.DeepEqual(got, []int64{old, mid, late}) {
		t.Fatalf("within the slack: got %v, want [%d %d %d]", got, old, mid, late)
	}
	if n, err := j.CountOlder(context.Background(), c.now().Add(-48*time.Hour)); err != nil || n != 1 {
		t.Fatalf("CountOlder(retention) = %d, %v; want the 1 record history --prune would confirm", n, err)
	}
	c.add(4 * time.Hour) // old is 53h old, past retention and slack: the next Begin prunes to 48h
	recent := record(t, j, c, Entry{Command: "vmctl start", Kind: "vm", Targets: []string{"c"}}, Outcome{})
	if got := ids(query(t, j, Filter{})); !reflect.DeepEqual(got, []int64{mid, late, recent}) {
		t.Fatalf("retention: got %v, want [%d %d %d] (%d pruned)", got, mid, late, recent, old)
	}
	n, err := j.CountOlder(context.Background(), c.now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("CountOlder = %d, %v", n, err)
	}
	if n, err := j.Prune(context.Background(), c.now().Add(-time.Hour)); err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	got := query(t, j, Filter{})
	if !reflect.DeepEqual(ids(got), []int64{recent}) || got[0].Targets[0].Name != "c" {
		t.Errorf("after prune: %+v", got)
	}
	// The pruned records' targets went with them (ON DELETE CASCADE).
	var orphans int
	if err := j.db.QueryRow(`SELECT count(*) FROM targets WHERE record_id NOT IN (SELECT id FROM records)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d orphaned targets (%v)", orphans, err)
	}
}

func TestReadOnlyOpenOfMissingJournal(t *testing.T) {
	_, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName), Options{ReadOnly: true})
	if err == nil {
		t.Fatal("a read-only open created the journal")
	}
}

func TestDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	load := func(getenv func(string) string) *config.Loaded {
		l, err := config.Load(config.Options{Getenv: getenv})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/home/alice"}
	if got := Dir(load(env(base)), 0, env(base)); got != "/var/lib/hvctl" {
		t.Errorf("root: %s", got)
	}
	if got := Dir(load(env(base)), 1000, env(base)); got != "/home/alice/.local/state/hvctl" {
		t.Errorf("user without XDG_STATE_HOME: %s", got)
	}
	xdg := map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/home/alice", "XDG_STATE_HOME": "/xdg/state"}
	if got := Dir(load(env(xdg)), 1000, env(xdg)); got != "/xdg/state/hvctl" {
		t.Errorf("user with XDG_STATE_HOME: %s", got)
	}
	set := map[string]string{"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": "/home/alice", "HVCTL_PATHS_STATE": "/srv/hvctl"}
	if got := Dir(load(env(set)), 1000, env(set)); got != "/srv/hvctl" {
		t.Errorf("user with paths.state set: %s", got)
	}
}
