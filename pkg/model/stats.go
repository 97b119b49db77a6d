package model

import "time"

// VMStats is one VM's counters from one bulk statistics sample (virConnectGetAllDomainStats),
// in the units libvirt counts them, named with their unit. Pointers are null when the driver or
// the guest did not report the value (guest-side memory needs the virtio balloon driver and a
// stats period).
type VMStats struct {
	Name                 string      `json:"name"`
	UUID                 string      `json:"uuid"`
	ID                   *int        `json:"id"` // libvirt's run ID, new at each start (a restart resets the counters); null when not running
	State                string      `json:"state"`
	VCPUs                int         `json:"vcpus"`
	MaxVCPUs             int         `json:"max_vcpus"`
	CPUTimeNanoseconds   *uint64     `json:"cpu_time_nanoseconds"` // hypervisor + vCPU threads, cumulative
	CPUUserNanoseconds   *uint64     `json:"cpu_user_nanoseconds"`
	CPUSystemNanoseconds *uint64     `json:"cpu_system_nanoseconds"`
	MemoryBytes          uint64      `json:"memory_bytes"`     // balloon.current
	MaxMemoryBytes       uint64      `json:"max_memory_bytes"` // balloon.maximum
	MemoryUsableBytes    *uint64     `json:"memory_usable_bytes"`
	MemoryAvailableBytes *uint64     `json:"memory_available_bytes"`
	MemoryUnusedBytes    *uint64     `json:"memory_unused_bytes"`
	MemoryRSSBytes       *uint64     `json:"memory_rss_bytes"`
	VCPU                 []VCPUStats `json:"vcpu"`
	Disks                []DiskStats `json:"disks"`
	NICs                 []NICStats  `json:"nics"`
	// TimedOut: libvirt could not read what needs the VM's QEMU monitor in time (its QEMU is
	// hung or stopped, or another job such as a migration holds it): its disk counters and
	// guest memory figures are missing from this sample; state, CPU, vCPU and network are there.
	TimedOut bool `json:"timed_out"`
}

// VCPUStats is one virtual CPU's counters.
type VCPUStats struct {
	Index            int     `json:"index"`
	State            string  `json:"state"` // offline, running or blocked: a word, as every state of the contract
	StateCode        int     `json:"-"`     // libvirt's virVcpuState (0, 1, 2), what libvirt_domain_vcpu_state exports
	TimeNanoseconds  uint64  `json:"time_nanoseconds"`
	WaitNanoseconds  *uint64 `json:"wait_nanoseconds"`  // runnable but waiting for a host CPU
	DelayNanoseconds *uint64 `json:"delay_nanoseconds"` // steal time as the guest sees it
}

// DiskStats is one disk's counters (block.N.* of the bulk call).
type DiskStats struct {
	Name                 string `json:"name"` // target device: vda, sda
	Path                 string `json:"path"`
	ReadBytes            uint64 `json:"read_bytes"`
	ReadRequests         uint64 `json:"read_requests"`
	ReadTimeNanoseconds  uint64 `json:"read_time_nanoseconds"`
	WriteBytes           uint64 `json:"write_bytes"`
	WriteRequests        uint64 `json:"write_requests"`
	WriteTimeNanoseconds uint64 `json:"write_time_nanoseconds"`
	FlushRequests        uint64 `json:"flush_requests"`
	FlushTimeNanoseconds uint64 `json:"flush_time_nanoseconds"`
	CapacityBytes        uint64 `json:"capacity_bytes"`
	AllocationBytes      uint64 `json:"allocation_bytes"`
	PhysicalBytes        uint64 `json:"physical_bytes"`
	// CountersMissing: libvirt gave this disk's name but no counters (its VM timed out); the
	// numbers above are then not zero but unknown.
	CountersMissing bool `json:"counters_missing"`
}

// NICStats is one network interface's counters (net.N.*), seen from the host side.
type NICStats struct {
	Name      string `json:"name"` // host-side device: vnet0
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDrops   uint64 `json:"rx_drops"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDrops   uint64 `json:"tx_drops"`
}

// StatsSample is every VM's counters at one moment, with what the host has to divide by.
type StatsSample struct {
	Time            time.Time   `json:"time"`
	HostCPUs        int         `json:"host_cpus"`
	HostMemoryBytes uint64      `json:"host_memory_bytes"`
	VMs             []VMStats   `json:"vms"`
	Pools           []PoolStats `json:"pools,omitempty"` // only when asked for (metrics)
}

// VMRates is what changed per second between two samples of one VM. A rate is null when it
// cannot be known: the VM is new in the later sample, or a counter went down (the VM restarted,
// a device was replaced), which CountersReset says.
type VMRates struct {
	CPUPercentOfVCPUs          *float64    `json:"cpu_percent_of_vcpus"` // 100 = every vCPU busy
	CPUPercentOfHost           *float64    `json:"cpu_percent_of_host"`  // 100 = every host CPU busy (virt-top's %CPU)
	DiskReadBytesPerSecond     *float64    `json:"disk_read_bytes_per_second"`
	DiskWriteBytesPerSecond    *float64    `json:"disk_write_bytes_per_second"`
	DiskReadRequestsPerSecond  *float64    `json:"disk_read_requests_per_second"`
	DiskWriteRequestsPerSecond *float64    `json:"disk_write_requests_per_second"`
	NetRxBytesPerSecond        *float64    `json:"net_rx_bytes_per_second"`
	NetTxBytesPerSecond        *float64    `json:"net_tx_bytes_per_second"`
	NetRxPacketsPerSecond      *float64    `json:"net_rx_packets_per_second"`
	NetTxPacketsPerSecond      *float64    `json:"net_tx_packets_per_second"`
	Disks                      []DiskRates `json:"disks"`
	NICs                       []NICRates  `json:"nics"`
	CountersReset              bool        `json:"counters_reset"`
}

// DiskRates is one disk's rates; null when its counters went down or it is new.
type DiskRates struct {
	Name                   string   `json:"name"`
	ReadBytesPerSecond     *float64 `json:"read_bytes_per_second"`
	WriteBytesPerSecond    *float64 `json:"write_bytes_per_second"`
	ReadRequestsPerSecond  *float64 `json:"read_requests_per_second"`
	WriteRequestsPerSecond *float64 `json:"write_requests_per_second"`
}

// NICRates is one interface's rates; null when its counters went down or it is new.
type NICRates struct {
	Name               string   `json:"name"`
	RxBytesPerSecond   *float64 `json:"rx_bytes_per_second"`
	TxBytesPerSecond   *float64 `json:"tx_bytes_per_second"`
	RxPacketsPerSecond *float64 `json:"rx_packets_per_second"`
	TxPacketsPerSecond *float64 `json:"tx_packets_per_second"`
}

// VMStatsReport is one VM in `vmctl stats`: its counters at the later sample and the rates
// since the earlier one.
type VMStatsReport struct {
	Host string `json:"host,omitempty"` // the configured host, with --host
	VMStats
	Rates VMRates `json:"rates"`
}

// StatsReport is one `vmctl stats` output: the later sample's time, the interval the rates
// cover, the host's size, and one report per VM.
type StatsReport struct {
	Time            time.Time       `json:"time"`
	IntervalSeconds float64         `json:"interval_seconds"`
	HostCPUs        int             `json:"host_cpus"`
	HostMemoryBytes uint64          `json:"host_memory_bytes"`
	VMs             []VMStatsReport `json:"vms"`
	// Hosts are the hosts that answered, each with its size, with --host; host_cpus and
	// host_memory_bytes are then their sums.
	Hosts []StatsHost `json:"hosts,omitempty"`
}

// StatsHost is one host of a `vmctl stats --host` report: its name, when it was sampled, and
// its size.
type StatsHost struct {
	Host            string    `json:"host"`
	Time            time.Time `json:"time"`
	HostCPUs        int       `json:"host_cpus"`
	HostMemoryBytes uint64    `json:"host_memory_bytes"`
}

// PoolStats is one storage pool's size, for the metrics exporter.
type PoolStats struct {
	Name            string `json:"name"`
	Active          bool   `json:"active"`
	CapacityBytes   uint64 `json:"capacity_bytes"`
	AllocationBytes uint64 `json:"allocation_bytes"`
	AvailableBytes  uint64 `json:"available_bytes"`
}

// MetricSample is one series of a scrape as `hvctl metrics --json` prints it: the metric's
// name, its Prometheus type (counter or gauge), its labels and its value.
type MetricSample struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}
