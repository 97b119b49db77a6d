package virt

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
)

// statsGroups are the bulk-statistics groups a monitoring sample asks for of active domains.
const statsGroups = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL | libvirt.DOMAIN_STATS_BALLOON |
	libvirt.DOMAIN_STATS_VCPU | libvirt.DOMAIN_STATS_INTERFACE | libvirt.DOMAIN_STATS_BLOCK

// activeParts is how many bulk calls at once ask for the active domains, each for a share of
// them: with the inactive domains' call, libvirtd's default of 5 requests at once per client.
const activeParts = 4

// inactiveGroups are what a shut-off domain has: its definition's state, memory and vCPUs.
// Not CPU_TOTAL: libvirt 9.0 answers it for an inactive domain with the daemon's own CPU time
// (it reads /proc for a QEMU that does not exist), which is false, and costs a /proc read per
// domain — most of a sample's time on a host with 1000 inactive domains.
const inactiveGroups = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_BALLOON | libvirt.DOMAIN_STATS_VCPU

// SampleStats reads every domain's counters in a few bulk calls at once, never one per domain:
// the inactive domains with inactiveGroups, the active ones, listed, in up to activeParts
// shares (see activeDomainStats) with every group and NOWAIT: a domain whose job lock is held (a migration, a hung QEMU monitor) comes back with
// fewer fields, and TimedOut set, instead of stalling the whole sample. A domain that starts
// while the two calls run may be in both and is reported active; one that stops then may be in
// neither and missing from that sample. A call that takes the
// job of a domain whose QEMU then does not answer (SIGSTOPped, wedged) still waits for it
// forever: stats.Sampler asks again on a fresh connection. Drivers without bulk CPU statistics (the test driver) get one info
// call per running domain for CPU time, vCPUs and memory.
func (c *Conn) SampleStats(ctx context.Context) (model.StatsSample, error) {
	var s model.StatsSample
	node, err := call(ctx, c, "host info", c.c.GetNodeInfo)
	if err != nil {
		return s, err
	}
	s.HostCPUs, s.HostMemoryBytes = int(node.Cpus), node.Memory*1024
	recs, err := call(ctx, c, "domain stats", func() ([]rawStats, error) {
		// At once: the daemon encodes the inactive domains' records while the active ones
		// wait for their QEMU monitors.
		var inactive []rawStats
		var inactiveErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			inactive, inactiveErr = allDomainStats(c.c, inactiveGroups, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE)
		}()
		active, err := activeDomainStats(c.c, activeParts, statsGroups, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
		<-done
		if err = cmp.Or(err, inactiveErr); err != nil {
			return nil, err
		}
		return mergeStats(active, inactive), nil
	})
	if err != nil {
		return s, err
	}
	s.Time = time.Now()
	s.VMs = make([]model.VMStats, 0, len(recs))
	for _, r := range recs {
		vm := vmStats(r)
		if vm.CPUTimeNanoseconds == nil && vm.State != StateShutOff {
			if err := c.fillStatsFromInfo(ctx, &vm); err != nil {
				if errs.KindOf(err) == errs.NotFound {
					continue // it went away while we looked
				}
				return s, err
			}
		}
		s.VMs = append(s.VMs, vm)
	}
	return s, nil
}

// mergeStats is active's records and those of inactive that are not also in active (a domain
// that started between the two calls).
func mergeStats(active, inactive []rawStats) []rawStats {
	seen := make(map[string]bool, len(active))
	for _, r := range active {
		seen[r.UUID] = true
	}
	out := active
	for _, r := range inactive {
		if !seen[r.UUID] {
			out = append(out, r)
		}
	}
	return out
}

// vmStats decodes one bulk record; absent fields stay zero or null.
func vmStats(r rawStats) model.VMStats {
	st, _ := r.uint("state.state")
	vm := model.VMStats{Name: r.Name, UUID: r.UUID, ID: r.ID, State: StateName(libvirt.DomainState(st)),
		VCPU: []model.VCPUStats{}, Disks: []model.DiskStats{}, NICs: []model.NICStats{}}
	// QEMU's driver reads the balloon's current size from the definition but the RSS only under
	// the domain's job, which NOWAIT skips when the job is busy: an active domain with the one
	// and not the other did not answer in time, and its block and guest memory figures are
	// missing too. (Drivers without a balloon group, such as the test driver, report neither.)
	_, hasBalloon := r.Params["balloon.current"]
	_, hasRSS := r.Params["balloon.rss"]
	vm.TimedOut = libvirt.DomainState(st) != libvirt.DOMAIN_SHUTOFF && hasBalloon && !hasRSS
	ptr := func(key string, scale uint64) *uint64 {
		if v, ok := r.uint(key); ok {
			v *= scale
			return &v
		}
		return nil
	}
	num := func(key string) uint64 { v, _ := r.uint(key); return v }
	// A shut-off domain used no CPU: what libvirt 9.0 gives as its cpu.* is the daemon's own.
	if libvirt.DomainState(st) != libvirt.DOMAIN_SHUTOFF {
		vm.CPUTimeNanoseconds = ptr("cpu.time", 1)
		vm.CPUUserNanoseconds = ptr("cpu.user", 1)
		vm.CPUSystemNanoseconds = ptr("cpu.system", 1)
	}
	vm.VCPUs, vm.MaxVCPUs = int(num("vcpu.current")), int(num("vcpu.maximum"))
	vm.MemoryBytes, vm.MaxMemoryBytes = num("balloon.current")*1024, num("balloon.maximum")*1024
	vm.MemoryUsableBytes = ptr("balloon.usable", 1024)
	vm.MemoryAvailableBytes = ptr("balloon.available", 1024)
	vm.MemoryUnusedBytes = ptr("balloon.unused", 1024)
	vm.MemoryRSSBytes = ptr("balloon.rss", 1024)
	for i := 0; i < vm.MaxVCPUs; i++ {
		p := fmt.Sprintf("vcpu.%d.", i)
		if _, ok := r.uint(p + "state"); !ok {
			continue // not plugged in
		}
		code := int(num(p + "state"))
		vm.VCPU = append(vm.VCPU, model.VCPUStats{Index: i, State: VCPUStateName(code), StateCode: code, TimeNanoseconds: num(p + "time"),
			WaitNanoseconds: ptr(p+"wait", 1), DelayNanoseconds: ptr(p+"delay", 1)})
	}
	for i := 0; i < int(num("block.count")); i++ {
		p := fmt.Sprintf("block.%d.", i)
		// Without the BACKING flag each entry is one disk's top image; its backingIndex (QEMU
		// with -blockdev reports one for the top image too) is not a reason to skip it.
		// A disk whose counters did not come (its domain's job was busy) says so rather than
		// reporting zeros, which would read as a counter reset.
		_, hasCounters := r.Params[p+"rd.bytes"]
		vm.Disks = append(vm.Disks, model.DiskStats{Name: r.str(p + "name"), Path: r.str(p + "path"), CountersMissing: !hasCounters,
			ReadBytes: num(p + "rd.bytes"), ReadRequests: num(p + "rd.reqs"), ReadTimeNanoseconds: num(p + "rd.times"),
			WriteBytes: num(p + "wr.bytes"), WriteRequests: num(p + "wr.reqs"), WriteTimeNanoseconds: num(p + "wr.times"),
			FlushRequests: num(p + "fl.reqs"), FlushTimeNanoseconds: num(p + "fl.times"),
			CapacityBytes: num(p + "capacity"), AllocationBytes: num(p + "allocation"), PhysicalBytes: num(p + "physical")})
	}
	for i := 0; i < int(num("net.count")); i++ {
		p := fmt.Sprintf("net.%d.", i)
		vm.NICs = append(vm.NICs, model.NICStats{Name: r.str(p + "name"),
			RxBytes: num(p + "rx.bytes"), RxPackets: num(p + "rx.pkts"), RxErrors: num(p + "rx.errs"), RxDrops: num(p + "rx.drop"),
			TxBytes: num(p + "tx.bytes"), TxPackets: num(p + "tx.pkts"), TxErrors: num(p + "tx.errs"), TxDrops: num(p + "tx.drop")})
	}
	return vm
}

// fillStatsFromInfo completes a record of a driver without bulk CPU and balloon statistics.
func (c *Conn) fillStatsFromInfo(ctx context.Context, vm *model.VMStats) error {
	d, err := c.Domain(ctx, vm.Name)
	if err != nil {
		return err
	}
	defer d.Free()
	info, err := call(ctx, c, "info "+vm.Name, d.d.GetInfo)
	if err != nil {
		return err
	}
	ns := info.CpuTime
	vm.CPUTimeNanoseconds = &ns
	if vm.VCPUs == 0 {
		vm.VCPUs = int(info.NrVirtCpu)
	}
	if vm.MaxVCPUs == 0 {
		vm.MaxVCPUs = vm.VCPUs
	}
	if vm.MemoryBytes == 0 {
		vm.MemoryBytes, vm.MaxMemoryBytes = info.Memory*1024, info.MaxMem*1024
	}
	return nil
}

// VCPUStateName is the contract's word for libvirt's vCPU state (virVcpuState).
func VCPUStateName(code int) string {
	switch code {
	case int(libvirt.VCPU_OFFLINE):
		return "offline"
	case int(libvirt.VCPU_RUNNING):
		return "running"
	case int(libvirt.VCPU_BLOCKED):
		return "blocked"
	}
	return "unknown"
}
