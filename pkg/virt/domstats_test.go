package virt

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestVMStatsDecodesBulkFields feeds the decoder a record with libvirt's own field names (as
// `virsh domstats` prints them for a QEMU guest): a renamed or mis-scaled field fails here.
func TestVMStatsDecodesBulkFields(t *testing.T) {
	id := 7
	r := rawStats{Name: "web", UUID: "u-1", ID: &id, Params: map[string]any{
		"state.state": int64(1), "cpu.time": uint64(5_000_000_000), "cpu.user": uint64(3_000_000_000), "cpu.system": uint64(1_000_000_000),
		"balloon.current": uint64(1048576), "balloon.maximum": uint64(2097152), "balloon.rss": uint64(524288),
		"balloon.usable": uint64(800000), "balloon.available": uint64(1000000),
		"vcpu.current": uint64(2), "vcpu.maximum": uint64(4),
		"vcpu.0.state": int64(1), "vcpu.0.time": uint64(100), "vcpu.0.wait": uint64(7),
		"vcpu.1.state": int64(1), "vcpu.1.time": uint64(200), "vcpu.1.delay": uint64(9),
		"net.count": uint64(1), "net.0.name": "vnet3", "net.0.rx.bytes": uint64(1000), "net.0.rx.pkts": uint64(10),
		"net.0.rx.errs": uint64(1), "net.0.rx.drop": uint64(2), "net.0.tx.bytes": uint64(500), "net.0.tx.pkts": uint64(5),
		"block.count": uint64(2), "block.0.name": "vda", "block.0.path": "/img/web.qcow2",
		"block.0.rd.reqs": uint64(3), "block.0.rd.bytes": uint64(4096), "block.0.wr.reqs": uint64(4), "block.0.wr.bytes": uint64(8192),
		"block.0.fl.reqs": uint64(1), "block.0.backingIndex": uint64(2), "block.0.capacity": uint64(1 << 30), "block.0.allocation": uint64(1 << 20),
		"block.1.name": "sda", "block.1.rd.bytes": uint64(2048),
	}}
	got, err := json.Marshal(vmStats(r))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"web","uuid":"u-1","id":7,"state":"running","vcpus":2,"max_vcpus":4,` +
		`"cpu_time_nanoseconds":5000000000,"cpu_user_nanoseconds":3000000000,"cpu_system_nanoseconds":1000000000,` +
		`"memory_bytes":1073741824,"max_memory_bytes":2147483648,"memory_usable_bytes":819200000,"memory_available_bytes":1024000000,` +
		`"memory_unused_bytes":null,"memory_rss_bytes":536870912,` +
		`"vcpu":[{"index":0,"state":"running","time_nanoseconds":100,"wait_nanoseconds":7,"delay_nanoseconds":null},` +
		`{"index":1,"state":"running","time_nanoseconds":200,"wait_nanoseconds":null,"delay_nanoseconds":9}],` +
		`"disks":[{"name":"vda","path":"/img/web.qcow2","read_bytes":4096,"read_requests":3,"read_time_nanoseconds":0,"write_bytes":8192,"write_requests":4,"write_time_nanoseconds":0,"flush_requests":1,"flush_time_nanoseconds":0,"capacity_bytes":1073741824,"allocation_bytes":1048576,"physical_bytes":0,"counters_missing":false},` +
		`{"name":"sda","path":"","read_bytes":2048,"read_requests":0,"read_time_nanoseconds":0,"write_bytes":0,"write_requests":0,"write_time_nanoseconds":0,"flush_requests":0,"flush_time_nanoseconds":0,"capacity_bytes":0,"allocation_bytes":0,"physical_bytes":0,"counters_missing":false}],` +
		`"nics":[{"name":"vnet3","rx_bytes":1000,"rx_packets":10,"rx_errors":1,"rx_drops":2,"tx_bytes":500,"tx_packets":5,"tx_errors":0,"tx_drops":0}],"timed_out":false}`
	if string(got) != want {
		t.Errorf("decoded\n got %s\nwant %s", got, want)
	}
}

// TestVMStatsTimedOut decodes what QEMU's driver gives, under NOWAIT, for a running domain
// whose job another call holds (as `virsh domstats --nowait` printed it for a SIGSTOPped QEMU):
// the balloon's size without its RSS, disks without counters. That is a timed-out domain with
// missing counters, not one whose counters are zero; a shut-off domain is never timed out.
func TestVMStatsTimedOut(t *testing.T) {
	busy := rawStats{Name: "hung", Params: map[string]any{
		"state.state": int64(1), "cpu.time": uint64(761678000), "balloon.current": uint64(32768), "balloon.maximum": uint64(32768),
		"vcpu.current": uint64(1), "vcpu.maximum": uint64(1), "vcpu.0.state": int64(1), "vcpu.0.time": uint64(230000000),
		"net.count": uint64(0), "block.count": uint64(1), "block.0.name": "vda", "block.0.path": "/img/hung.qcow2",
	}}
	v := vmStats(busy)
	if !v.TimedOut || len(v.Disks) != 1 || !v.Disks[0].CountersMissing || v.MemoryRSSBytes != nil || v.CPUTimeNanoseconds == nil {
		t.Errorf("busy domain decoded as %+v", v)
	}
	answered := rawStats{Name: "ok", Params: map[string]any{"state.state": int64(1), "balloon.current": uint64(32768), "balloon.rss": uint64(9000),
		"block.count": uint64(1), "block.0.name": "vda", "block.0.rd.bytes": uint64(0), "block.0.rd.reqs": uint64(0)}}
	if v := vmStats(answered); v.TimedOut || v.Disks[0].CountersMissing {
		t.Errorf("a domain that answered is timed out: %+v", v)
	}
	off := rawStats{Name: "off", Params: map[string]any{"state.state": int64(5), "balloon.current": uint64(32768)}}
	if v := vmStats(off); v.TimedOut {
		t.Errorf("a shut-off domain is timed out: %+v", v)
	}
}

// TestVMStatsShutOffUsedNoCPU: libvirt 9.0 answers the cpu group for a shut-off domain with
// the daemon's own CPU time (as `virsh domstats --cpu-total` printed it for an inactive domain:
// 53.7 s, libvirtd's TIME in ps). A shut-off domain has no CPU counters.
func TestVMStatsShutOffUsedNoCPU(t *testing.T) {
	off := rawStats{Name: "off", Params: map[string]any{"state.state": int64(5), "cpu.time": uint64(53730000000),
		"cpu.user": uint64(25240000000), "cpu.system": uint64(28490000000), "balloon.current": uint64(65536), "balloon.maximum": uint64(65536),
		"vcpu.current": uint64(1), "vcpu.maximum": uint64(1), "block.count": uint64(0)}}
	v := vmStats(off)
	if v.CPUTimeNanoseconds != nil || v.CPUUserNanoseconds != nil || v.CPUSystemNanoseconds != nil {
		t.Errorf("shut-off domain with CPU counters: %+v", v)
	}
	if v.MemoryBytes != 64<<20 || v.MaxMemoryBytes != 64<<20 || v.VCPUs != 1 {
		t.Errorf("shut-off domain's definition lost: %+v", v)
	}
}

// TestMergeStats: a domain in both calls (it started between them) is reported once, active.
func TestMergeStats(t *testing.T) {
	active := []rawStats{{Name: "a", UUID: "u-a", Params: map[string]any{"state.state": int64(1)}}, {Name: "b", UUID: "u-b", Params: map[string]any{"state.state": int64(1)}}}
	inactive := []rawStats{{Name: "b", UUID: "u-b", Params: map[string]any{"state.state": int64(5)}}, {Name: "c", UUID: "u-c", Params: map[string]any{"state.state": int64(5)}}}
	var got []string
	for _, r := range mergeStats(active, inactive) {
		got = append(got, r.Name+":"+vmStats(r).State)
	}
	if want := "a:running b:running c:shut_off"; strings.Join(got, " ") != want {
		t.Errorf("merged %v; want %s", got, want)
	}
}

// TestSampleStatsTestDriver takes real samples of the fixture host: every domain comes back, the
// running ones with a CPU counter that moves (the test driver reports it through GetInfo).
func TestSampleStatsTestDriver(t *testing.T) {
	c := fixture(t)
	ctx := context.Background()
	a, err := c.SampleStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.HostCPUs != 2 || a.HostMemoryBytes != 8388608*1024 {
		t.Errorf("host: %d CPUs, %d bytes; want the fixture's 2 and 8 GiB", a.HostCPUs, a.HostMemoryBytes)
	}
	states := map[string]string{}
	for _, v := range a.VMs {
		states[v.Name] = v.State
		if v.State == StateRunning && (v.CPUTimeNanoseconds == nil || v.VCPUs == 0 || v.MemoryBytes == 0) {
			t.Errorf("%s: running without CPU time, vCPUs or memory: %+v", v.Name, v)
		}
		if v.State == StateShutOff && v.CPUTimeNanoseconds != nil {
			t.Errorf("%s: shut off with a CPU time", v.Name)
		}
		// The run ID tells the history a restarted VM (whose counters began again) apart.
		if (v.State != StateShutOff) != (v.ID != nil) {
			t.Errorf("%s: %s with run ID %v; want an ID exactly when active", v.Name, v.State, v.ID)
		}
	}
	if states["web-01"] != StateRunning || states["db-01"] == "" {
		t.Errorf("states %v: want web-01 running and db-01 present", states)
	}
}

// TestSampleStatsKeepsNoReference: a sample gives back the connection reference it takes for
// the raw bulk call, so closing the connection frees it (a leaked reference kept every
// sampled connection, socket and all, open for the life of the process).
func TestSampleStatsKeepsNoReference(t *testing.T) {
	c, err := Open(context.Background(), "test:///default", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.SampleStats(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.c.UnregisterCloseCallback(); err != nil {
		t.Fatal(err)
	}
	if refs, err := c.c.Close(); err != nil || refs != 0 {
		t.Errorf("closing a sampled connection left %d references (%v), want 0", refs, err)
	}
}
