// Package stats turns libvirt's bulk domain statistics into what `vmctl stats` and the metrics
// exporter show: one sample per tick, from one virConnectGetAllDomainStats call for every VM
// (never one call per VM), and rates from two samples, computed by a pure function.
package stats

import (
	"context"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Sample reads every VM's counters at once, sorted by name.
func Sample(ctx context.Context, conn *virt.Conn) (model.StatsSample, error) {
	s, err := conn.SampleStats(ctx)
	if err != nil {
		return s, err
	}
	slices.SortFunc(s.VMs, func(a, b model.VMStats) int { return strings.Compare(a.Name, b.Name) })
	return s, nil
}

// key identifies a VM across samples: its UUID, which survives a rename (the name when the
// driver gives none).
func key(v model.VMStats) string {
	if v.UUID != "" {
		return v.UUID
	}
	return "name:" + v.Name
}

// Rates reports cur's VMs with what changed per second since prev. A VM absent from prev (new,
// or started) gets null rates; a VM absent from cur (gone) is not reported; a counter lower than
// before (the VM restarted, a device was swapped) nulls the rates it feeds and sets
// CountersReset. CPU is given both as a share of the VM's vCPUs and of the host's CPUs.
func Rates(prev, cur model.StatsSample) model.StatsReport {
	rep := model.StatsReport{Time: cur.Time, HostCPUs: cur.HostCPUs, HostMemoryBytes: cur.HostMemoryBytes,
		VMs: make([]model.VMStatsReport, 0, len(cur.VMs))}
	dt := cur.Time.Sub(prev.Time).Seconds()
	if !prev.Time.IsZero() && dt > 0 {
		rep.IntervalSeconds = dt
	}
	before := make(map[string]model.VMStats, len(prev.VMs))
	for _, v := range prev.VMs {
		before[key(v)] = v
	}
	for _, v := range cur.VMs {
		r := model.VMStatsReport{VMStats: v, Rates: model.VMRates{Disks: []model.DiskRates{}, NICs: []model.NICRates{}}}
		if p, ok := before[key(v)]; ok && rep.IntervalSeconds > 0 {
			r.Rates = vmRates(p, v, rep.IntervalSeconds, cur.HostCPUs)
		} else {
			for _, d := range v.Disks {
				r.Rates.Disks = append(r.Rates.Disks, model.DiskRates{Name: d.Name})
			}
			for _, n := range v.NICs {
				r.Rates.NICs = append(r.Rates.NICs, model.NICRates{Name: n.Name})
			}
		}
		rep.VMs = append(rep.VMs, r)
	}
	return rep
}

// counter is the per-second change of one counter between two samples: null on a reset.
type counter struct {
	dt    float64
	reset bool
}

func (c *counter) rate(before, after uint64) *float64 {
	if after < before {
		c.reset = true
		return nil
	}
	r := float64(after-before) / c.dt
	return &r
}

// sum adds rates; null if any part is null (a partial total would read as a drop).
func sum(rs ...*float64) *float64 {
	total := 0.0
	for _, r := range rs {
		if r == nil {
			return nil
		}
		total += *r
	}
	return &total
}

func vmRates(p, v model.VMStats, dt float64, hostCPUs int) model.VMRates {
	c := counter{dt: dt}
	out := model.VMRates{Disks: []model.DiskRates{}, NICs: []model.NICRates{}}
	if p.CPUTimeNanoseconds != nil && v.CPUTimeNanoseconds != nil {
		if ns := c.rate(*p.CPUTimeNanoseconds, *v.CPUTimeNanoseconds); ns != nil {
			busy := *ns / 1e9 // CPU seconds per second
			if v.VCPUs > 0 {
				pct := 100 * busy / float64(v.VCPUs)
				out.CPUPercentOfVCPUs = &pct
			}
			if hostCPUs > 0 {
				pct := 100 * busy / float64(hostCPUs)
				out.CPUPercentOfHost = &pct
			}
		}
	}
	prevDisks := make(map[string]model.DiskStats, len(p.Disks))
	for _, d := range p.Disks {
		prevDisks[d.Name] = d
	}
	var rb, wb, rr, wr []*float64
	for _, d := range v.Disks {
		dr := model.DiskRates{Name: d.Name}
		// Counters that did not come (the VM timed out) give no rate, and are no reset.
		if pd, ok := prevDisks[d.Name]; ok && !pd.CountersMissing && !d.CountersMissing {
			dr.ReadBytesPerSecond = c.rate(pd.ReadBytes, d.ReadBytes)
			dr.WriteBytesPerSecond = c.rate(pd.WriteBytes, d.WriteBytes)
			dr.ReadRequestsPerSecond = c.rate(pd.ReadRequests, d.ReadRequests)
			dr.WriteRequestsPerSecond = c.rate(pd.WriteRequests, d.WriteRequests)
		}
		rb, wb = append(rb, dr.ReadBytesPerSecond), append(wb, dr.WriteBytesPerSecond)
		rr, wr = append(rr, dr.ReadRequestsPerSecond), append(wr, dr.WriteRequestsPerSecond)
		out.Disks = append(out.Disks, dr)
	}
	out.DiskReadBytesPerSecond, out.DiskWriteBytesPerSecond = sum(rb...), sum(wb...)
	out.DiskReadRequestsPerSecond, out.DiskWriteRequestsPerSecond = sum(rr...), sum(wr...)

	prevNICs := make(map[string]model.NICStats, len(p.NICs))
	for _, n := range p.NICs {
		prevNICs[n.Name] = n
	}
	var rxb, txb, rxp, txp []*float64
	for _, n := range v.NICs {
		nr := model.NICRates{Name: n.Name}
		if pn, ok := prevNICs[n.Name]; ok {
			nr.RxBytesPerSecond = c.rate(pn.RxBytes, n.RxBytes)
			nr.TxBytesPerSecond = c.rate(pn.TxBytes, n.TxBytes)
			nr.RxPacketsPerSecond = c.rate(pn.RxPackets, n.RxPackets)
			nr.TxPacketsPerSecond = c.rate(pn.TxPackets, n.TxPackets)
		}
		rxb, txb = append(rxb, nr.RxBytesPerSecond), append(txb, nr.TxBytesPerSecond)
		rxp, txp = append(rxp, nr.RxPacketsPerSecond), append(txp, nr.TxPacketsPerSecond)
		out.NICs = append(out.NICs, nr)
	}
	out.NetRxBytesPerSecond, out.NetTxBytesPerSecond = sum(rxb...), sum(txb...)
	out.NetRxPacketsPerSecond, out.NetTxPacketsPerSecond = sum(rxp...), sum(txp...)
	out.CountersReset = c.reset
	if !hasIO(v.State) {
		// A VM that is not running has no disk or network counters at all: its totals are
		// unknown, not zero (0 B/s read as "idle" next to the running ones).
		out.DiskReadBytesPerSecond, out.DiskWriteBytesPerSecond = nil, nil
		out.DiskReadRequestsPerSecond, out.DiskWriteRequestsPerSecond = nil, nil
		out.NetRxBytesPerSecond, out.NetTxBytesPerSecond = nil, nil
		out.NetRxPacketsPerSecond, out.NetTxPacketsPerSecond = nil, nil
	}
	return out
}

// hasIO says whether a VM in state has a QEMU whose disk and network counters the sample read.
func hasIO(state string) bool {
	return state != virt.StateShutOff && state != virt.StateCrashed && state != virt.StateNone
}
