package model

import "time"

// Summary is one quantity over a stretch of recorded history. For a rate, each interval
// between two consecutive records is one observation and Avg is the counter's increase divided
// by the time those intervals cover (so an unevenly running timer does not skew it); for a
// level such as memory, each record is one observation and Avg is their mean. P95 is the
// nearest-rank 95th percentile: the smallest observation that at least 95 % are at or below.
type Summary struct {
	Min          float64 `json:"min"`
	Avg          float64 `json:"avg"`
	Max          float64 `json:"max"`
	P95          float64 `json:"p95"`
	Observations int     `json:"observations"`
}

// VMHistory summarises one VM's recorded samples (`vmctl stats --since`). A summary is null
// when nothing was recorded for it: no two usable records for a rate (the first record, or
// only records across a restart), or a value the guest never reported.
type VMHistory struct {
	Name                       string    `json:"name"` // as of the latest record
	UUID                       string    `json:"uuid"`
	FirstSample                time.Time `json:"first_sample"`
	LastSample                 time.Time `json:"last_sample"`
	Samples                    int       `json:"samples"`
	CoveredSeconds             float64   `json:"covered_seconds"` // time the rate intervals span
	CounterResets              int       `json:"counter_resets"`  // intervals left out: the VM restarted, a counter went down, devices changed
	CPUPercentOfVCPUs          *Summary  `json:"cpu_percent_of_vcpus"`
	CPUPercentOfHost           *Summary  `json:"cpu_percent_of_host"`
	MemoryBytes                *Summary  `json:"memory_bytes"`
	MemoryRSSBytes             *Summary  `json:"memory_rss_bytes"`
	MemoryGuestUsedBytes       *Summary  `json:"memory_guest_used_bytes"` // available - usable, when the balloon reports them
	DiskReadBytesPerSecond     *Summary  `json:"disk_read_bytes_per_second"`
	DiskWriteBytesPerSecond    *Summary  `json:"disk_write_bytes_per_second"`
	DiskReadRequestsPerSecond  *Summary  `json:"disk_read_requests_per_second"`
	DiskWriteRequestsPerSecond *Summary  `json:"disk_write_requests_per_second"`
	NetRxBytesPerSecond        *Summary  `json:"net_rx_bytes_per_second"`
	NetTxBytesPerSecond        *Summary  `json:"net_tx_bytes_per_second"`
	NetRxPacketsPerSecond      *Summary  `json:"net_rx_packets_per_second"`
	NetTxPacketsPerSecond      *Summary  `json:"net_tx_packets_per_second"`
}

// HistoryReport is `vmctl stats --since`: the window asked for, the database read, and one
// summary per VM with samples in it (an empty list when none were recorded).
type HistoryReport struct {
	Since    time.Time   `json:"since"`
	Until    time.Time   `json:"until"`
	URI      string      `json:"uri"`
	Database string      `json:"database"`
	VMs      []VMHistory `json:"vms"`
}

// RecordResult is what `hvctl metrics record` reports.
type RecordResult struct {
	Time             time.Time `json:"time"`
	URI              string    `json:"uri"`
	Database         string    `json:"database"`
	VMs              int       `json:"vms"`         // active VMs recorded
	TimedOut         []string  `json:"timed_out"`   // active VMs left out: their QEMU did not answer in time
	PrunedRows       int64     `json:"pruned_rows"` // samples removed by retention and the row cap
	Rows             int64     `json:"rows"`        // samples kept, all hosts
	RetentionSeconds int64     `json:"retention_seconds"`
	MaxRows          int64     `json:"max_rows"` // 0: no row cap
}
