package stats

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// The metrics history stores counters, not rates: `hvctl metrics record` is one bulk call with
// no sleep in it, and the rates are computed when the history is read, from consecutive
// records. A rate then covers the whole time between two records, so what happened between
// timer runs is in it (two samples a second apart every few minutes would see a second of
// each), and the stored counters can be summarised again any other way later.

// HistoryRow is one VM in one recorded sample: its counters as libvirt counted them, with the
// disk and network counters summed over the VM's devices.
type HistoryRow struct {
	Time                 time.Time
	UUID, Name, State    string
	RunID                *int // libvirt's run ID: a different one means the VM was restarted
	VCPUs, HostCPUs      int
	CPUTimeNanoseconds   *uint64
	MemoryBytes          uint64
	MemoryRSSBytes       *uint64
	MemoryAvailableBytes *uint64
	MemoryUsableBytes    *uint64
	// DiskDevices and NICDevices name the devices the totals are summed over: when the set
	// changes, the totals of two records are not comparable.
	DiskDevices, NICDevices                                            string
	DiskReadBytes, DiskWriteBytes, DiskReadRequests, DiskWriteRequests uint64
	NetRxBytes, NetTxBytes, NetRxPackets, NetTxPackets                 uint64
}

// HistoryRows turns a sample into the rows the history keeps: its active VMs (a shut-off VM
// has no counters to keep) that answered in time. A timed-out VM's disk counters did not come:
// kept as zeros they would read as a reset, and the next record's real values as a huge rate.
// Left out, the next record pairs with the one before, whose interval covers the gap.
func HistoryRows(s model.StatsSample) []HistoryRow {
	rows := make([]HistoryRow, 0, len(s.VMs))
	for _, v := range s.VMs {
		if v.State == virt.StateShutOff || v.TimedOut {
			continue
		}
		r := HistoryRow{Time: s.Time, UUID: v.UUID, Name: v.Name, State: v.State, RunID: v.ID, VCPUs: v.VCPUs, HostCPUs: s.HostCPUs,
			CPUTimeNanoseconds: v.CPUTimeNanoseconds, MemoryBytes: v.MemoryBytes, MemoryRSSBytes: v.MemoryRSSBytes,
			MemoryAvailableBytes: v.MemoryAvailableBytes, MemoryUsableBytes: v.MemoryUsableBytes}
		var disks, nics []string
		for _, d := range v.Disks {
			disks = append(disks, d.Name)
			r.DiskReadBytes += d.ReadBytes
			r.DiskWriteBytes += d.WriteBytes
			r.DiskReadRequests += d.ReadRequests
			r.DiskWriteRequests += d.WriteRequests
		}
		for _, n := range v.NICs {
			nics = append(nics, n.Name)
			r.NetRxBytes += n.RxBytes
			r.NetTxBytes += n.TxBytes
			r.NetRxPackets += n.RxPackets
			r.NetTxPackets += n.TxPackets
		}
		r.DiskDevices, r.NICDevices = strings.Join(disks, ","), strings.Join(nics, ",")
		rows = append(rows, r)
	}
	return rows
}

// TimedOut names the active VMs of s that did not answer in time (HistoryRows leaves them out).
func TimedOut(s model.StatsSample) []string {
	out := []string{}
	for _, v := range s.VMs {
		if v.TimedOut && v.State != virt.StateShutOff {
			out = append(out, v.Name)
		}
	}
	return out
}

// MinHistoryInterval is the shortest gap between two records a rate is computed over: records
// closer than that (two timers firing together) are kept as levels but not paired, because
// the time of a sample is taken when the bulk call returns and a few milliseconds of that
// jitter over a gap of a few milliseconds would be a wildly wrong rate.
const MinHistoryInterval = time.Second

// observations collects one quantity's values. Min, max and the weighted sum are kept exactly;
// the values themselves, needed only for the percentile, as float32 (7 significant digits,
// more than any table shows): a month of one-minute records of 40 VMs is 2 million rows.
// Avg is weighted: rates by the interval they cover, levels by 1.
type observations struct {
	vals            []float32
	min, max        float64
	weighted, total float64
}

func (o *observations) add(v, weight float64) {
	if len(o.vals) == 0 || v < o.min {
		o.min = v
	}
	if len(o.vals) == 0 || v > o.max {
		o.max = v
	}
	o.vals = append(o.vals, float32(v))
	o.weighted += v * weight
	o.total += weight
}

func (o *observations) summary() *model.Summary {
	if len(o.vals) == 0 || o.total <= 0 {
		return nil
	}
	slices.Sort(o.vals)
	n := len(o.vals)
	rank := (95*n + 99) / 100 // ceil(0.95 n) in integers: no float rounding at 20, 100 …
	p95 := float64(o.vals[rank-1])
	if rank == n {
		p95 = o.max // exact when the percentile is the largest value
	}
	return &model.Summary{Min: o.min, Avg: o.weighted / o.total, Max: o.max, P95: p95, Observations: n}
}

type vmSeries struct {
	cpuVCPUs, cpuHost, mem, rss, guestUsed                     observations
	diskRB, diskWB, diskRR, diskWR, netRB, netTB, netRP, netTP observations
}

// historySummary summarises records fed to it in time order, one VM's after another or
// interleaved, keeping per VM only the previous record and the observations.
type historySummary struct {
	vms map[string]*vmAccumulator
}

type vmAccumulator struct {
	h    model.VMHistory
	base HistoryRow // the record the next rate starts from; its pointers point into own
	own  rowValues
	s    vmSeries
}

// rowValues holds what a HistoryRow's pointers point to, so that a row can be kept without
// allocating (the rows scanHistory passes are reused).
type rowValues struct {
	runID                   int
	cpu, rss, avail, usable uint64
}

// keep copies r into *dst, pointing dst's pointers into v.
func (v *rowValues) keep(dst *HistoryRow, r *HistoryRow) {
	*dst = *r
	own := func(p *uint64, into *uint64) *uint64 {
		if p == nil {
			return nil
		}
		*into = *p
		return into
	}
	if r.RunID != nil {
		v.runID = *r.RunID
		dst.RunID = &v.runID
	}
	dst.CPUTimeNanoseconds, dst.MemoryRSSBytes = own(r.CPUTimeNanoseconds, &v.cpu), own(r.MemoryRSSBytes, &v.rss)
	dst.MemoryAvailableBytes, dst.MemoryUsableBytes = own(r.MemoryAvailableBytes, &v.avail), own(r.MemoryUsableBytes, &v.usable)
}

func newHistorySummary() *historySummary { return &historySummary{vms: map[string]*vmAccumulator{}} }

// add takes the next record of its VM (r.Time not before that VM's previous record).
func (hs *historySummary) add(r *HistoryRow) {
	a := hs.vms[r.UUID]
	if a == nil {
		a = &vmAccumulator{h: model.VMHistory{UUID: r.UUID, FirstSample: r.Time.UTC()}}
		a.own.keep(&a.base, r)
		hs.vms[r.UUID] = a
	} else if r.Time.Sub(a.base.Time) >= MinHistoryInterval {
		used, reset := a.s.addInterval(a.base, *r)
		if used {
			a.h.CoveredSeconds += r.Time.Sub(a.base.Time).Seconds()
		}
		if reset {
			a.h.CounterResets++
		}
		a.own.keep(&a.base, r)
	}
	a.h.Name, a.h.LastSample = r.Name, r.Time.UTC()
	a.h.Samples++
	a.s.mem.add(float64(r.MemoryBytes), 1)
	if r.MemoryRSSBytes != nil {
		a.s.rss.add(float64(*r.MemoryRSSBytes), 1)
	}
	if r.MemoryAvailableBytes != nil && r.MemoryUsableBytes != nil && *r.MemoryAvailableBytes >= *r.MemoryUsableBytes {
		a.s.guestUsed.add(float64(*r.MemoryAvailableBytes-*r.MemoryUsableBytes), 1)
	}
}

// result is one summary per VM, sorted by name.
func (hs *historySummary) result() []model.VMHistory {
	out := make([]model.VMHistory, 0, len(hs.vms))
	for _, a := range hs.vms {
		h, s := a.h, &a.s
		h.CPUPercentOfVCPUs, h.CPUPercentOfHost = s.cpuVCPUs.summary(), s.cpuHost.summary()
		h.MemoryBytes, h.MemoryRSSBytes, h.MemoryGuestUsedBytes = s.mem.summary(), s.rss.summary(), s.guestUsed.summary()
		h.DiskReadBytesPerSecond, h.DiskWriteBytesPerSecond = s.diskRB.summary(), s.diskWB.summary()
		h.DiskReadRequestsPerSecond, h.DiskWriteRequestsPerSecond = s.diskRR.summary(), s.diskWR.summary()
		h.NetRxBytesPerSecond, h.NetTxBytesPerSecond = s.netRB.summary(), s.netTB.summary()
		h.NetRxPacketsPerSecond, h.NetTxPacketsPerSecond = s.netRP.summary(), s.netTP.summary()
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b model.VMHistory) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.UUID, b.UUID))
	})
	return out
}

// SummariseHistory summarises rows (any order, any VMs) per VM, sorted by name. Rates come
// from consecutive records of the same VM at least MinHistoryInterval apart (a closer record
// counts for the levels only); an interval over which the VM restarted (its run ID changed),
// a counter went down, or the devices changed is left out of the rates it would feed and
// counted in CounterResets — never a negative or a huge rate.
func SummariseHistory(rows []HistoryRow) []model.VMHistory {
	order := make([]*HistoryRow, len(rows))
	for i := range rows {
		order[i] = &rows[i]
	}
	// Pointers, not rows, are sorted: a stable sort moves its elements O(n log² n) times.
	slices.SortStableFunc(order, func(a, b *HistoryRow) int { return a.Time.Compare(b.Time) })
	hs := newHistorySummary()
	for _, r := range order {
		hs.add(r)
	}
	return hs.result()
}

// addInterval adds the rates between two records of one VM; used says whether any rate came
// from it, reset whether any was left out because the counters began again.
func (s *vmSeries) addInterval(a, b HistoryRow) (used, reset bool) {
	dt := b.Time.Sub(a.Time).Seconds()
	if a.RunID != nil && b.RunID != nil && *a.RunID != *b.RunID {
		return false, true // restarted: every counter began again, whatever it reads now
	}
	grew := func(pairs ...[2]uint64) bool {
		for _, p := range pairs {
			if p[1] < p[0] {
				return false
			}
		}
		return true
	}
	rate := func(p [2]uint64) float64 { return float64(p[1]-p[0]) / dt }

	if a.CPUTimeNanoseconds != nil && b.CPUTimeNanoseconds != nil {
		if p := [2]uint64{*a.CPUTimeNanoseconds, *b.CPUTimeNanoseconds}; grew(p) {
			busy := rate(p) / 1e9 // CPU seconds per second
			if b.VCPUs > 0 {
				s.cpuVCPUs.add(100*busy/float64(b.VCPUs), dt)
				used = true
			}
			if b.HostCPUs > 0 {
				s.cpuHost.add(100*busy/float64(b.HostCPUs), dt)
				used = true
			}
		} else {
			reset = true
		}
	}
	disk := [][2]uint64{{a.DiskReadBytes, b.DiskReadBytes}, {a.DiskWriteBytes, b.DiskWriteBytes}, {a.DiskReadRequests, b.DiskReadRequests}, {a.DiskWriteRequests, b.DiskWriteRequests}}
	if a.DiskDevices == b.DiskDevices && grew(disk...) {
		if b.DiskDevices != "" {
			s.diskRB.add(rate(disk[0]), dt)
			s.diskWB.add(rate(disk[1]), dt)
			s.diskRR.add(rate(disk[2]), dt)
			s.diskWR.add(rate(disk[3]), dt)
			used = true
		}
	} else {
		reset = true
	}
	net := [][2]uint64{{a.NetRxBytes, b.NetRxBytes}, {a.NetTxBytes, b.NetTxBytes}, {a.NetRxPackets, b.NetRxPackets}, {a.NetTxPackets, b.NetTxPackets}}
	if a.NICDevices == b.NICDevices && grew(net...) {
		if b.NICDevices != "" {
			s.netRB.add(rate(net[0]), dt)
			s.netTB.add(rate(net[1]), dt)
			s.netRP.add(rate(net[2]), dt)
			s.netTP.add(rate(net[3]), dt)
			used = true
		}
	} else {
		reset = true
	}
	return used, reset
}
