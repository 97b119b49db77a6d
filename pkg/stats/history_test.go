package stats

import (
	"math"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

func runID(v int) *int { return &v }

// series builds records of one VM (2 vCPUs on a 4-CPU host) from per-interval CPU shares of
// its vCPUs (percent), per-record memory, and per-interval disk/net rates, dt seconds apart.
func series(dt float64, cpuPct []float64, memGiB []float64, diskRead, netRx []float64) []HistoryRow {
	const vcpus, host = 2, 4
	rows := []HistoryRow{}
	var cpu, rb, rx float64
	for i := range memGiB {
		if i > 0 {
			cpu += cpuPct[i-1] / 100 * vcpus * dt * 1e9
			rb += diskRead[i-1] * dt
			rx += netRx[i-1] * dt
		}
		rows = append(rows, HistoryRow{Time: t0.Add(time.Duration(float64(i) * dt * float64(time.Second))), UUID: "u-web", Name: "web", State: "running",
			RunID: runID(3), VCPUs: vcpus, HostCPUs: host, CPUTimeNanoseconds: u64(uint64(math.Round(cpu))),
			MemoryBytes: uint64(memGiB[i] * (1 << 30)), MemoryRSSBytes: u64(uint64(memGiB[i] * (1 << 29))),
			DiskDevices: "vda", NICDevices: "vnet0", DiskReadBytes: uint64(math.Round(rb)), DiskReadRequests: uint64(i), NetRxBytes: uint64(math.Round(rx))})
	}
	return rows
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func checkSummary(t *testing.T, what string, got *model.Summary, min, avg, max, p95 float64, n int) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: null, want min %v avg %v max %v p95 %v", what, min, avg, max, p95)
		return
	}
	if !near(got.Min, min) || !near(got.Avg, avg) || !near(got.Max, max) || !near(got.P95, p95) || got.Observations != n {
		t.Errorf("%s: %+v; want min %v avg %v max %v p95 %v over %d", what, *got, min, avg, max, p95, n)
	}
}

// TestSummariseKnownValues: 21 records a minute apart, the CPU share of interval i being 5i %
// (5 … 100), memory k+1 GiB at record k: every statistic is known in advance.
func TestSummariseKnownValues(t *testing.T) {
	var cpu, disk, net []float64
	var mem []float64
	for i := 1; i <= 20; i++ {
		cpu = append(cpu, float64(5*i))
		disk = append(disk, 1<<20)
		net = append(net, float64(1000*i))
	}
	for k := 0; k <= 20; k++ {
		mem = append(mem, float64(k+1))
	}
	// Shuffle the input: the summary orders it itself.
	rows := series(60, cpu, mem, disk, net)
	rows[3], rows[17] = rows[17], rows[3]
	got := SummariseHistory(rows)
	if len(got) != 1 {
		t.Fatalf("%d VMs, want 1", len(got))
	}
	h := got[0]
	if h.Name != "web" || h.Samples != 21 || h.CounterResets != 0 || h.CoveredSeconds != 1200 || !h.FirstSample.Equal(t0) || !h.LastSample.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("header: %+v", h)
	}
	// Nearest rank: p95 of 20 values is the 19th, of 21 the 20th.
	checkSummary(t, "cpu % of vCPUs", h.CPUPercentOfVCPUs, 5, 52.5, 100, 95, 20)
	checkSummary(t, "cpu % of host", h.CPUPercentOfHost, 2.5, 26.25, 50, 47.5, 20)
	checkSummary(t, "memory", h.MemoryBytes, 1<<30, 11<<30, 21<<30, 20<<30, 21)
	checkSummary(t, "rss", h.MemoryRSSBytes, 1<<29, 11<<29, 21<<29, 20<<29, 21)
	checkSummary(t, "disk read", h.DiskReadBytesPerSecond, 1<<20, 1<<20, 1<<20, 1<<20, 20)
	checkSummary(t, "disk read requests", h.DiskReadRequestsPerSecond, 1.0/60, 1.0/60, 1.0/60, 1.0/60, 20)
	checkSummary(t, "disk write", h.DiskWriteBytesPerSecond, 0, 0, 0, 0, 20)
	checkSummary(t, "net rx", h.NetRxBytesPerSecond, 1000, 10500, 20000, 19000, 20)
	if h.MemoryGuestUsedBytes != nil {
		t.Errorf("guest memory without balloon stats: %+v", h.MemoryGuestUsedBytes)
	}
}

// TestSummariseWeightsRatesByTime: 10 s at 100 % then 30 s idle averages 25 %, not 50 %; the
// percentile and extremes stay per interval.
func TestSummariseWeightsRatesByTime(t *testing.T) {
	rows := series(10, []float64{100}, []float64{1, 1}, []float64{0}, []float64{0})
	idle := rows[1]
	idle.Time = idle.Time.Add(30 * time.Second)
	rows = append(rows, idle)
	h := SummariseHistory(rows)[0]
	checkSummary(t, "cpu", h.CPUPercentOfVCPUs, 0, 25, 100, 100, 2)
	checkSummary(t, "memory", h.MemoryBytes, 1<<30, 1<<30, 1<<30, 1<<30, 3)
}

// TestSummariseResets: a restart between records (new run ID, counters that happen to be
// higher than before), a counter that went down without a run ID, and a disk added are left
// out — no negative and no huge rate — and counted.
func TestSummariseResets(t *testing.T) {
	rows := series(60, []float64{50, 50, 50, 50, 50}, []float64{1, 1, 1, 1, 1, 1}, []float64{100, 100, 100, 100, 100}, []float64{10, 10, 10, 10, 10})
	// Record 2: restarted, and booting used more CPU than the whole life before it.
	for i := 2; i < len(rows); i++ {
		rows[i].RunID = runID(4)
		*rows[i].CPUTimeNanoseconds += 1e15
	}
	// Record 4: no run ID known (an older row) and the CPU counter went down.
	rows[4].RunID, rows[5].RunID = nil, nil
	rows[4].CPUTimeNanoseconds = u64(5)
	*rows[5].CPUTimeNanoseconds = 5 + 50.0/100*2*60*1e9
	// Record 5: a disk was added; its counters are bigger than the old total.
	rows[5].DiskDevices = "vda,vdb"
	rows[5].DiskReadBytes += 1 << 40

	h := SummariseHistory(rows)[0]
	if h.CounterResets != 3 {
		t.Errorf("counter resets %d, want 3 (restart, CPU down, disk added)", h.CounterResets)
	}
	// CPU: intervals 0-1, 2-3 and 4-5 are usable, all 50 %.
	checkSummary(t, "cpu", h.CPUPercentOfVCPUs, 50, 50, 50, 50, 3)
	// Disk: 0-1, 2-3, 3-4 (4-5 added a disk); net: everything but the restart.
	checkSummary(t, "disk read", h.DiskReadBytesPerSecond, 100, 100, 100, 100, 3)
	checkSummary(t, "net rx", h.NetRxBytesPerSecond, 10, 10, 10, 10, 4)
	if h.CoveredSeconds != 240 {
		t.Errorf("covered %v s, want 240 (every interval but the restart)", h.CoveredSeconds)
	}
}

// TestSummariseSkipsCloseRecords: two timers firing together give records milliseconds apart;
// they are levels, but a rate is only taken over MinHistoryInterval or more.
func TestSummariseSkipsCloseRecords(t *testing.T) {
	rows := series(60, []float64{10}, []float64{1, 1}, []float64{0}, []float64{0})
	twin := rows[0]
	twin.Time = twin.Time.Add(5 * time.Millisecond)
	twin.CPUTimeNanoseconds = u64(*rows[0].CPUTimeNanoseconds + 5e7) // jitter: 1000 % over 5 ms
	rows = append(rows, twin)
	h := SummariseHistory(rows)[0]
	if h.Samples != 3 || h.MemoryBytes.Observations != 3 {
		t.Errorf("samples %d, memory observations %d; want 3", h.Samples, h.MemoryBytes.Observations)
	}
	// 0 → twin is too short, so the twin is skipped and 0 → 60 s is the one interval.
	if h.CPUPercentOfVCPUs == nil || h.CPUPercentOfVCPUs.Observations != 1 || h.CPUPercentOfVCPUs.Max > 11 {
		t.Errorf("cpu %+v: want one interval near 10 %%", h.CPUPercentOfVCPUs)
	}
}

// TestSummariseSeveralVMsAndSingleRecords: VMs come back sorted by name; a VM with one record
// has levels but no rates.
func TestSummariseSeveralVMsAndSingleRecords(t *testing.T) {
	web := series(60, []float64{10}, []float64{1, 1}, []float64{0}, []float64{0})
	db := series(60, nil, []float64{2}, nil, nil)
	for i := range db {
		db[i].UUID, db[i].Name = "u-db", "db"
	}
	got := SummariseHistory(append(web, db...))
	if len(got) != 2 || got[0].Name != "db" || got[1].Name != "web" {
		t.Fatalf("order: %+v", got)
	}
	if got[0].CPUPercentOfVCPUs != nil || got[0].DiskReadBytesPerSecond != nil || got[0].MemoryBytes == nil || got[0].CoveredSeconds != 0 {
		t.Errorf("one record: %+v", got[0])
	}
	if len(SummariseHistory(nil)) != 0 {
		t.Error("no rows, some VMs")
	}
}

// TestHistoryRowsFromSample sums devices and keeps only active VMs.
func TestHistoryRowsFromSample(t *testing.T) {
	s := model.StatsSample{Time: t0, HostCPUs: 8, VMs: []model.VMStats{
		{Name: "off", UUID: "u-off", State: "shut_off"},
		{Name: "web", UUID: "u-web", State: "running", ID: runID(9), VCPUs: 2, CPUTimeNanoseconds: u64(7), MemoryBytes: 1 << 30,
			Disks: []model.DiskStats{{Name: "vda", ReadBytes: 1, WriteBytes: 2, ReadRequests: 3, WriteRequests: 4}, {Name: "vdb", ReadBytes: 10, WriteBytes: 20, ReadRequests: 30, WriteRequests: 40}},
			NICs:  []model.NICStats{{Name: "vnet0", RxBytes: 5, TxBytes: 6, RxPackets: 7, TxPackets: 8}}},
	}}
	rows := HistoryRows(s)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1 (the shut-off VM has nothing to keep)", len(rows))
	}
	r := rows[0]
	if r.DiskDevices != "vda,vdb" || r.NICDevices != "vnet0" || r.DiskReadBytes != 11 || r.DiskWriteBytes != 22 || r.DiskReadRequests != 33 || r.DiskWriteRequests != 44 ||
		r.NetRxBytes != 5 || r.NetTxBytes != 6 || r.NetRxPackets != 7 || r.NetTxPackets != 8 || *r.RunID != 9 || r.HostCPUs != 8 || !r.Time.Equal(t0) {
		t.Errorf("row %+v", r)
	}
}

// TestHistoryRowsLeaveOutTimedOut: three samples a minute apart of a VM reading 1 MiB/s, the
// middle one timed out (its QEMU did not answer: disk counters missing, zero). Its row is left
// out, so the history's disk rate is 1 MiB/s throughout: kept, its zeros would count as a
// reset and the third record's real counters as a rate of twice the true one over the gap.
func TestHistoryRowsLeaveOutTimedOut(t *testing.T) {
	const mib = 1 << 20
	sample := func(min int, timedOut bool) model.StatsSample {
		cpu := uint64(min) * 1e9
		disk := model.DiskStats{Name: "vda", ReadBytes: uint64(min) * 60 * mib, ReadRequests: uint64(min)}
		if timedOut {
			disk = model.DiskStats{Name: "vda", CountersMissing: true}
		}
		return model.StatsSample{Time: t0.Add(time.Duration(min) * time.Minute), HostCPUs: 4, VMs: []model.VMStats{
			{Name: "web", UUID: "u-web", State: "running", VCPUs: 2, CPUTimeNanoseconds: &cpu, TimedOut: timedOut, Disks: []model.DiskStats{disk}},
			{Name: "off", UUID: "u-off", State: "shut_off"},
		}}
	}
	var rows []HistoryRow
	for min, timedOut := range []bool{false, true, false} {
		s := sample(min, timedOut)
		rows = append(rows, HistoryRows(s)...)
		if got := TimedOut(s); timedOut != (len(got) == 1 && got[0] == "web") || (!timedOut && got == nil) {
			t.Errorf("sample %d: TimedOut %#v", min, got)
		}
	}
	if len(rows) != 2 {
		t.Errorf("%d rows; want 2 (the timed-out sample and the shut-off VM left out)", len(rows))
	}
	h := SummariseHistory(rows)
	if len(h) != 1 {
		t.Fatalf("summary %+v; want one VM", h)
	}
	if h[0].CounterResets != 0 {
		t.Errorf("%d counter resets; want none", h[0].CounterResets)
	}
	checkSummary(t, "disk read B/s", h[0].DiskReadBytesPerSecond, mib, mib, mib, mib, 1)
}
