package model

// Event is one record of `vmctl events`: an event libvirt delivered (kind vm, network or pool),
// the state of an object after a reconnection (type "state"), or a record about the stream
// itself (kind "host": "disconnected" when the connection to libvirt is lost, "resync" when it
// is back and events may have been missed in the gap). The same JSON is what `--nats` publishes.
type Event struct {
	// Time is when hvctl received the event (libvirt does not timestamp events), RFC 3339 UTC
	// with nanoseconds.
	Time string `json:"time"`
	// Seq numbers the records of one `vmctl events` process from 1, for de-duplication and to
	// see gaps after a sink dropped some.
	Seq  uint64 `json:"seq"`
	Host string `json:"host"` // the libvirt host's name (virConnectGetHostname)
	Kind string `json:"kind"` // vm, network, pool or host
	Name string `json:"name"` // the VM, network or pool; "" for host records
	UUID string `json:"uuid"` // "" for host records
	// Type is what happened: for lifecycle events the lifecycle event itself (defined, undefined,
	// started, suspended, resumed, stopped, shutdown, pmsuspended, crashed), else the event's
	// name (reboot, rtc_change, watchdog, io_error, graphics, control_error, block_job,
	// disk_change, tray_change, pm_wakeup, pm_suspend, pm_suspend_disk, balloon_change,
	// device_added, device_removed, device_removal_failed, tunable, agent_lifecycle,
	// migration_iteration, job_completed, metadata_change, block_threshold, memory_failure,
	// memory_device_size_change, nic_mac_change; for pools also refresh), or state, resync,
	// disconnected.
	Type string `json:"type"`
	// Detail qualifies Type: the lifecycle detail (booted, destroyed, finished …), a block
	// job's status, the agent's new state, a state record's state. "" when there is none.
	Detail string `json:"detail"`
	// Data holds the event's own fields (one of the Event…Data types); {} when it has none.
	Data any `json:"data"`
}

// EventLifecycleData is the data of a lifecycle event: libvirt's numbers besides the words.
type EventLifecycleData struct {
	Event  int `json:"event"`
	Detail int `json:"detail"`
}

// EventStateData is the data of a state record: the object's state after a reconnection.
type EventStateData struct {
	State  string `json:"state"`            // running, shut_off … (as vmctl list); active or inactive for networks and pools
	Reason string `json:"reason,omitempty"` // why, as vmctl show's state_reason
}

// EventResyncData is the data of a resync record.
type EventResyncData struct {
	// Attempts is how many connection attempts the reconnection took.
	Attempts int `json:"attempts"`
	// DownSeconds is how long hvctl had no connection: events of that time are lost.
	DownSeconds float64 `json:"down_seconds"`
}

// EventDisconnectedData is the data of a disconnected record.
type EventDisconnectedData struct {
	URI    string `json:"uri"`
	Reason string `json:"reason"`
}

// EventRTCChangeData is the data of rtc_change.
type EventRTCChangeData struct {
	UTCOffsetSeconds int64 `json:"utc_offset_seconds"`
}

// EventWatchdogData is the data of watchdog.
type EventWatchdogData struct {
	Action string `json:"action"` // none, pause, reset, poweroff, shutdown, debug, inject_nmi
}

// EventIOErrorData is the data of io_error.
type EventIOErrorData struct {
	SourcePath string `json:"source_path"`
	DevAlias   string `json:"dev_alias"`
	Action     string `json:"action"` // none, pause, report
	Reason     string `json:"reason"` // enospc, eio …; "" when libvirt gives none
}

// EventGraphicsAddress is one end of a graphics connection.
type EventGraphicsAddress struct {
	Family  string `json:"family"` // ipv4, ipv6, unix
	Node    string `json:"node"`
	Service string `json:"service"`
}

// EventGraphicsData is the data of graphics.
type EventGraphicsData struct {
	Phase      string                 `json:"phase"` // connect, initialize, disconnect
	Local      EventGraphicsAddress   `json:"local"`
	Remote     EventGraphicsAddress   `json:"remote"`
	AuthScheme string                 `json:"auth_scheme"`
	Subject    []EventGraphicsSubject `json:"subject"`
}

// EventGraphicsSubject is one identity of a graphics client (x509 DN, SASL user …).
type EventGraphicsSubject struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// EventBlockJobData is the data of block_job.
type EventBlockJobData struct {
	Disk   string `json:"disk"`   // the disk's target (vda)
	Job    string `json:"job"`    // pull, copy, commit, active_commit, backup
	Status string `json:"status"` // completed, failed, canceled, ready
}

// EventDiskChangeData is the data of disk_change.
type EventDiskChangeData struct {
	OldSourcePath string `json:"old_source_path"`
	NewSourcePath string `json:"new_source_path"`
	DevAlias      string `json:"dev_alias"`
	Reason        string `json:"reason"` // missing_on_start, drop_missing_on_start
}

// EventTrayChangeData is the data of tray_change.
type EventTrayChangeData struct {
	DevAlias string `json:"dev_alias"`
	Tray     string `json:"tray"` // open, close
}

// EventBalloonData is the data of balloon_change.
type EventBalloonData struct {
	ActualBytes uint64 `json:"actual_bytes"`
}

// EventDeviceData is the data of device_added, device_removed and device_removal_failed.
type EventDeviceData struct {
	DevAlias string `json:"dev_alias"`
}

// EventTunableData is the data of tunable: which tunables changed (libvirt sends the new values
// of some; they are not repeated here).
type EventTunableData struct {
	CPUSched   bool   `json:"cpu_sched"`
	CPUPin     bool   `json:"cpu_pin"`
	BlockDisk  string `json:"block_disk"`
	BlockTuned bool   `json:"block_tune"`
}

// EventAgentData is the data of agent_lifecycle.
type EventAgentData struct {
	State  string `json:"state"`  // connected, disconnected
	Reason string `json:"reason"` // unknown, domain_started, channel
}

// EventMigrationData is the data of migration_iteration.
type EventMigrationData struct {
	Iteration int `json:"iteration"`
}

// EventJobData is the data of job_completed.
type EventJobData struct {
	Type           string  `json:"type"`      // bounded, unbounded, completed, failed, cancelled, none
	Operation      string  `json:"operation"` // migration_out, save, snapshot …
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	DataTotalBytes uint64  `json:"data_total_bytes"`
}

// EventMetadataData is the data of metadata_change.
type EventMetadataData struct {
	Type      string `json:"type"` // description, title, element
	Namespace string `json:"namespace"`
}

// EventBlockThresholdData is the data of block_threshold.
type EventBlockThresholdData struct {
	Dev            string `json:"dev"`
	Path           string `json:"path"`
	ThresholdBytes uint64 `json:"threshold_bytes"`
	ExcessBytes    uint64 `json:"excess_bytes"`
}

// EventMemoryFailureData is the data of memory_failure.
type EventMemoryFailureData struct {
	Recipient      string `json:"recipient"` // hypervisor, guest
	Action         string `json:"action"`    // ignore, inject, fatal, reset
	ActionRequired bool   `json:"action_required"`
	Recursive      bool   `json:"recursive"`
}

// EventMemoryDeviceData is the data of memory_device_size_change.
type EventMemoryDeviceData struct {
	Alias     string `json:"alias"`
	SizeBytes uint64 `json:"size_bytes"`
}

// EventNICMACData is the data of nic_mac_change.
type EventNICMACData struct {
	Alias  string `json:"alias"`
	OldMAC string `json:"old_mac"`
	NewMAC string `json:"new_mac"`
}

// EventPMData is the data of pm_wakeup, pm_suspend and pm_suspend_disk.
type EventPMData struct {
	Reason int `json:"reason"`
}
