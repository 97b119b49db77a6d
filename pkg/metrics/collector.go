// Package metrics exposes model.StatsSample in Prometheus's format, under the metric names of
// the libvirt exporters people already run (kumina/libvirt_exporter, inovex's and Tinkoff's), so
// existing dashboards keep working. Value series carry only domain and uuid (and the device
// for block, interface and vCPU series); descriptive labels such as a disk's file go to _info
// series, so a renamed file does not start new value series.
//
// A scrape builds client_model's metric families directly and encodes them with
// prometheus/common's expfmt: going through client_golang's const metrics and registry cost
// a host with 1000 domains more than libvirt's calls did (each series's labels validated,
// copied, sorted and hashed again), and the series here are consistent by construction.
package metrics

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyper-nixos/hvctl/pkg/model"
	dto "github.com/prometheus/client_model/go"
)

// Sampler takes one bulk sample of every VM of a host (stats.Sample on a connection).
type Sampler func(ctx context.Context) (model.StatsSample, error)

// Collector takes one sample per scrape, bounded by Timeout: a daemon that does not answer in
// time gives libvirt_up 0, not a stalled scrape. It is a prometheus.Gatherer.
type Collector struct {
	Sample  Sampler
	Timeout time.Duration
	Version string
	Commit  string
	// Images lists the image stores' images (nil: none exported); read at every scrape.
	Images func() []Image
	// SampleFailed, when set, hears why a scrape's sample failed (the scrape says libvirt_up 0):
	// a one-shot command tells the person or the timer's journal.
	SampleFailed func(error)
}

// Image is one stored image as the metrics see it: when it was last verified (zero: never).
type Image struct {
	Store, Name  string
	LastVerified time.Time
}

// metric is one exported metric. Its label names are in the order series carry them, which is
// Prometheus's: sorted.
type metric struct {
	name, help string
	typ        dto.MetricType
	labels     []string
	index      int // in allMetrics
}

func gauge(name, help string, labels ...string) *metric {
	return &metric{name: name, help: help, typ: dto.MetricType_GAUGE, labels: labels}
}

func counter(name, help string, labels ...string) *metric {
	return &metric{name: name, help: help, typ: dto.MetricType_COUNTER, labels: labels}
}

var (
	dom    = []string{"domain", "uuid"}
	dev    = []string{"domain", "target_device", "uuid"}
	vcpuLb = []string{"domain", "uuid", "vcpu"}

	mUp       = gauge("libvirt_up", "Whether libvirt answered this scrape's bulk statistics call in time (1) or not (0).")
	mDuration = gauge("hvctl_scrape_duration_seconds", "How long this scrape's libvirt sample took.")
	mBuild    = gauge("hvctl_build_info", "hvctl's version; always 1.", "goversion", "revision", "version")
	mDomains  = gauge("libvirt_domains", "Number of domains libvirt reported, running or not.")

	mTimedOut  = gauge("libvirt_domain_timed_out", "Whether libvirt could not read this domain's QEMU in time this scrape (1: it is hung, stopped or busy with another job; its block and memory series are missing) or could (0).", dom...)
	mState     = gauge("libvirt_domain_info_state", "Domain state as virDomainState: 1 running, 3 paused, 5 shut off, ...", dom...)
	mMaxMem    = gauge("libvirt_domain_info_maximum_memory_bytes", "Maximum memory of the domain (balloon maximum).", dom...)
	mMem       = gauge("libvirt_domain_info_memory_usage_bytes", "Memory the domain has now (balloon current).", dom...)
	mVCPUs     = gauge("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs in use.", dom...)
	mCPUTime   = counter("libvirt_domain_info_cpu_time_seconds_total", "CPU time the domain used, hypervisor threads included.", dom...)
	mCPUUser   = counter("libvirt_domain_info_cpu_user_seconds_total", "User CPU time the domain used.", dom...)
	mCPUSystem = counter("libvirt_domain_info_cpu_system_seconds_total", "System CPU time the domain used.", dom...)
	mVCPUCur   = gauge("libvirt_domain_vcpu_current", "Number of virtual CPUs online.", dom...)
	mVCPUMax   = gauge("libvirt_domain_vcpu_maximum", "Number of virtual CPUs the domain may have.", dom...)
	mVCPUState = gauge("libvirt_domain_vcpu_state", "State of a virtual CPU as virVcpuState: 0 offline, 1 running, 2 blocked.", vcpuLb...)
	mVCPUTime  = counter("libvirt_domain_vcpu_time_seconds_total", "Time a virtual CPU ran.", vcpuLb...)
	mVCPUWait  = counter("libvirt_domain_vcpu_wait_seconds_total", "Time a virtual CPU was runnable but waited for a host CPU.", vcpuLb...)
	mVCPUDelay = counter("libvirt_domain_vcpu_delay_seconds_total", "Time a virtual CPU waited in the host's run queue (steal time seen by the guest).", vcpuLb...)
	mBalloon   = gauge("libvirt_domain_memory_stats_actual_balloon_bytes", "Current balloon size.", dom...)
	mAvailable = gauge("libvirt_domain_memory_stats_available_bytes", "Memory the guest sees as total (guest-reported).", dom...)
	mUsable    = gauge("libvirt_domain_memory_stats_usable_bytes", "Memory the guest can use without swapping (guest-reported).", dom...)
	mUnused    = gauge("libvirt_domain_memory_stats_unused_bytes", "Memory the guest leaves unused (guest-reported).", dom...)
	mRSS       = gauge("libvirt_domain_memory_stats_rss_bytes", "Resident memory of the QEMU process.", dom...)
	mBlockInfo = gauge("libvirt_domain_block_stats_info", "A disk's source; always 1.", "domain", "source_file", "target_device", "uuid")
	mRdBytes   = counter("libvirt_domain_block_stats_read_bytes_total", "Bytes read from a disk.", dev...)
	mRdReqs    = counter("libvirt_domain_block_stats_read_requests_total", "Read requests to a disk.", dev...)
	mRdTime    = counter("libvirt_domain_block_stats_read_time_seconds_total", "Time spent reading a disk.", dev...)
	mWrBytes   = counter("libvirt_domain_block_stats_write_bytes_total", "Bytes written to a disk.", dev...)
	mWrReqs    = counter("libvirt_domain_block_stats_write_requests_total", "Write requests to a disk.", dev...)
	mWrTime    = counter("libvirt_domain_block_stats_write_time_seconds_total", "Time spent writing a disk.", dev...)
	mFlReqs    = counter("libvirt_domain_block_stats_flush_requests_total", "Flush requests to a disk.", dev...)
	mFlTime    = counter("libvirt_domain_block_stats_flush_time_seconds_total", "Time spent flushing a disk.", dev...)
	mCapacity  = gauge("libvirt_domain_block_stats_capacity_bytes", "Size of a disk as the guest sees it.", dev...)
	mAlloc     = gauge("libvirt_domain_block_stats_allocation_bytes", "Highest offset written in a disk's image.", dev...)
	mPhysical  = gauge("libvirt_domain_block_stats_physicalsize_bytes", "Size of a disk's image on the host.", dev...)
	mRxBytes   = counter("libvirt_domain_interface_stats_receive_bytes_total", "Bytes received by an interface (host side).", dev...)
	mRxPackets = counter("libvirt_domain_interface_stats_receive_packets_total", "Packets received by an interface.", dev...)
	mRxErrors  = counter("libvirt_domain_interface_stats_receive_errors_total", "Receive errors of an interface.", dev...)
	mRxDrops   = counter("libvirt_domain_interface_stats_receive_drops_total", "Received packets an interface dropped.", dev...)
	mTxBytes   = counter("libvirt_domain_interface_stats_transmit_bytes_total", "Bytes sent by an interface (host side).", dev...)
	mTxPackets = counter("libvirt_domain_interface_stats_transmit_packets_total", "Packets sent by an interface.", dev...)
	mTxErrors  = counter("libvirt_domain_interface_stats_transmit_errors_total", "Transmit errors of an interface.", dev...)
	mTxDrops   = counter("libvirt_domain_interface_stats_transmit_drops_total", "Packets to send an interface dropped.", dev...)
	// Pool names as the libvirt exporters (inovex's, Vector's libvirt source) export them.
	mPoolState = gauge("libvirt_pool_info_active", "Whether a storage pool is active (1) or not (0).", "pool")
	mPoolCap   = gauge("libvirt_pool_info_capacity_bytes", "Size of an active storage pool.", "pool")
	mPoolAlloc = gauge("libvirt_pool_info_allocation_bytes", "Space allocated in an active storage pool.", "pool")
	mPoolAvail = gauge("libvirt_pool_info_available_bytes", "Space left in an active storage pool.", "pool")
	// A timestamp, not an age (Prometheus's instrumentation practice): it stays right however
	// long a textfile sits before node_exporter serves it; the age is time() - this.
	mImageVerified = gauge("hvctl_image_last_verified_timestamp_seconds", "When a stored image was last verified (signed checksum at pull or import, or an unchanged re-hash by isoctl verify), as a Unix time; 0 if never.", "image", "store")

	// allMetrics is every metric, sorted by name: the order of a scrape's families.
	allMetrics = sortedMetrics(mImageVerified, mPoolState, mPoolCap, mPoolAlloc, mPoolAvail, mUp, mDuration, mBuild, mDomains, mTimedOut, mState, mMaxMem, mMem, mVCPUs,
		mCPUTime, mCPUUser, mCPUSystem, mVCPUCur, mVCPUMax, mVCPUState, mVCPUTime, mVCPUWait, mVCPUDelay,
		mBalloon, mAvailable, mUsable, mUnused, mRSS, mBlockInfo, mRdBytes, mRdReqs, mRdTime, mWrBytes,
		mWrReqs, mWrTime, mFlReqs, mFlTime, mCapacity, mAlloc, mPhysical, mRxBytes, mRxPackets, mRxErrors,
		mRxDrops, mTxBytes, mTxPackets, mTxErrors, mTxDrops)
)

func sortedMetrics(ms ...*metric) []*metric {
	slices.SortFunc(ms, func(a, b *metric) int { return strings.Compare(a.name, b.name) })
	for i, m := range ms {
		m.index = i
	}
	return ms
}

// stateNumber maps hvctl's state names back to virDomainState, the number the exporters export.
var stateNumber = map[string]float64{"no_state": 0, "running": 1, "blocked": 2, "paused": 3, "shutting_down": 4,
	"shut_off": 5, "crashed": 6, "pm_suspended": 7}

// series collects one scrape's series, by metric.
type series [][]*dto.Metric

// add appends one series of m. labels are m's, in m's order; they may be shared with other
// series (nothing changes them once built).
func (s series) add(m *metric, v float64, labels ...*dto.LabelPair) {
	sm := &dto.Metric{Label: labels}
	if m.typ == dto.MetricType_COUNTER {
		sm.Counter = &dto.Counter{Value: &v}
	} else {
		sm.Gauge = &dto.Gauge{Value: &v}
	}
	s[m.index] = append(s[m.index], sm)
}

// label is one label pair. Label values must be UTF-8 in the exposition; a name that is not
// (a file name, say) is exported with U+FFFD for its bad bytes rather than failing the scrape.
func label(name *string, value string) *dto.LabelPair {
	if !utf8.ValidString(value) {
		value = strings.ToValidUTF8(value, "\uFFFD")
	}
	return &dto.LabelPair{Name: name, Value: &value}
}

// Label names, shared by every series's label pairs.
var (
	lDomain, lUUID, lDevice, lSource, lVCPU, lPool  = "domain", "uuid", "target_device", "source_file", "vcpu", "pool"
	lImage, lStore, lGoVersion, lRevision, lVersion = "image", "store", "goversion", "revision", "version"
)

// families turns the series into metric families, sorted by name, each one's series sorted
// by their label values, as client_golang's registry orders them; metrics with no series are
// left out.
func (s series) families() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(allMetrics))
	for _, m := range allMetrics {
		ms := s[m.index]
		if len(ms) == 0 {
			continue
		}
		slices.SortStableFunc(ms, compareLabels)
		typ := m.typ
		out = append(out, &dto.MetricFamily{Name: &m.name, Help: &m.help, Type: &typ, Metric: ms})
	}
	return out
}

func compareLabels(a, b *dto.Metric) int {
	for i := range min(len(a.Label), len(b.Label)) {
		if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(a.Label) - len(b.Label)
}

// Gather takes one sample and returns it as metric families.
func (c *Collector) Gather() ([]*dto.MetricFamily, error) {
	s := make(series, len(allMetrics))
	s.add(mBuild, 1, label(&lGoVersion, runtime.Version()), label(&lRevision, c.Commit), label(&lVersion, c.Version))
	if c.Images != nil {
		// The stores are on this host: they are reported whether libvirt answers or not.
		for _, im := range c.Images() {
			ts := 0.0
			if !im.LastVerified.IsZero() {
				ts = float64(im.LastVerified.Unix())
			}
			s.add(mImageVerified, ts, label(&lImage, im.Name), label(&lStore, im.Store))
		}
	}
	ctx := context.Background()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	smp, err := c.Sample(ctx)
	s.add(mDuration, time.Since(start).Seconds())
	if err != nil {
		if c.SampleFailed != nil {
			c.SampleFailed(err)
		}
		s.add(mUp, 0)
		return s.families(), nil
	}
	s.add(mUp, 1)
	s.add(mDomains, float64(len(smp.VMs)))
	for _, v := range smp.VMs {
		s.addVM(v)
	}
	for _, p := range smp.Pools {
		pool := label(&lPool, p.Name)
		active := 0.0
		if p.Active {
			active = 1
		}
		s.add(mPoolState, active, pool)
		if p.Active {
			s.add(mPoolCap, float64(p.CapacityBytes), pool)
			s.add(mPoolAlloc, float64(p.AllocationBytes), pool)
			s.add(mPoolAvail, float64(p.AvailableBytes), pool)
		}
	}
	return s.families(), nil
}

func (s series) addVM(v model.VMStats) {
	const ns = 1e-9
	opt := func(m *metric, p *uint64, scale float64, labels ...*dto.LabelPair) {
		if p != nil {
			s.add(m, float64(*p)*scale, labels...)
		}
	}
	domain, uuid := label(&lDomain, v.Name), label(&lUUID, v.UUID)
	id := []*dto.LabelPair{domain, uuid}
	timedOut := 0.0
	if v.TimedOut {
		timedOut = 1
	}
	s.add(mTimedOut, timedOut, id...)
	if n, ok := stateNumber[v.State]; ok {
		s.add(mState, n, id...)
	}
	s.add(mMaxMem, float64(v.MaxMemoryBytes), id...)
	s.add(mMem, float64(v.MemoryBytes), id...)
	s.add(mVCPUs, float64(v.VCPUs), id...)
	opt(mCPUTime, v.CPUTimeNanoseconds, ns, id...)
	opt(mCPUUser, v.CPUUserNanoseconds, ns, id...)
	opt(mCPUSystem, v.CPUSystemNanoseconds, ns, id...)
	if v.State == "shut_off" {
		return // an inactive domain has no live counters
	}
	s.add(mVCPUCur, float64(v.VCPUs), id...)
	s.add(mVCPUMax, float64(v.MaxVCPUs), id...)
	for _, c := range v.VCPU {
		l := []*dto.LabelPair{domain, uuid, label(&lVCPU, strconv.Itoa(c.Index))}
		s.add(mVCPUState, float64(c.StateCode), l...)
		s.add(mVCPUTime, float64(c.TimeNanoseconds)*ns, l...)
		opt(mVCPUWait, c.WaitNanoseconds, ns, l...)
		opt(mVCPUDelay, c.DelayNanoseconds, ns, l...)
	}
	s.add(mBalloon, float64(v.MemoryBytes), id...)
	opt(mAvailable, v.MemoryAvailableBytes, 1, id...)
	opt(mUsable, v.MemoryUsableBytes, 1, id...)
	opt(mUnused, v.MemoryUnusedBytes, 1, id...)
	opt(mRSS, v.MemoryRSSBytes, 1, id...)
	for _, d := range v.Disks {
		device := label(&lDevice, d.Name)
		s.add(mBlockInfo, 1, domain, label(&lSource, d.Path), device, uuid)
		if d.CountersMissing {
			continue // absent, not 0: a 0 would read as a counter reset
		}
		l := []*dto.LabelPair{domain, device, uuid}
		s.add(mRdBytes, float64(d.ReadBytes), l...)
		s.add(mRdReqs, float64(d.ReadRequests), l...)
		s.add(mRdTime, float64(d.ReadTimeNanoseconds)*ns, l...)
		s.add(mWrBytes, float64(d.WriteBytes), l...)
		s.add(mWrReqs, float64(d.WriteRequests), l...)
		s.add(mWrTime, float64(d.WriteTimeNanoseconds)*ns, l...)
		s.add(mFlReqs, float64(d.FlushRequests), l...)
		s.add(mFlTime, float64(d.FlushTimeNanoseconds)*ns, l...)
		s.add(mCapacity, float64(d.CapacityBytes), l...)
		s.add(mAlloc, float64(d.AllocationBytes), l...)
		s.add(mPhysical, float64(d.PhysicalBytes), l...)
	}
	for _, n := range v.NICs {
		l := []*dto.LabelPair{domain, label(&lDevice, n.Name), uuid}
		s.add(mRxBytes, float64(n.RxBytes), l...)
		s.add(mRxPackets, float64(n.RxPackets), l...)
		s.add(mRxErrors, float64(n.RxErrors), l...)
		s.add(mRxDrops, float64(n.RxDrops), l...)
		s.add(mTxBytes, float64(n.TxBytes), l...)
		s.add(mTxPackets, float64(n.TxPackets), l...)
		s.add(mTxErrors, float64(n.TxErrors), l...)
		s.add(mTxDrops, float64(n.TxDrops), l...)
	}
}

// MetricNames lists every metric name the collector may emit, sorted: the dashboard's test
// checks its queries against it.
func MetricNames() []string {
	out := make([]string, 0, len(allMetrics))
	for _, m := range allMetrics {
		out = append(out, m.name)
	}
	return out
}
