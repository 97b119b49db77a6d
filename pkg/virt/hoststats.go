package virt

import (
	"context"
	"time"

	"libvirt.org/go/libvirt"
)

// HostCounters are the host's own CPU time and memory use, summed over all CPUs and NUMA
// cells, as libvirt's node statistics give them. A field is nil when the driver does not
// report it (the test driver has no memory statistics); CPU times are cumulative, so a busy
// share needs two samples (see HostCPUBusyPercent).
type HostCounters struct {
	Time                 time.Time
	CPUKernelNanoseconds *uint64
	CPUUserNanoseconds   *uint64
	CPUIdleNanoseconds   *uint64
	CPUIowaitNanoseconds *uint64
	MemoryTotalBytes     *uint64
	MemoryFreeBytes      *uint64
	MemoryBuffersBytes   *uint64
	MemoryCachedBytes    *uint64
}

// MemoryUsedBytes is what the host's programs and guests hold: total less free, buffers and
// page cache (what free(1) calls used); nil when the driver reports no memory statistics.
func (h HostCounters) MemoryUsedBytes() *uint64 {
	if h.MemoryTotalBytes == nil || h.MemoryFreeBytes == nil {
		return nil
	}
	spare := *h.MemoryFreeBytes
	for _, p := range []*uint64{h.MemoryBuffersBytes, h.MemoryCachedBytes} {
		if p != nil {
			spare += *p
		}
	}
	used := uint64(0)
	if *h.MemoryTotalBytes > spare {
		used = *h.MemoryTotalBytes - spare
	}
	return &used
}

// HostCPUBusyPercent is the share of all host CPUs spent in user and kernel code between two
// samples (iowait counts as idle, as top(1) does); nil when either sample lacks the counters
// or no time passed in them (the test driver's counters do not move).
func HostCPUBusyPercent(prev, cur HostCounters) *float64 {
	parts := func(h HostCounters) (busy, total uint64, ok bool) {
		if h.CPUKernelNanoseconds == nil || h.CPUUserNanoseconds == nil || h.CPUIdleNanoseconds == nil {
			return 0, 0, false
		}
		busy = *h.CPUKernelNanoseconds + *h.CPUUserNanoseconds
		total = busy + *h.CPUIdleNanoseconds
		if h.CPUIowaitNanoseconds != nil {
			total += *h.CPUIowaitNanoseconds
		}
		return busy, total, true
	}
	pb, pt, ok1 := parts(prev)
	cb, ct, ok2 := parts(cur)
	if !ok1 || !ok2 || ct <= pt || cb < pb {
		return nil
	}
	p := 100 * float64(cb-pb) / float64(ct-pt)
	return &p
}

// HostCounters reads the host's CPU times and memory in two calls (virNodeGetCPUStats and
// virNodeGetMemoryStats over all CPUs and cells); what the driver does not support is left nil.
func (c *Conn) HostCounters(ctx context.Context) (HostCounters, error) {
	return call(ctx, c, "host statistics", func() (HostCounters, error) {
		h := HostCounters{Time: time.Now()}
		opt := func(set bool, v, scale uint64) *uint64 {
			if !set {
				return nil
			}
			v *= scale
			return &v
		}
		cpu, err := c.c.GetCPUStats(int(libvirt.NODE_CPU_STATS_ALL_CPUS), 0)
		switch {
		case err == nil:
			h.CPUKernelNanoseconds = opt(cpu.KernelSet, cpu.Kernel, 1)
			h.CPUUserNanoseconds = opt(cpu.UserSet, cpu.User, 1)
			h.CPUIdleNanoseconds = opt(cpu.IdleSet, cpu.Idle, 1)
			h.CPUIowaitNanoseconds = opt(cpu.IowaitSet, cpu.Iowait, 1)
		case !IsCode(err, libvirt.ERR_NO_SUPPORT):
			return h, err
		}
		mem, err := c.c.GetMemoryStats(libvirt.NODE_MEMORY_STATS_ALL_CELLS, 0)
		switch {
		case err == nil: // libvirt reports KiB
			h.MemoryTotalBytes = opt(mem.TotalSet, mem.Total, 1024)
			h.MemoryFreeBytes = opt(mem.FreeSet, mem.Free, 1024)
			h.MemoryBuffersBytes = opt(mem.BuffersSet, mem.Buffers, 1024)
			h.MemoryCachedBytes = opt(mem.CachedSet, mem.Cached, 1024)
		case !IsCode(err, libvirt.ERR_NO_SUPPORT):
			return h, err
		}
		return h, nil
	})
}
