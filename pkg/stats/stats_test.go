package stats

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

func u64(v uint64) *uint64 { return &v }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func vm(name, uuid string, vcpus int, cpuNS uint64, disk, nic uint64) model.VMStats {
	return model.VMStats{Name: name, UUID: uuid, State: "running", VCPUs: vcpus, CPUTimeNanoseconds: u64(cpuNS),
		Disks: []model.DiskStats{{Name: "vda", ReadBytes: disk, WriteBytes: 2 * disk, ReadRequests: disk / 512, WriteRequests: disk / 256}},
		NICs:  []model.NICStats{{Name: "vnet0", RxBytes: nic, TxBytes: nic / 2, RxPackets: nic / 100, TxPackets: nic / 200}}}
}

func sample(at time.Duration, vms ...model.VMStats) model.StatsSample {
	return model.StatsSample{Time: t0.Add(at), HostCPUs: 8, HostMemoryBytes: 1 << 34, VMs: vms}
}

// rates renders the rates of each VM compactly: name then the fields, "-" for null.
func rates(rep model.StatsReport) string {
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		b, _ := json.Marshal(*p)
		return string(b)
	}
	var b strings.Builder
	for _, v := range rep.VMs {
		r := v.Rates
		b.WriteString(v.Name + ": cpu " + f(r.CPUPercentOfVCPUs) + "%v " + f(r.CPUPercentOfHost) + "%h disk " +
			f(r.DiskReadBytesPerSecond) + "/" + f(r.DiskWriteBytesPerSecond) + " iops " + f(r.DiskReadRequestsPerSecond) + "/" + f(r.DiskWriteRequestsPerSecond) +
			" net " + f(r.NetRxBytesPerSecond) + "/" + f(r.NetTxBytesPerSecond) + " pkts " + f(r.NetRxPacketsPerSecond) + "/" + f(r.NetTxPacketsPerSecond))
		for _, d := range r.Disks {
			b.WriteString(" [" + d.Name + " " + f(d.ReadBytesPerSecond) + "]")
		}
		for _, n := range r.NICs {
			b.WriteString(" [" + n.Name + " " + f(n.RxBytesPerSecond) + "]")
		}
		if r.CountersReset {
			b.WriteString(" reset")
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestRates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur model.StatsSample
		want      string
		interval  float64
	}{
		{
			name: "steady: 2 of 4 vCPUs busy over 2 s is 50 % of the VM and 25 % of an 8-CPU host",
			prev: sample(0, vm("a", "u-a", 4, 10e9, 1<<20, 1e6)),
			cur:  sample(2*time.Second, vm("a", "u-a", 4, 14e9, 1<<20+4096, 1e6+2000)),
			want: "a: cpu 50%v 25%h disk 2048/4096 iops 4/8 net 1000/500 pkts 10/5 [vda 2048] [vnet0 1000]; ", interval: 2,
		},
		{
			name: "first sample: no interval, no rates",
			prev: model.StatsSample{},
			cur:  sample(time.Second, vm("a", "u-a", 1, 1e9, 0, 0)),
			want: "a: cpu -%v -%h disk -/- iops -/- net -/- pkts -/- [vda -] [vnet0 -]; ",
		},
		{
			name: "restarted VM: every counter went down, rates null and reset said",
			prev: sample(0, vm("a", "u-a", 2, 50e9, 1<<30, 1e9)),
			cur:  sample(time.Second, vm("a", "u-a", 2, 1e9, 4096, 1000)),
			want: "a: cpu -%v -%h disk -/- iops -/- net -/- pkts -/- [vda -] [vnet0 -] reset; ", interval: 1,
		},
		{
			name: "a VM appears and another disappears: the new one has null rates, the gone one is not reported",
			prev: sample(0, vm("a", "u-a", 1, 0, 0, 0), vm("gone", "u-g", 1, 0, 0, 0)),
			cur:  sample(time.Second, vm("a", "u-a", 1, 5e8, 0, 0), vm("new", "u-n", 1, 9e9, 1, 1)),
			want: "a: cpu 50%v 6.25%h disk 0/0 iops 0/0 net 0/0 pkts 0/0 [vda 0] [vnet0 0]; new: cpu -%v -%h disk -/- iops -/- net -/- pkts -/- [vda -] [vnet0 -]; ", interval: 1,
		},
		{
			name: "a shut-off VM has no disk or network counters: its totals are null, not 0 B/s; a running VM without disks or NICs does read 0",
			prev: sample(0, model.VMStats{Name: "off", UUID: "u-o", State: "shut_off", VCPUs: 1}, model.VMStats{Name: "bare", UUID: "u-b", State: "running", VCPUs: 1, CPUTimeNanoseconds: u64(0)}),
			cur:  sample(time.Second, model.VMStats{Name: "off", UUID: "u-o", State: "shut_off", VCPUs: 1}, model.VMStats{Name: "bare", UUID: "u-b", State: "running", VCPUs: 1, CPUTimeNanoseconds: u64(0)}),
			want: "off: cpu -%v -%h disk -/- iops -/- net -/- pkts -/-; bare: cpu 0%v 0%h disk 0/0 iops 0/0 net 0/0 pkts 0/0; ", interval: 1,
		},
		{
			name: "a renamed VM keeps its rates: matched by UUID",
			prev: sample(0, vm("old", "u-a", 1, 0, 0, 0)),
			cur:  sample(time.Second, vm("new", "u-a", 1, 1e9, 0, 0)),
			want: "new: cpu 100%v 12.5%h disk 0/0 iops 0/0 net 0/0 pkts 0/0 [vda 0] [vnet0 0]; ", interval: 1,
		},
		{
			name: "a hot-plugged disk has no rate yet, and the total is null rather than too small",
			prev: sample(0, vm("a", "u-a", 1, 0, 1000, 0)),
			cur: func() model.StatsSample {
				v := vm("a", "u-a", 1, 0, 2000, 0)
				v.Disks = append(v.Disks, model.DiskStats{Name: "vdb", ReadBytes: 7})
				return sample(time.Second, v)
			}(),
			want: "a: cpu 0%v 0%h disk -/- iops -/- net 0/0 pkts 0/0 [vda 1000] [vdb -] [vnet0 0]; ", interval: 1,
		},
		{
			name: "a VM whose QEMU timed out: its disk counters are missing, not zero — no rate and no reset, before or after",
			prev: sample(0, vm("a", "u-a", 1, 0, 1000, 0)),
			cur: func() model.StatsSample {
				v := vm("a", "u-a", 1, 1e9, 0, 100)
				v.TimedOut, v.Disks[0].CountersMissing = true, true
				return sample(time.Second, v)
			}(),
			want: "a: cpu 100%v 12.5%h disk -/- iops -/- net 100/50 pkts 1/0 [vda -] [vnet0 100]; ", interval: 1,
		},
		{
			name: "the sample after a timed-out one: no rate from the missing counters",
			prev: func() model.StatsSample {
				v := vm("a", "u-a", 1, 0, 0, 0)
				v.TimedOut, v.Disks[0].CountersMissing = true, true
				return sample(0, v)
			}(),
			cur:  sample(time.Second, vm("a", "u-a", 1, 0, 1000, 0)),
			want: "a: cpu 0%v 0%h disk -/- iops -/- net 0/0 pkts 0/0 [vda -] [vnet0 0]; ", interval: 1,
		},
		{
			name: "no CPU counter (a driver without it) or no vCPU count: those rates are null, the rest are there",
			prev: func() model.StatsSample {
				v := vm("a", "u-a", 0, 0, 0, 0)
				v.CPUTimeNanoseconds = nil
				return sample(0, v, vm("b", "u-b", 0, 0, 0, 0))
			}(),
			cur:  sample(time.Second, vm("a", "u-a", 0, 1e9, 0, 0), vm("b", "u-b", 0, 1e9, 0, 0)),
			want: "a: cpu -%v -%h disk 0/0 iops 0/0 net 0/0 pkts 0/0 [vda 0] [vnet0 0]; b: cpu -%v 12.5%h disk 0/0 iops 0/0 net 0/0 pkts 0/0 [vda 0] [vnet0 0]; ", interval: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Rates(tc.prev, tc.cur)
			if got := rates(rep); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
			if rep.IntervalSeconds != tc.interval {
				t.Errorf("interval %v, want %v", rep.IntervalSeconds, tc.interval)
			}
			if len(rep.VMs) > 0 && rep.VMs[0].CPUTimeNanoseconds != tc.cur.VMs[0].CPUTimeNanoseconds {
				t.Errorf("the report does not carry the later sample's counters")
			}
		})
	}
}
