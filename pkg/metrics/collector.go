// Package metrics exposes model.StatsSample in Prometheus's format, under the metric names of
// the libvirt exporters people already run (kumina/libvirt_exporter, inovex's and Tinkoff's), so
// existing dashboards keep working. Value series carry only domain and uuid (and the device
// for block, interface and vCPU series); descriptive labels such as a disk's file go to _info
// series, so a renamed file does not start new value series.
package metrics

import (
	"context"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/prometheus/client_golang/prometheus"
)

// Sampler takes one bulk sample of every VM of a host (stats.Sample on a connection).
type Sampler func(ctx context.Context) (model.StatsSample, error)

// Collector is a prometheus.Collector that takes one sample per scrape, bounded by Timeout: a
// daemon that does not answer in time gives libvirt_up 0, not a stalled scrape.
type Collector struct {
	Sample  Sampler
	Timeout time.Duration
	Version string
	Commit  string
	// Images lists the image stores' images (nil: none exported); read at every scrape.
	Images func() []Image
}

// Image is one stored image as the metrics see it: when it was last verified (zero: never).
type Image struct {
	Store, Name  string
	LastVerified time.Time
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dom    = []string{"domain", "uuid"}
	dev    = []string{"domain", "uuid", "target_device"}
	vcpuLb = []string{"domain", "uuid", "vcpu"}

	descUp       = desc("libvirt_up", "Whether libvirt answered this scrape's bulk statistics call in time (1) or not (0).")
	descDuration = desc("hvctl_scrape_duration_seconds", "How long this scrape's libvirt sample took.")
	descBuild    = desc("hvctl_build_info", "hvctl's version; always 1.", "version", "revision", "goversion")
	descDomains  = desc("libvirt_domains", "Number of domains libvirt reported, running or not.")

	descTimedOut  = desc("libvirt_domain_timed_out", "Whether libvirt could not read this domain's QEMU in time this scrape (1: it is hung, stopped or busy with another job; its block and memory series are missing) or could (0).", dom...)
	descState     = desc("libvirt_domain_info_state", "Domain state as virDomainState: 1 running, 3 paused, 5 shut off, ...", dom...)
	descMaxMem    = desc("libvirt_domain_info_maximum_memory_bytes", "Maximum memory of the domain (balloon maximum).", dom...)
	descMem       = desc("libvirt_domain_info_memory_usage_bytes", "Memory the domain has now (balloon current).", dom...)
	descVCPUs     = desc("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs in use.", dom...)
	descCPUTime   = desc("libvirt_domain_info_cpu_time_seconds_total", "CPU time the domain used, hypervisor threads included.", dom...)
	descCPUUser   = desc("libvirt_domain_info_cpu_user_seconds_total", "User CPU time the domain used.", dom...)
	descCPUSystem = desc("libvirt_domain_info_cpu_system_seconds_total", "System CPU time the domain used.", dom...)
	descVCPUCur   = desc("libvirt_domain_vcpu_current", "Number of virtual CPUs online.", dom...)
	descVCPUMax   = desc("libvirt_domain_vcpu_maximum", "Number of virtual CPUs the domain may have.", dom...)
	descVCPUState = desc("libvirt_domain_vcpu_state", "State of a virtual CPU as virVcpuState: 0 offline, 1 running, 2 blocked.", vcpuLb...)
	descVCPUTime  = desc("libvirt_domain_vcpu_time_seconds_total", "Time a virtual CPU ran.", vcpuLb...)
	descVCPUWait  = desc("libvirt_domain_vcpu_wait_seconds_total", "Time a virtual CPU was runnable but waited for a host CPU.", vcpuLb...)
	descVCPUDelay = desc("libvirt_domain_vcpu_delay_seconds_total", "Time a virtual CPU waited in the host's run queue (steal time seen by the guest).", vcpuLb...)
	descBalloon   = desc("libvirt_domain_memory_stats_actual_balloon_bytes", "Current balloon size.", dom...)
	descAvailable = desc("libvirt_domain_memory_stats_available_bytes", "Memory the guest sees as total (guest-reported).", dom...)
	descUsable    = desc("libvirt_domain_memory_stats_usable_bytes", "Memory the guest can use without swapping (guest-reported).", dom...)
	descUnused    = desc("libvirt_domain_memory_stats_unused_bytes", "Memory the guest leaves unused (guest-reported).", dom...)
	descRSS       = desc("libvirt_domain_memory_stats_rss_bytes", "Resident memory of the QEMU process.", dom...)
	descBlockInfo = desc("libvirt_domain_block_stats_info", "A disk's source; always 1.", "domain", "uuid", "target_device", "source_file")
	descRdBytes   = desc("libvirt_domain_block_stats_read_bytes_total", "Bytes read from a disk.", dev...)
	descRdReqs    = desc("libvirt_domain_block_stats_read_requests_total", "Read requests to a disk.", dev...)
	descRdTime    = desc("libvirt_domain_block_stats_read_time_seconds_total", "Time spent reading a disk.", dev...)
	descWrBytes   = desc("libvirt_domain_block_stats_write_bytes_total", "Bytes written to a disk.", dev...)
	descWrReqs    = desc("libvirt_domain_block_stats_write_requests_total", "Write requests to a disk.", dev...)
	descWrTime    = desc("libvirt_domain_block_stats_write_time_seconds_total", "Time spent writing a disk.", dev...)
	descFlReqs    = desc("libvirt_domain_block_stats_flush_requests_total", "Flush requests to a disk.", dev...)
	descFlTime    = desc("libvirt_domain_block_stats_flush_time_seconds_total", "Time spent flushing a disk.", dev...)
	descCapacity  = desc("libvirt_domain_block_stats_capacity_bytes", "Size of a disk as the guest sees it.", dev...)
	descAlloc     = desc("libvirt_domain_block_stats_allocation_bytes", "Highest offset written in a disk's image.", dev...)
	descPhysical  = desc("libvirt_domain_block_stats_physicalsize_bytes", "Size of a disk's image on the host.", dev...)
	descRxBytes   = desc("libvirt_domain_interface_stats_receive_bytes_total", "Bytes received by an interface (host side).", dev...)
	descRxPackets = desc("libvirt_domain_interface_stats_receive_packets_total", "Packets received by an interface.", dev...)
	descRxErrors  = desc("libvirt_domain_interface_stats_receive_errors_total", "Receive errors of an interface.", dev...)
	descRxDrops   = desc("libvirt_domain_interface_stats_receive_drops_total", "Received packets an interface dropped.", dev...)
	descTxBytes   = desc("libvirt_domain_interface_stats_transmit_bytes_total", "Bytes sent by an interface (host side).", dev...)
	descTxPackets = desc("libvirt_domain_interface_stats_transmit_packets_total", "Packets sent by an interface.", dev...)
	descTxErrors  = desc("libvirt_domain_interface_stats_transmit_errors_total", "Transmit errors of an interface.", dev...)
	descTxDrops   = desc("libvirt_domain_interface_stats_transmit_drops_total", "Packets to send an interface dropped.", dev...)
	// Pool names as the libvirt exporters (inovex's, Vector's libvirt source) export them.
	descPoolState = desc("libvirt_pool_info_active", "Whether a storage pool is active (1) or not (0).", "pool")
	descPoolCap   = desc("libvirt_pool_info_capacity_bytes", "Size of an active storage pool.", "pool")
	descPoolAlloc = desc("libvirt_pool_info_allocation_bytes", "Space allocated in an active storage pool.", "pool")
	descPoolAvail = desc("libvirt_pool_info_available_bytes", "Space left in an active storage pool.", "pool")
	// A timestamp, not an age (Prometheus's instrumentation practice): it stays right however
	// long a textfile sits before node_exporter serves it; the age is time() - this.
	descImageVerified = desc("hvctl_image_last_verified_timestamp_seconds", "When a stored image was last verified (signed checksum at pull or import, or an unchanged re-hash by isoctl verify), as a Unix time; 0 if never.", "store", "image")
	allDescs          = []*prometheus.Desc{descImageVerified, descPoolState, descPoolCap, descPoolAlloc, descPoolAvail, descUp, descDuration, descBuild, descDomains, descTimedOut, descState, descMaxMem, descMem, descVCPUs,
		descCPUTime, descCPUUser, descCPUSystem, descVCPUCur, descVCPUMax, descVCPUState, descVCPUTime, descVCPUWait, descVCPUDelay,
		descBalloon, descAvailable, descUsable, descUnused, descRSS, descBlockInfo, descRdBytes, descRdReqs, descRdTime, descWrBytes,
		descWrReqs, descWrTime, descFlReqs, descFlTime, descCapacity, descAlloc, descPhysical, descRxBytes, descRxPackets, descRxErrors,
		descRxDrops, descTxBytes, descTxPackets, descTxErrors, descTxDrops}
)

// Describe sends every metric the collector may produce.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// stateNumber maps hvctl's state names back to virDomainState, the number the exporters export.
var stateNumber = map[string]float64{"no_state": 0, "running": 1, "blocked": 2, "paused": 3, "shutting_down": 4,
	"shut_off": 5, "crashed": 6, "pm_suspended": 7}

// Collect takes one sample and sends it.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.Version, c.Commit, runtime.Version())
	if c.Images != nil {
		// The stores are on this host: they are reported whether libvirt answers or not.
		for _, im := range c.Images() {
			ts := 0.0
			if !im.LastVerified.IsZero() {
				ts = float64(im.LastVerified.Unix())
			}
			ch <- prometheus.MustNewConstMetric(descImageVerified, prometheus.GaugeValue, ts, im.Store, im.Name)
		}
	}
	ctx := context.Background()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	s, err := c.Sample(ctx)
	ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, time.Since(start).Seconds())
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descDomains, prometheus.GaugeValue, float64(len(s.VMs)))
	for _, v := range s.VMs {
		collectVM(ch, v)
	}
	for _, p := range s.Pools {
		active := 0.0
		if p.Active {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(descPoolState, prometheus.GaugeValue, active, p.Name)
		if p.Active {
			ch <- prometheus.MustNewConstMetric(descPoolCap, prometheus.GaugeValue, float64(p.CapacityBytes), p.Name)
			ch <- prometheus.MustNewConstMetric(descPoolAlloc, prometheus.GaugeValue, float64(p.AllocationBytes), p.Name)
			ch <- prometheus.MustNewConstMetric(descPoolAvail, prometheus.GaugeValue, float64(p.AvailableBytes), p.Name)
		}
	}
}

func collectVM(ch chan<- prometheus.Metric, v model.VMStats) {
	gauge := func(d *prometheus.Desc, val float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, val, labels...)
	}
	count := func(d *prometheus.Desc, val float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, val, labels...)
	}
	opt := func(d *prometheus.Desc, p *uint64, scale float64, counter bool, labels ...string) {
		if p == nil {
			return
		}
		if counter {
			count(d, float64(*p)*scale, labels...)
		} else {
			gauge(d, float64(*p)*scale, labels...)
		}
	}
	const ns = 1e-9
	id := []string{v.Name, v.UUID}
	timedOut := 0.0
	if v.TimedOut {
		timedOut = 1
	}
	gauge(descTimedOut, timedOut, id...)
	if n, ok := stateNumber[v.State]; ok {
		gauge(descState, n, id...)
	}
	gauge(descMaxMem, float64(v.MaxMemoryBytes), id...)
	gauge(descMem, float64(v.MemoryBytes), id...)
	gauge(descVCPUs, float64(v.VCPUs), id...)
	opt(descCPUTime, v.CPUTimeNanoseconds, ns, true, id...)
	opt(descCPUUser, v.CPUUserNanoseconds, ns, true, id...)
	opt(descCPUSystem, v.CPUSystemNanoseconds, ns, true, id...)
	if v.State == "shut_off" {
		return // an inactive domain has no live counters
	}
	gauge(descVCPUCur, float64(v.VCPUs), id...)
	gauge(descVCPUMax, float64(v.MaxVCPUs), id...)
	for _, c := range v.VCPU {
		l := append(id[:2:2], strconv.Itoa(c.Index))
		gauge(descVCPUState, float64(c.State), l...)
		count(descVCPUTime, float64(c.TimeNanoseconds)*ns, l...)
		opt(descVCPUWait, c.WaitNanoseconds, ns, true, l...)
		opt(descVCPUDelay, c.DelayNanoseconds, ns, true, l...)
	}
	gauge(descBalloon, float64(v.MemoryBytes), id...)
	opt(descAvailable, v.MemoryAvailableBytes, 1, false, id...)
	opt(descUsable, v.MemoryUsableBytes, 1, false, id...)
	opt(descUnused, v.MemoryUnusedBytes, 1, false, id...)
	opt(descRSS, v.MemoryRSSBytes, 1, false, id...)
	for _, d := range v.Disks {
		l := append(id[:2:2], d.Name)
		gauge(descBlockInfo, 1, v.Name, v.UUID, d.Name, d.Path)
		if d.CountersMissing {
			continue // absent, not 0: a 0 would read as a counter reset
		}
		count(descRdBytes, float64(d.ReadBytes), l...)
		count(descRdReqs, float64(d.ReadRequests), l...)
		count(descRdTime, float64(d.ReadTimeNanoseconds)*ns, l...)
		count(descWrBytes, float64(d.WriteBytes), l...)
		count(descWrReqs, float64(d.WriteRequests), l...)
		count(descWrTime, float64(d.WriteTimeNanoseconds)*ns, l...)
		count(descFlReqs, float64(d.FlushRequests), l...)
		count(descFlTime, float64(d.FlushTimeNanoseconds)*ns, l...)
		gauge(descCapacity, float64(d.CapacityBytes), l...)
		gauge(descAlloc, float64(d.AllocationBytes), l...)
		gauge(descPhysical, float64(d.PhysicalBytes), l...)
	}
	for _, n := range v.NICs {
		l := append(id[:2:2], n.Name)
		count(descRxBytes, float64(n.RxBytes), l...)
		count(descRxPackets, float64(n.RxPackets), l...)
		count(descRxErrors, float64(n.RxErrors), l...)
		count(descRxDrops, float64(n.RxDrops), l...)
		count(descTxBytes, float64(n.TxBytes), l...)
		count(descTxPackets, float64(n.TxPackets), l...)
		count(descTxErrors, float64(n.TxErrors), l...)
		count(descTxDrops, float64(n.TxDrops), l...)
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// MetricNames lists every metric name the collector may emit, sorted: the dashboard's test
// checks its queries against it.
func MetricNames() []string {
	var out []string
	for _, d := range allDescs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}
