package e2e

import (
	"bufio"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// statsReport is the part of `vmctl stats --json` the monitoring tests read.
type statsReport struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	HostCPUs        int     `json:"host_cpus"`
	VMs             []struct {
		Name               string  `json:"name"`
		State              string  `json:"state"`
		VCPUs              int     `json:"vcpus"`
		CPUTimeNanoseconds *uint64 `json:"cpu_time_nanoseconds"`
		MemoryBytes        uint64  `json:"memory_bytes"`
		Disks              []struct {
			Name      string `json:"name"`
			ReadBytes uint64 `json:"read_bytes"`
		} `json:"disks"`
		NICs []struct {
			Name      string `json:"name"`
			RxBytes   uint64 `json:"rx_bytes"`
			TxBytes   uint64 `json:"tx_bytes"`
			TxPackets uint64 `json:"tx_packets"`
		} `json:"nics"`
		Rates struct {
			CPUPercentOfVCPUs      *float64 `json:"cpu_percent_of_vcpus"`
			CPUPercentOfHost       *float64 `json:"cpu_percent_of_host"`
			DiskReadBytesPerSecond *float64 `json:"disk_read_bytes_per_second"`
			NetRxBytesPerSecond    *float64 `json:"net_rx_bytes_per_second"`
			NetTxBytesPerSecond    *float64 `json:"net_tx_bytes_per_second"`
		} `json:"rates"`
	} `json:"vms"`
}

// TestMonitorOnRealDaemon boots a test guest (it does DHCP, so its NIC counts traffic, and
// boots from its CD-ROM, so that disk has reads) and checks `vmctl stats` against QEMU's counters.
func TestMonitorOnRealDaemon(t *testing.T) {
	e := setup(t)
	e.act("started", "start", "e2e-1")
	t.Cleanup(func() { e.run("vmctl", "kill", "e2e-1") })
	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "ip", "--timeout", "3m")

	out, errOut, code := e.run("vmctl", "stats", "e2e-*", "--json", "--count", "2", "--interval", "1s")
	if code != 0 {
		t.Fatalf("vmctl stats: exit %d\n%s", code, errOut)
	}
	var reps []statsReport
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r statsReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stats NDJSON line %d: %v\n%s", len(reps)+1, err, sc.Text())
		}
		reps = append(reps, r)
	}
	if len(reps) != 2 {
		t.Fatalf("--count 2 printed %d lines:\n%s", len(reps), out)
	}
	find := func(r statsReport) int {
		for i, v := range r.VMs {
			if v.Name == "e2e-1" {
				return i
			}
		}
		t.Fatalf("e2e-1 missing from %s", out)
		return -1
	}
	a, b := reps[0].VMs[find(reps[0])], reps[1].VMs[find(reps[1])]
	if len(reps[1].VMs) != len(guests) {
		t.Errorf("stats 'e2e-*' reported %d VMs, want the %d guests (shut off ones too)", len(reps[1].VMs), len(guests))
	}
	if b.State != "running" || b.VCPUs != 1 || b.MemoryBytes != 256<<20 || b.CPUTimeNanoseconds == nil || *b.CPUTimeNanoseconds == 0 {
		t.Fatalf("e2e-1 counters: %+v", b)
	}
	var cdromRead, rx, txPkts uint64
	for _, d := range b.Disks {
		if d.Name == "sda" {
			cdromRead = d.ReadBytes
		}
	}
	for _, n := range b.NICs {
		rx, txPkts = rx+n.RxBytes, txPkts+n.TxPackets
	}
	if cdromRead == 0 || rx == 0 || txPkts == 0 {
		t.Errorf("a guest that booted from CD and did DHCP shows CD reads %d, rx bytes %d, tx packets %d", cdromRead, rx, txPkts)
	}
	// The second report's rates come from the first report's counters and its own.
	dt := reps[1].IntervalSeconds
	if dt < 0.9 || dt > 3 {
		t.Fatalf("interval %v s for --interval 1s", dt)
	}
	wantCPU := float64(*b.CPUTimeNanoseconds-*a.CPUTimeNanoseconds) / 1e9 / dt * 100
	if r := b.Rates.CPUPercentOfVCPUs; r == nil || *r <= 0 || math.Abs(*r-wantCPU) > 0.01 {
		t.Errorf("cpu_percent_of_vcpus %v, want %.3f from the counters (a running TCG guest is never idle)", r, wantCPU)
	}
	if r := b.Rates.CPUPercentOfHost; r == nil || math.Abs(*r*float64(reps[1].HostCPUs)-wantCPU) > 0.01 {
		t.Errorf("cpu_percent_of_host %v with %d host CPUs, want %.3f/%d", r, reps[1].HostCPUs, wantCPU, reps[1].HostCPUs)
	}
	var rxA uint64
	for _, n := range a.NICs {
		rxA += n.RxBytes
	}
	if r := b.Rates.NetRxBytesPerSecond; r == nil || math.Abs(*r-float64(rx-rxA)/dt) > 0.01 {
		t.Errorf("net_rx_bytes_per_second %v, want %.3f from the counters", r, float64(rx-rxA)/dt)
	}

	table, errOut, code := e.run("vmctl", "stats", "e2e-1", "-o", "wide", "--interval", "500ms")
	if code != 0 || !strings.Contains(table, "CPU%VCPUS") || !strings.Contains(table, " sda ") {
		t.Errorf("stats -o wide: exit %d\n%s%s", code, table, errOut)
	}
}
