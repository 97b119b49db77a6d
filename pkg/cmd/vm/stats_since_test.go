package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/spf13/cobra"
)

var sinceNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// recordHistory writes a known history for test:///default into state: VM web (2 vCPUs,
// 4 host CPUs) recorded every minute from 11:00 for 20 intervals at 5, 10 … 100 % of its
// vCPUs, 1 MiB/s read, memory 1 … 21 GiB; VM db restarted in the middle (its counter after
// the restart is above the one before); and an older record outside the window.
func recordHistory(t *testing.T, state string) {
	t.Helper()
	ctx := context.Background()
	db, err := stats.OpenHistory(ctx, stats.HistoryPath(state), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := sinceNow.Add(-time.Hour)
	var cpu, read uint64
	for k := 0; k <= 20; k++ {
		at := start.Add(time.Duration(k) * time.Minute)
		if k > 0 {
			cpu += uint64(5*k) * 2 * 60 * 1e9 / 100
			read += 60 << 20
		}
		run1, run2 := 1, 2
		dbRun, dbCPU := &run1, uint64(k)*60e9/2 // 50 % of its 1 vCPU
		if k >= 10 {
			dbRun, dbCPU = &run2, 1e15+uint64(k-10)*60e9/2
		}
		rows := []stats.HistoryRow{
			{Time: at, UUID: "u-web", Name: "web", State: "running", RunID: &run1, VCPUs: 2, HostCPUs: 4, CPUTimeNanoseconds: &cpu,
				MemoryBytes: uint64(k+1) << 30, DiskDevices: "vda", DiskReadBytes: read},
			{Time: at, UUID: "u-db", Name: "db", State: "running", RunID: dbRun, VCPUs: 1, HostCPUs: 4, CPUTimeNanoseconds: &dbCPU, MemoryBytes: 1 << 30},
		}
		if _, err := stats.RecordHistory(ctx, db, "test:///default", at, rows, stats.Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	old := sinceNow.Add(-3 * time.Hour)
	big := uint64(1 << 62)
	if _, err := stats.RecordHistory(ctx, db, "test:///default", old, []stats.HistoryRow{{Time: old, UUID: "u-web", Name: "web", State: "running", VCPUs: 2, HostCPUs: 4, CPUTimeNanoseconds: &big}}, stats.Retention{}); err != nil {
		t.Fatal(err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func runSince(t *testing.T, state string, args ...string) (string, string, error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_STATE": state}))
	f.Now = func() time.Time { return sinceNow }
	f.Prog = "vmctl"
	err := parse(t, NewCmdStats(f, nil), f, args...)
	return out.String(), errOut.String(), err
}

func TestStatsSinceSummarisesRecordedHistory(t *testing.T) {
	state := t.TempDir()
	recordHistory(t, state)
	out, stderr, err := runSince(t, state, "--since", "90m", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep model.HistoryReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !rep.Since.Equal(sinceNow.Add(-90*time.Minute)) || rep.URI != "test:///default" || rep.Database != filepath.Join(state, "metrics.db") || len(rep.VMs) != 2 || stderr != "" {
		t.Fatalf("report %+v, stderr %q", rep, stderr)
	}
	db, web := rep.VMs[0], rep.VMs[1]
	if web.Name != "web" || web.Samples != 21 || web.CounterResets != 0 || web.CoveredSeconds != 1200 {
		t.Errorf("web: %+v", web)
	}
	want := func(what string, s *model.Summary, min, avg, max, p95 float64) {
		t.Helper()
		if s == nil || !near(s.Min, min) || !near(s.Avg, avg) || !near(s.Max, max) || !near(s.P95, p95) {
			t.Errorf("%s: %+v; want %v/%v/%v/%v", what, s, min, avg, max, p95)
		}
	}
	want("web cpu", web.CPUPercentOfVCPUs, 5, 52.5, 100, 95)
	want("web cpu of host", web.CPUPercentOfHost, 2.5, 26.25, 50, 47.5)
	want("web memory", web.MemoryBytes, 1<<30, 11<<30, 21<<30, 20<<30)
	want("web disk read", web.DiskReadBytesPerSecond, 1<<20, 1<<20, 1<<20, 1<<20)
	// db restarted between records 9 and 10: that interval is left out, the rest are 50 %.
	if db.Name != "db" || db.CounterResets != 1 {
		t.Errorf("db: %+v", db)
	}
	want("db cpu", db.CPUPercentOfVCPUs, 50, 50, 50, 50)
	if db.DiskReadBytesPerSecond != nil || db.NetRxBytesPerSecond != nil {
		t.Errorf("db has no devices, yet rates: %+v %+v", db.DiskReadBytesPerSecond, db.NetRxBytesPerSecond)
	}
	for _, key := range []string{`"cpu_percent_of_vcpus":{"min":`, `"memory_bytes":{`, `"disk_read_bytes_per_second":{`, `"net_rx_bytes_per_second":null`, `"p95":`, `"counter_resets":1`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	// The table: one line per VM and quantity; a pattern picks the VMs.
	table, _, err := runSince(t, state, "--since", "90m", "web")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 9 || strings.Join(strings.Fields(lines[0]), " ") != "NAME QUANTITY MIN AVG MAX P95 COUNT" {
		t.Fatalf("table:\n%s", table)
	}
	for _, want := range []string{"web cpu%vcpus 5.0 52.5 100.0 95.0 20", "web memory 1GiB 11GiB 21GiB 20GiB 21", "web disk-read/s 1MiB/s 1MiB/s 1MiB/s 1MiB/s 20", "web net-rx/s - - - - 0"} {
		found := false
		for _, l := range lines {
			found = found || strings.Join(strings.Fields(l), " ") == want
		}
		if !found {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if wide, _, _ := runSince(t, state, "--since", "90m", "-o", "wide", "db"); len(strings.Split(strings.TrimSpace(wide), "\n")) != 14 || !strings.Contains(wide, "cpu%host") {
		t.Errorf("wide table:\n%s", wide)
	}
	if names, _, _ := runSince(t, state, "--since", "90m", "-o", "name"); names != "db\nweb\n" {
		t.Errorf("-o name: %q", names)
	}
	// Back to the older record: its single sample adds to web's levels only, and the interval
	// to the next record (counter below the old one's) is a reset, never a negative rate.
	out, _, err = runSince(t, state, "--since", "4h", "--json", "web")
	if err != nil {
		t.Fatal(err)
	}
	rep = model.HistoryReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.VMs) != 1 || rep.VMs[0].Samples != 22 || rep.VMs[0].CounterResets != 1 || rep.VMs[0].CPUPercentOfVCPUs.Min < 0 {
		t.Errorf("--since 4h: %+v, %v", rep.VMs, err)
	}
}

// TestStatsSinceWithoutSamples: no database, or nothing in the window, is an empty list, a
// success, and a hint on stderr.
func TestStatsSinceWithoutSamples(t *testing.T) {
	state := filepath.Join(t.TempDir(), "never-recorded")
	out, stderr, err := runSince(t, state, "--since", "1h", "--json")
	if err != nil || !strings.Contains(out, `"vms":[]`) {
		t.Errorf("no database: %q, %v; want an empty list", out, err)
	}
	if !strings.HasPrefix(stderr, "vmctl: no samples recorded on test:///default since 2026-12-03T11:00:00Z in "+filepath.Join(state, "metrics.db")+"\nhint: 'hvctl metrics record'") {
		t.Errorf("stderr %q", stderr)
	}
	// An empty metrics.db (a first record stopped before its first transaction, or touch) is
	// the same: it said "no such table: hosts" and exit 1.
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "metrics.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runSince(t, empty, "--since", "1h", "--json")
	if err != nil || !strings.Contains(out, `"vms":[]`) || !strings.Contains(stderr, "no samples recorded") {
		t.Errorf("empty database file: %q, %q, %v; want an empty list", out, stderr, err)
	}
	recorded := t.TempDir()
	recordHistory(t, recorded)
	out, stderr, err = runSince(t, recorded, "--since", "1h", "nosuch")
	if err != nil || strings.Join(strings.Fields(out), " ") != "NAME QUANTITY MIN AVG MAX P95 COUNT" || !strings.Contains(stderr, "no samples of nosuch recorded") {
		t.Errorf("a name without samples: %q, %q, %v", out, stderr, err)
	}
}

// TestStatsSinceCompletion offers spans back from now, never file names.
func TestStatsSinceCompletion(t *testing.T) {
	f, out, _ := cmdutiltest.NewFactory(t, nil)
	root := &cobra.Command{Use: "vmctl"}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(NewCmdStats(f, nil))
	root.SetOut(out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"__complete", "stats", "--since", ""})
	if err := root.Execute(); err != nil || !strings.HasPrefix(out.String(), "1h\tthe last hour\n24h\t") || !strings.HasSuffix(out.String(), "\n:4\n") {
		t.Errorf("--since completion: %q, %v", out, err)
	}
}

// TestStatsSinceBadValueMessage: a --since it cannot read is one line that names the flag as
// hvctl history does ("--since: invalid duration …"); it read "--since invalid duration …".
func TestStatsSinceBadValueMessage(t *testing.T) {
	for value, want := range map[string]string{
		"-1h":        `--since: invalid duration "-1h": want a positive span such as 90m, 12h, 30d or 2w`,
		"1x":         `--since: invalid time "1x": want a duration such as 1h or 7d, or a time such as 2006-01-02, "2006-01-02 15:04" or RFC 3339`,
		"2999-01-01": `--since: "2999-01-01" is in the future`,
	} {
		_, _, err := runSince(t, t.TempDir(), "--since", value)
		if errs.KindOf(err) != errs.Usage || err.Error() != want {
			t.Errorf("--since %s: %v (%v), want a usage error %q", value, err, errs.KindOf(err), want)
		}
	}
}
