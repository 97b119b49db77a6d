package stats

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestHistoryStoreRoundTrip: what RecordHistory writes, LoadHistory reads back unchanged —
// null values, a counter with its top bit set, another host's rows kept apart — and the file
// is private.
func TestHistoryStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := HistoryPath(filepath.Join(t.TempDir(), "state"))
	db, err := OpenHistory(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := HistoryRow{Time: t0, UUID: "u-web", Name: "web", State: "running", RunID: runID(12), VCPUs: 2, HostCPUs: 4,
		CPUTimeNanoseconds: u64(1<<63 + 5), MemoryBytes: 1 << 30, MemoryRSSBytes: u64(1 << 29), MemoryAvailableBytes: u64(900), MemoryUsableBytes: u64(300),
		DiskDevices: "vda,sda", NICDevices: "vnet0", DiskReadBytes: 1, DiskWriteBytes: 2, DiskReadRequests: 3, DiskWriteRequests: 4,
		NetRxBytes: 5, NetTxBytes: 6, NetRxPackets: 7, NetTxPackets: 1<<64 - 1}
	b := HistoryRow{Time: t0.Add(time.Minute), UUID: "u-db", Name: "db", State: "paused", VCPUs: 1, HostCPUs: 4}
	if _, err := RecordHistory(ctx, db, "qemu:///system", t0, []HistoryRow{a}, Retention{}); err != nil {
		t.Fatal(err)
	}
	out, err := RecordHistory(ctx, db, "qemu:///system", b.Time, []HistoryRow{b}, Retention{})
	if err != nil || out.Inserted != 1 || out.Rows != 2 || out.Pruned != 0 {
		t.Fatalf("second record: %+v, %v", out, err)
	}
	if _, err := RecordHistory(ctx, db, "qemu+ssh://other/system", b.Time, []HistoryRow{a}, Retention{}); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHistory(ctx, db, "qemu:///system", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Time = got[i].Time.UTC()
	}
	if want := []HistoryRow{a, b}; !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n got %+v\nwant %+v", got, want)
	}
	if got, _ := LoadHistory(ctx, db, "qemu:///system", t0.Add(time.Second), t0.Add(time.Hour)); len(got) != 1 || got[0].Name != "db" {
		t.Errorf("since after the first record: %+v", got)
	}
	if got, _ := LoadHistory(ctx, db, "test:///default", t0, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("a host never recorded: %+v", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want 0600", path, fi.Mode(), err)
	}
}

// TestHistoryRetention prunes by age at each record, then by row count, oldest first.
func TestHistoryRetention(t *testing.T) {
	ctx := context.Background()
	db, err := OpenHistory(ctx, HistoryPath(t.TempDir()), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	row := func(at time.Time, name string) HistoryRow {
		return HistoryRow{Time: at, UUID: "u-" + name, Name: name, State: "running"}
	}
	keep := Retention{MaxAge: 24 * time.Hour}
	for d := range 5 { // one record a day, two VMs each
		at := t0.Add(time.Duration(d) * 24 * time.Hour)
		out, err := RecordHistory(ctx, db, "test:///default", at, []HistoryRow{row(at, "a"), row(at, "b")}, keep)
		if err != nil {
			t.Fatal(err)
		}
		// Today's and yesterday's records are within 24 h; the one before goes.
		wantPruned := int64(0)
		if d >= 2 {
			wantPruned = 2
		}
		if out.Pruned != wantPruned || out.Rows != int64(2*min(d+1, 2)) {
			t.Errorf("day %d: %+v; want %d pruned, %d kept", d, out, wantPruned, 2*min(d+1, 2))
		}
	}
	last := t0.Add(5 * 24 * time.Hour)
	out, err := RecordHistory(ctx, db, "test:///default", last, []HistoryRow{row(last, "a"), row(last, "b"), row(last, "c")}, Retention{MaxAge: 30 * 24 * time.Hour, MaxRows: 4})
	if err != nil || out.Rows != 4 || out.Pruned != 3 {
		t.Fatalf("row cap: %+v, %v; want 4 kept, 3 pruned", out, err)
	}
	rows, err := LoadHistory(ctx, db, "test:///default", t0, last)
	if err != nil {
		t.Fatal(err)
	}
	names := ""
	for _, r := range rows {
		names += r.Name
	}
	if names != "babc" {
		t.Errorf("kept %q; want the newest four (b of day 4, then a, b, c)", names)
	}
}

// TestSummariseStoredHistoryMatchesInMemory: the streaming summary of stored rows (which
// reuses one row while scanning) equals the in-memory one, and LoadHistory's rows are each
// their own — a kept pointer into the reused row would make every rate zero.
func TestSummariseStoredHistoryMatchesInMemory(t *testing.T) {
	ctx := context.Background()
	db, err := OpenHistory(ctx, HistoryPath(t.TempDir()), false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cpu, disk, net, mem []float64
	for i := 1; i <= 20; i++ {
		cpu, disk, net = append(cpu, float64(5*i)), append(disk, float64(i<<20)), append(net, 1000)
	}
	for k := 0; k <= 20; k++ {
		mem = append(mem, float64(k+1))
	}
	rows := series(60, cpu, mem, disk, net)
	for i := range rows {
		avail, usable := uint64(4<<30), uint64(i<<20)
		rows[i].MemoryAvailableBytes, rows[i].MemoryUsableBytes = &avail, &usable
	}
	rows[12].RunID = runID(99) // a restart in the middle
	for _, r := range rows {
		if _, err := RecordHistory(ctx, db, "qemu:///system", r.Time, []HistoryRow{r}, Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := LoadHistory(ctx, db, "qemu:///system", t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range loaded {
		loaded[i].Time = loaded[i].Time.UTC()
	}
	if !reflect.DeepEqual(loaded, rows) {
		t.Errorf("LoadHistory does not give back the rows recorded")
	}
	stored, err := SummariseStoredHistory(ctx, db, "qemu:///system", t0, t0.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := SummariseHistory(rows)
	if !reflect.DeepEqual(stored, want) {
		t.Errorf("stored summary\n %+v\nin memory\n %+v", stored, want)
	}
	if h := stored[0]; h.CounterResets != 2 || h.CPUPercentOfVCPUs == nil || h.CPUPercentOfVCPUs.Min != 5 || h.MemoryGuestUsedBytes == nil {
		t.Errorf("summary %+v", h)
	}
	if none, err := SummariseStoredHistory(ctx, db, "test:///never", t0, t0.Add(time.Hour), nil); err != nil || len(none) != 0 {
		t.Errorf("a host never recorded: %v, %v", none, err)
	}
	// A name filter reads only the matching VMs; none matching reads nothing.
	other := rows[0]
	other.UUID, other.Name = "u-db", "db"
	if _, err := RecordHistory(ctx, db, "qemu:///system", other.Time, []HistoryRow{other}, Retention{}); err != nil {
		t.Fatal(err)
	}
	for pattern, want := range map[string]int{"web": 1, "db": 1, "nosuch": 0} {
		got, err := SummariseStoredHistory(ctx, db, "qemu:///system", t0, t0.Add(time.Hour), func(n string) bool { return n == pattern })
		if err != nil || len(got) != want || (want == 1 && got[0].Name != pattern) {
			t.Errorf("match %q: %+v, %v", pattern, got, err)
		}
	}
	if all, _ := SummariseStoredHistory(ctx, db, "qemu:///system", t0, t0.Add(time.Hour), nil); len(all) != 2 || !reflect.DeepEqual(all[1], want[0]) {
		t.Errorf("web's summary changed with db recorded beside it: %+v", all)
	}
}
