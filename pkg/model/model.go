// Package model holds the public JSON contract of hvctl: the types every command prints, as a
// table for people and as JSON for scripts. Adding fields is fine; renaming or retyping breaks
// users. Sizes are bytes, durations seconds, times RFC 3339 UTC. The promise is the JSON; the
// Go types, like every package under pkg/, are for hvctl alone.
package model

// VM is one row of `vmctl list`.
type VM struct {
	Host           string   `json:"host,omitempty"` // the configured host, when listed with --host
	Name           string   `json:"name"`
	UUID           string   `json:"uuid"`
	State          string   `json:"state"`
	VCPUs          int      `json:"vcpus"`
	MemoryBytes    uint64   `json:"memory_bytes"`
	MaxMemoryBytes uint64   `json:"max_memory_bytes"`
	Autostart      bool     `json:"autostart"` // libvirt's flag or hvctl's ordered autostart, as show says
	Persistent     bool     `json:"persistent"`
	PendingRestart bool     `json:"pending_restart"` // apply made changes the running VM sees after a restart
	IPv4           []string `json:"ipv4"`
	CPUTimeSeconds *float64 `json:"cpu_time_seconds"` // null when the domain is not running
	UptimeSeconds  *int64   `json:"uptime_seconds"`   // null when not running or not known (remote hosts)
	// Saved: shut off with its memory in a managed save image (`vmctl save`); the next start
	// restores it. The table's STATE says "saved"; state stays shut_off, as libvirt's is.
	Saved bool `json:"saved"`
}

// VMDetail is `vmctl show`: what dominfo, domblklist, domiflist, domifaddr, domdisplay and
// snapshot-list tell, in one object.
type VMDetail struct {
	Host           string   `json:"host,omitempty"` // the configured host, when found with --host
	Name           string   `json:"name"`
	UUID           string   `json:"uuid"`
	ID             *int     `json:"id"` // null when not running
	Title          string   `json:"title"`
	Description    string   `json:"description"`
	State          string   `json:"state"`
	StateReason    string   `json:"state_reason"`
	DomainType     string   `json:"domain_type"`
	VCPUs          int      `json:"vcpus"`
	MaxVCPUs       int      `json:"max_vcpus"`
	MemoryBytes    uint64   `json:"memory_bytes"`
	MaxMemoryBytes uint64   `json:"max_memory_bytes"`
	CPUTimeSeconds *float64 `json:"cpu_time_seconds"`
	UptimeSeconds  *int64   `json:"uptime_seconds"`
	OSType         string   `json:"os_type"`
	Arch           string   `json:"arch"`
	Machine        string   `json:"machine"`
	Firmware       string   `json:"firmware"` // bios or efi
	// Autostart: the VM starts with the host, by libvirt's flag or by hvctl's ordered autostart
	// (`vmctl autostart run`), which AutostartOrder then describes.
	Autostart      bool   `json:"autostart"`
	AutostartOrder string `json:"autostart_order"` // "group apps, priority 50"; "" when not hvctl's
	Persistent     bool   `json:"persistent"`
	// PendingRestart: the persistent definition was applied with changes the running VM sees
	// only after a restart.
	PendingRestart bool `json:"pending_restart"`
	// Saved: shut off with its memory in a managed save image; the next start restores it.
	Saved       bool         `json:"saved"`
	Disks       []Disk       `json:"disks"`
	NICs        []NIC        `json:"nics"`
	Graphics    []Graphics   `json:"graphics"`
	Snapshots   int          `json:"snapshots"`
	Metadata    []Metadata   `json:"metadata"`
	TPMs        []TPM        `json:"tpms"`
	Hostdevs    []Hostdev    `json:"hostdevs"`
	Filesystems []Filesystem `json:"filesystems"`
	Watchdogs   []Watchdog   `json:"watchdogs"`
	RNGs        []RNG        `json:"rngs"`
	SecLabels   []SecLabel   `json:"seclabels"` // the domain's security labels, one per security driver
	Videos      []Video      `json:"videos"`
	Sounds      []string     `json:"sounds"`   // sound card models
	Shmems      []Shmem      `json:"shmems"`   // shared memory (Looking Glass)
	Balloon     string       `json:"balloon"`  // memory balloon model; "none" or "" without one
	Chardevs    []Chardev    `json:"chardevs"` // serial ports, consoles and channels (the guest agent's)
	// LinkedClones are the VMs whose disks overlay this one's (it is their template).
	LinkedClones []string `json:"linked_clones"`
}

// Video is a display adapter.
type Video struct {
	Model string `json:"model"`
	Heads int    `json:"heads"`
}

// Shmem is a shared memory device.
type Shmem struct {
	Name      string `json:"name"`
	Model     string `json:"model"`
	SizeBytes uint64 `json:"size_bytes"`
}

// Chardev is a serial port, console or channel.
type Chardev struct {
	Kind   string `json:"kind"`   // serial, console, channel
	Type   string `json:"type"`   // pty, unix, file, tcp, spicevmc, …
	Target string `json:"target"` // the channel's name (org.qemu.guest_agent.0), the console's type
	Source string `json:"source"` // the host side: a path or address; "" for pty until started
}

// TPM is an emulated or passed-through TPM.
type TPM struct {
	Model   string `json:"model"`   // tpm-crb, tpm-tis, …
	Backend string `json:"backend"` // emulator, passthrough, external
	Version string `json:"version"` // 2.0, 1.2 (emulator)
	Source  string `json:"source"`  // host device or socket; "" for the emulator
}

// Hostdev is a host device passed through.
type Hostdev struct {
	Type    string `json:"type"`   // pci, usb, scsi, scsi_host, mdev, storage, misc, net
	Source  string `json:"source"` // 0000:01:00.0, 046d:c52b, usb bus 1 device 4, the mdev UUID, …
	Managed bool   `json:"managed"`
}

// Filesystem is a host directory (or image) shared with the guest.
type Filesystem struct {
	Type     string `json:"type"`   // mount, block, file, ram, bind, template, volume
	Driver   string `json:"driver"` // virtiofs, path, …
	Source   string `json:"source"`
	Target   string `json:"target"` // the mount tag in the guest
	ReadOnly bool   `json:"read_only"`
}

// Watchdog is a watchdog device and what it does when it fires.
type Watchdog struct {
	Model  string `json:"model"`
	Action string `json:"action"`
}

// RNG is a random number generator device.
type RNG struct {
	Model   string `json:"model"`
	Backend string `json:"backend"` // random, egd, builtin
	Source  string `json:"source"`  // /dev/urandom, the EGD socket or address
}

// SecLabel is the label a security driver (selinux, apparmor, dac) runs the VM with.
type SecLabel struct {
	Model   string `json:"model"`
	Type    string `json:"type"` // dynamic, static, none
	Label   string `json:"label"`
	Relabel bool   `json:"relabel"`
}

// Disk is one disk, CD-ROM or floppy of a VM.
type Disk struct {
	Target          string  `json:"target"`
	Bus             string  `json:"bus"`
	Device          string  `json:"device"` // disk, cdrom, floppy, lun
	Type            string  `json:"type"`   // file, block, dir, volume, network, nvme, vhostuser, vhostvdpa
	Source          string  `json:"source"`
	Format          string  `json:"format"`
	ReadOnly        bool    `json:"read_only"`
	CapacityBytes   *uint64 `json:"capacity_bytes"`
	AllocationBytes *uint64 `json:"allocation_bytes"`
	// Backing is the disk's backing chain, nearest first: the files under an overlay.
	Backing []string `json:"backing"`
}

// NIC is one network interface of a VM.
type NIC struct {
	MAC       string    `json:"mac"`
	Type      string    `json:"type"` // network, bridge, direct, user, ethernet, vhostuser, server, client, mcast, udp, hostdev, vdpa, …
	Source    string    `json:"source"`
	Model     string    `json:"model"`
	Device    string    `json:"device"` // host-side device (vnetN) while running
	Addresses []Address `json:"addresses"`
}

// Address is an IP address of a VM and how hvctl learnt it.
type Address struct {
	Host      string `json:"host,omitempty"` // the configured host, when asked with --host
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	Family    string `json:"family"` // ipv4 or ipv6
	Address   string `json:"address"`
	Prefix    int    `json:"prefix"`
	Source    string `json:"source"` // lease, agent, arp
}

// Graphics is a display a VM offers.
type Graphics struct {
	Type   string `json:"type"`
	Listen string `json:"listen"`
	Port   int    `json:"port"` // -1 when not allocated
}

// Metadata is one element of the domain's <metadata>, by namespace.
type Metadata struct {
	Namespace string `json:"namespace"`
	XML       string `json:"xml"`
}

// Result is one target's outcome in a bulk operation.
type Result struct {
	Host   string `json:"host,omitempty"` // the configured host, when the verb ran with --host or host:vm targets
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Action string `json:"action"` // what was done: started, resumed, none, stopped, destroyed …
	Error  string `json:"error"`
	Code   string `json:"code"` // error kind, empty when ok
	// delete --remove-storage: the volumes removed and those kept, with why.
	Removed []string     `json:"removed,omitempty"`
	Kept    []KeptVolume `json:"kept,omitempty"`
}

// Orphan is a volume `vmctl gc` found: named for a VM that does not exist and used by nothing.
type Orphan struct {
	VM     string `json:"vm"`
	Pool   string `json:"pool"`
	Volume string `json:"volume"`
	Path   string `json:"path"`
	Action string `json:"action"` // removed, or none (listed only)
	Error  string `json:"error"`
}

// KeptVolume is a disk `vmctl delete --remove-storage` left in place, and why.
type KeptVolume struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// WaitResult is one VM's outcome of `vmctl wait`.
type WaitResult struct {
	Name      string    `json:"name"`
	For       string    `json:"for"`
	OK        bool      `json:"ok"`
	State     string    `json:"state"`
	Addresses []Address `json:"addresses"`
	Error     string    `json:"error"`
	Code      string    `json:"code"`
}

// Version is `hvctl version`.
type Version struct {
	Version           string `json:"version"`
	Commit            string `json:"commit"`
	GoVersion         string `json:"go_version"`
	LibvirtLibrary    string `json:"libvirt_library"`
	URI               string `json:"uri,omitempty"`
	Driver            string `json:"driver,omitempty"`
	DaemonVersion     string `json:"daemon_version,omitempty"`
	HypervisorVersion string `json:"hypervisor_version,omitempty"`
	ConnectError      string `json:"connect_error,omitempty"`
}

// ProfileCheck is one profile's outcome of `vmctl profile validate`.
type ProfileCheck struct {
	Profile string         `json:"profile"`
	OK      bool           `json:"ok"`
	Issues  []ProfileIssue `json:"issues"`
	// Warnings do not make the profile invalid: a path outside the stores, a password hash
	// in a file others can read.
	Warnings []ProfileIssue `json:"warnings,omitempty"`
}

// ProfileIssue is one problem in a profile, where it was written.
type ProfileIssue struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Key     string `json:"key"`
	Message string `json:"message"`
}

// ProfileSummary is one row of `vmctl profile list`.
type ProfileSummary struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	Extends     string `json:"extends"`
	VCPUs       int    `json:"vcpus"`
	MemoryBytes uint64 `json:"memory_bytes"`
	DiskBytes   uint64 `json:"disk_bytes"`
	Valid       bool   `json:"valid"`
	Error       string `json:"error"`
}

// Created is the outcome of `vmctl create`.
type Created struct {
	Name       string    `json:"name"`
	UUID       string    `json:"uuid"`
	Profile    string    `json:"profile"`
	DomainType string    `json:"domain_type"`
	Volumes    []string  `json:"volumes"`
	Started    bool      `json:"started"`
	Addresses  []Address `json:"addresses"`
	DryRun     bool      `json:"dry_run"`
}

// Snapshot is one snapshot of a VM.
type Snapshot struct {
	VM          string `json:"vm"`
	Name        string `json:"name"`
	Parent      string `json:"parent"`
	Created     string `json:"created"` // RFC 3339, UTC
	State       string `json:"state"`   // the VM's state when it was taken
	Current     bool   `json:"current"`
	Memory      bool   `json:"memory"`
	Kind        string `json:"kind"` // internal or external
	Description string `json:"description"`
	Depth       int    `json:"depth"` // distance from the root of its tree
	// StateBytes is the saved guest state in the disks (qemu-img's VM SIZE); null when the
	// disks cannot be read from here.
	StateBytes *uint64 `json:"state_bytes"`
}

// SnapshotResult is what `vmctl snapshot revert` did.
type SnapshotResult struct {
	VM       string `json:"vm"`
	Snapshot string `json:"snapshot"`
	Action   string `json:"action"` // reverted
	State    string `json:"state"`  // the VM's state afterwards
}

// PruneDecision is what `vmctl snapshot prune` did (or would do) with one snapshot.
type PruneDecision struct {
	VM      string   `json:"vm"`
	Name    string   `json:"name"`
	Created string   `json:"created"`
	Action  string   `json:"action"` // kept, deleted, would_delete
	Reasons []string `json:"reasons"`
	Error   string   `json:"error"`
}

// Cloned is the outcome of `vmctl clone`.
type Cloned struct {
	Name    string   `json:"name"`
	UUID    string   `json:"uuid"`
	Source  string   `json:"source"`
	Linked  bool     `json:"linked"`
	Volumes []string `json:"volumes"`
	Started bool     `json:"started"`
}

// Drift is one difference between a profile and its VM's persistent definition.
type Drift struct {
	VM      string `json:"vm"`
	Key     string `json:"key"`
	Live    string `json:"live"`
	Desired string `json:"desired"`
	Restart bool   `json:"restart"` // a running VM sees it only after a restart
	Action  string `json:"action"`  // diff: "" ; apply: planned, applied, created …
	// Change is what happened to the live definition: "changed"; "added" (it has something the
	// profile does not, which apply drops); "removed" (it lacks something, which apply restores).
	Change string `json:"change"`
	Note   string `json:"note"` // why a row is not what it seems: "restart needed: …", "seed differs; …"
}

// Network is one libvirt virtual network, as `netctl list` and `netctl show` print it.
type Network struct {
	Name       string       `json:"name"`
	UUID       string       `json:"uuid"`
	Active     bool         `json:"active"`
	Autostart  bool         `json:"autostart"`
	Persistent bool         `json:"persistent"`
	Bridge     string       `json:"bridge"`
	Forward    string       `json:"forward"` // isolated (no <forward>), nat, route, open, bridge, …
	Addresses  []NetAddress `json:"addresses"`
	Leases     *int         `json:"leases"`  // active DHCP leases; null when inactive or unknown
	UsedBy     []string     `json:"used_by"` // VMs with a NIC on it (running or not)
	// Host is the configured host, when listed with --host.
	Host string `json:"host,omitempty"`
}

// NetAddress is one IP range a network serves, with its DHCP range when it has one.
type NetAddress struct {
	Family    string `json:"family"`  // ipv4 or ipv6
	Address   string `json:"address"` // the host's address on the bridge
	Prefix    int    `json:"prefix"`
	DHCPStart string `json:"dhcp_start"`
	DHCPEnd   string `json:"dhcp_end"`
	// Reservations are DHCP host entries: this MAC always gets this address (and name).
	Reservations []Reservation `json:"reservations"`
}

// Reservation is a fixed DHCP address for a MAC.
type Reservation struct {
	MAC  string `json:"mac"`
	IP   string `json:"ip"`
	Name string `json:"name"`
}

// ReservationChange is what `netctl reserve` or `netctl unreserve` did to one network.
type ReservationChange struct {
	Network string `json:"network"`
	Action  string `json:"action"` // reserved or unreserved
	Reservation
}

// Lease is one DHCP lease of a libvirt network, matched to the VM that holds the MAC.
type Lease struct {
	Network   string `json:"network"`
	MAC       string `json:"mac"`
	Family    string `json:"family"`
	Address   string `json:"address"`
	Prefix    int    `json:"prefix"`
	Hostname  string `json:"hostname"`
	ExpiresAt string `json:"expires_at"` // RFC 3339 UTC; empty for leases that do not expire
	VM        string `json:"vm"`         // empty when no VM on this host has the MAC
	// Host is the configured host, when listed with --host.
	Host string `json:"host,omitempty"`
}

// Finding is one control's result for one target, as `auditctl run` prints it.
type Finding struct {
	ID       string `json:"id"`       // the catalogue's control ID, e.g. VM-007
	Group    string `json:"group"`    // host, daemon, vm, network, storage
	Severity string `json:"severity"` // info, low, medium, high, critical
	Status   string `json:"status"`   // pass, fail, waived (a failure a waiver accepts), error (could not tell), skipped (does not apply)
	Target   string `json:"target"`   // host, a VM, a network, a pool or a path
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	// References are the DISA VMM SRG requirements the control serves (e.g. V-207403).
	References []string `json:"references"`
	// Remediation says how to fix a failing result (empty for a pass).
	Remediation string `json:"remediation"`
	// Location says where the condition is: a config file and line, a VM's device, a process.
	Location *FindingLocation `json:"location,omitempty"`
	// Waiver is set when an accepted, unexpired waiver covers this failing result.
	Waiver *FindingWaiver `json:"waiver,omitempty"`
	// Host is the configured host audited, when several were (auditctl run --host).
	Host string `json:"host,omitempty"`
}

// FindingLocation is where a finding's condition was seen; only the fields that apply are set.
type FindingLocation struct {
	File    string `json:"file,omitempty"`    // a host file, e.g. /etc/libvirt/qemu.conf
	Line    int    `json:"line,omitempty"`    // 1-based line of the setting in File
	VM      string `json:"vm,omitempty"`      // the VM whose definition holds the device
	Device  string `json:"device,omitempty"`  // e.g. "disk vda", "graphics vnc", "interface 52:54:00:…"
	Path    string `json:"path,omitempty"`    // a disk image, socket, NVRAM file …
	Process string `json:"process,omitempty"` // "pid 1234 (qemu-system-x86)" for listeners and QEMU processes
}

// FindingWaiver is the waiver that accepted a finding.
type FindingWaiver struct {
	Reason  string `json:"reason"`
	Expires string `json:"expires"` // YYYY-MM-DD
	File    string `json:"file"`    // the waivers file
	Line    int    `json:"line"`    // of the [[waiver]] table
}

// ErrorBody is what every command writes to stderr when it fails under --json, --jq or -o json:
// {"error":{"code":"not_found","exit_code":3,"hint":"…","message":"…"}} (keys in this order).
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the failure inside ErrorBody; code is the stable name of the exit code.
type ErrorDetail struct {
	Code     string `json:"code"`
	ExitCode int    `json:"exit_code"`
	Hint     string `json:"hint"`
	Host     string `json:"host,omitempty"` // the host that failed, when a command ran on several (--host)
	Message  string `json:"message"`
}

// AuditControl is one control of the catalogue as `auditctl controls` and `auditctl explain` print it.
type AuditControl struct {
	ID          string   `json:"id"`
	Group       string   `json:"group"`
	Severity    string   `json:"severity"`
	Title       string   `json:"title"`
	References  []string `json:"references"`  // DISA VMM SRG requirements
	Description string   `json:"description"` // what it looks for and why it matters
	HowChecked  string   `json:"how_checked"` // what is read to decide
	Remediation string   `json:"remediation"` // the generic fix
}

// AuditReport is `auditctl run --json`: the findings and what a collector needs to file them.
type AuditReport struct {
	// Host is the audited host: the URI's host name (this machine's for a local URI), or the
	// configured host's name when several were audited (auditctl run --host).
	Host           string `json:"host"`
	URI            string `json:"uri"`
	Time           string `json:"time"` // RFC 3339 UTC
	HvctlVersion   string `json:"hvctl_version"`
	LibvirtLibrary string `json:"libvirt_library"`
	LibvirtDaemon  string `json:"libvirt_daemon"` // empty when the daemon would not say
	Hypervisor     string `json:"hypervisor"`     // driver and version, e.g. "QEMU 9.2.0"
	FailOn         string `json:"fail_on"`
	// Complete is false when a result is an error, or (remote host, or --require-complete) a
	// control was skipped: the audit did not look at everything it was asked to.
	Complete       bool          `json:"complete"`
	Totals         AuditTotals   `json:"totals"`
	Skipped        []AuditSkip   `json:"skipped"`         // every skipped result, with why
	UnusedWaivers  []AuditWaiver `json:"unused_waivers"`  // waivers that accepted no failing result
	ExpiredWaivers []AuditWaiver `json:"expired_waivers"` // waivers past their date whose findings count again
	Findings       []Finding     `json:"findings"`        // the rows shown: failures, waived and errors (all with --all)
}

// AuditTotals count every result of a run, whether shown or not.
type AuditTotals struct {
	Results          int             `json:"results"`
	ByStatus         AuditByStatus   `json:"by_status"`
	FailedBySeverity AuditBySeverity `json:"failed_by_severity"` // unwaived failures
	Failing          int             `json:"failing"`            // unwaived failures at or above fail_on
}

// AuditByStatus counts results by status.
type AuditByStatus struct {
	Pass    int `json:"pass"`
	Fail    int `json:"fail"`
	Waived  int `json:"waived"`
	Error   int `json:"error"`
	Skipped int `json:"skipped"`
}

// AuditBySeverity counts results by severity.
type AuditBySeverity struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

// AuditSkip is a skipped result in the run's summary.
type AuditSkip struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// AuditWaiver is a waiver as the run reports it (unused or expired).
type AuditWaiver struct {
	Control string `json:"control"`
	Target  string `json:"target"` // a glob
	Reason  string `json:"reason"`
	Expires string `json:"expires"` // YYYY-MM-DD
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// ImageRecord is the provenance of a stored image (isoctl), kept beside it as
// NAME.record.json: where it came from, what it hashed to, who vouched for it.
type ImageRecord struct {
	Name           string `json:"name"`
	Catalog        string `json:"catalog,omitempty"` // the catalogue entry it was pulled as
	SourceURL      string `json:"source_url"`
	FinalURL       string `json:"final_url"`
	SizeBytes      int64  `json:"size_bytes"`
	SHA256         string `json:"sha256"`
	UpstreamDigest string `json:"upstream_digest"` // what the publisher said, as algo:hex
	ChecksumURL    string `json:"checksum_url"`
	SignatureURL   string `json:"signature_url"` // detached signature, or the clearsigned checksum file
	Signer         string `json:"signer"`        // fingerprint of the pinned key that signed the checksums
	Verified       bool   `json:"verified"`
	Insecure       bool   `json:"insecure"` // stored without verification, on request; forever marked
	FetchedAt      string `json:"fetched_at"`
	VerifiedAt     string `json:"verified_at"`
	FetchedBy      string `json:"fetched_by"`
	// CheckedAt is when `isoctl verify` last re-hashed the image at rest and found it unchanged
	// (RFC 3339); empty until it has.
	CheckedAt string `json:"checked_at,omitempty"`
}

// Image is a stored image as `isoctl list`, show, pull and import print it: its record, its
// store and file, and every VM that uses it (directly or as a backing file).
type Image struct {
	ImageRecord
	Store  string   `json:"store"`
	Path   string   `json:"path"`
	UsedBy []string `json:"used_by"`
	// Host is the configured host whose store holds it, when listed with --host.
	Host string `json:"host,omitempty"`
}

// PullPlan is what `isoctl pull --dry-run` found: the image the publisher's verified checksum
// list names today, without downloading it.
type PullPlan struct {
	Name        string `json:"name"`
	Store       string `json:"store"`
	URL         string `json:"url"`
	Digest      string `json:"digest"` // algo:hex; empty when --insecure
	ChecksumURL string `json:"checksum_url"`
	Signature   string `json:"signature_url"`
	Signer      string `json:"signer"`
	Catalog     string `json:"catalog,omitempty"`
	Insecure    bool   `json:"insecure"`
	MaxBytes    int64  `json:"max_bytes"` // the size cap the pull would enforce
}

// ImageCheck is one image of `isoctl verify`.
type ImageCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error"`
	// Host is the configured host whose store was checked, when verified with --host.
	Host string `json:"host,omitempty"`
}

// LegacyImport is one file of `isoctl import --legacy`.
type LegacyImport struct {
	File   string `json:"file"`
	OK     bool   `json:"ok"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error"`
	// Host is the configured host whose store was checked, when verified with --host.
	Host string `json:"host,omitempty"`
}

// CatalogEntry is one image `isoctl pull` knows by name, and how a pull of it is verified.
type CatalogEntry struct {
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Version        string   `json:"version"`
	Arch           string   `json:"arch"`
	URL            string   `json:"url"`
	File           string   `json:"file"`
	ChecksumURL    string   `json:"checksum_url"`
	ChecksumFormat string   `json:"checksum_format"`
	SignatureKind  string   `json:"signature_kind"`
	SignatureURL   string   `json:"signature_url"`
	KeyURL         string   `json:"key_url"`
	Keys           []string `json:"keys"`
	MaxBytes       int64    `json:"max_bytes"`
	Source         string   `json:"source"`      // builtin or config
	VerifiedBy     string   `json:"verified_by"` // signed_checksums, signed_checksums_unpinned, signed_image, checksums_https, none
}

// ImageInspection is what `isoctl inspect` tells of an image file.
type ImageInspection struct {
	File      string `json:"file"`
	SizeBytes int64  `json:"size_bytes"`
	Format    string `json:"format"` // iso9660, qcow2, raw
	VolumeID  string `json:"volume_id"`
	Bootable  bool   `json:"bootable"` // El Torito boot record (ISO) present
	Hybrid    bool   `json:"hybrid"`   // also an MBR-bootable disk image (isohybrid)
	OS        string `json:"os"`       // a guess from the volume id; "" when unknown
}

// MediaChange is the result of `isoctl attach` and `isoctl eject`.
type MediaChange struct {
	VM     string `json:"vm"`
	Device string `json:"device"` // the CD-ROM's target, such as sdb
	Image  string `json:"image"`  // the image now in the drive; "" when emptied
	Path   string `json:"path"`
}

// PartialDownload is an unfinished pull (`isoctl partials`).
type PartialDownload struct {
	Name       string `json:"name"` // the image it would become
	Store      string `json:"store"`
	Path       string `json:"path"`
	SizeBytes  int64  `json:"size_bytes"`
	ModifiedAt string `json:"modified_at"`
	URL        string `json:"url"`
	Resumable  bool   `json:"resumable"` // a pull of the same URL would resume it
	Active     bool   `json:"active"`    // a pull is writing it now
}

// ObjectName is the file inspected, for -o name.
func (i ImageInspection) ObjectName() string { return i.File }

// ObjectName is the VM whose drive changed, for -o name.
func (m MediaChange) ObjectName() string { return m.VM }

// ObjectName is the VM's name, for -o name; found with --host, host:name, as list prints it
// and as the VM is named back to hvctl.
func (v VMDetail) ObjectName() string {
	if v.Host != "" {
		return v.Host + ":" + v.Name
	}
	return v.Name
}

// ExecResult is `vmctl exec --json`: how the guest process ended and what it wrote. It is
// printed only when the process ran; hvctl's own failures are the error body on stderr.
type ExecResult struct {
	Name            string   `json:"name"` // the VM
	Command         []string `json:"command"`
	PID             int      `json:"pid"`         // in the guest
	ExitCode        *int     `json:"exit_code"`   // null when a signal ended it, or when it was killed on --timeout
	Signal          *int     `json:"signal"`      // the signal that ended it, else null
	ExitStatus      int      `json:"exit_status"` // vmctl's own exit status for this result: exit code, 128+signal, or 5 on timeout
	TimedOut        bool     `json:"timed_out"`   // --timeout passed and the process was killed
	Stdout          string   `json:"stdout"`      // as text when it is valid UTF-8, else "" and stdout_base64
	StdoutBase64    string   `json:"stdout_base64,omitempty"`
	Stderr          string   `json:"stderr"`
	StderrBase64    string   `json:"stderr_base64,omitempty"`
	StdoutTruncated bool     `json:"stdout_truncated"` // the agent kept only the first 16 MiB
	StderrTruncated bool     `json:"stderr_truncated"`
	DurationSeconds float64  `json:"duration_seconds"`
}

// CopyResult is `vmctl cp --json`: one file copied between the host and a guest.
type CopyResult struct {
	Name        string `json:"name"`      // the VM
	Direction   string `json:"direction"` // to_guest or from_guest
	Source      string `json:"source"`
	Destination string `json:"destination"`
	SizeBytes   int64  `json:"size_bytes"`
	Mode        string `json:"mode"` // octal permission bits given to the copy, e.g. "0644"
}

// GuestInfo is `vmctl guest info`: what the guest agent reports (libvirt's GetGuestInfo).
// Parts the agent does not support are empty.
type GuestInfo struct {
	Name                  string           `json:"name"` // the VM
	Hostname              string           `json:"hostname"`
	OS                    GuestOS          `json:"os"`
	Timezone              string           `json:"timezone"`
	TimezoneOffsetSeconds *int             `json:"timezone_offset_seconds"`
	Users                 []GuestUser      `json:"users"`
	FileSystems           []GuestFS        `json:"file_systems"`
	Interfaces            []GuestInterface `json:"interfaces"`
}

// ObjectName is the VM's name, for -o name.
func (g GuestInfo) ObjectName() string { return g.Name }

// GuestOS is the guest's os-release and uname.
type GuestOS struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	PrettyName    string `json:"pretty_name"`
	Version       string `json:"version"`
	VersionID     string `json:"version_id"`
	KernelRelease string `json:"kernel_release"`
	KernelVersion string `json:"kernel_version"`
	Machine       string `json:"machine"`
}

// GuestUser is a user logged in to the guest.
type GuestUser struct {
	Name      string `json:"name"`
	Domain    string `json:"domain"`     // Windows logon domain
	LoginTime string `json:"login_time"` // RFC 3339 UTC, "" when not known
}

// GuestFS is a mounted file system in the guest.
type GuestFS struct {
	Mountpoint string   `json:"mountpoint"`
	Device     string   `json:"device"`
	Type       string   `json:"type"`
	TotalBytes *uint64  `json:"total_bytes"` // null when the agent does not say
	UsedBytes  *uint64  `json:"used_bytes"`
	Disks      []string `json:"disks"` // the VM's disk targets (aliases) it lives on
}

// GuestInterface is a network interface inside the guest.
type GuestInterface struct {
	Name      string         `json:"name"`
	MAC       string         `json:"mac"`
	Addresses []GuestAddress `json:"addresses"`
}

// GuestAddress is one address of a guest interface.
type GuestAddress struct {
	Family  string `json:"family"` // ipv4 or ipv6
	Address string `json:"address"`
	Prefix  int    `json:"prefix"`
}

// GuestAction is the result of `vmctl guest fstrim` and `vmctl guest password`.
type GuestAction struct {
	Name   string `json:"name"`   // the VM
	Action string `json:"action"` // trimmed, password_set
	User   string `json:"user,omitempty"`
}

// VMDisk is one disk of `vmctl disk list`: the disk as show describes it, and which
// definitions have it.
type VMDisk struct {
	VM string `json:"vm"`
	Disk
	// Definition says where the disk is: "both" (the running VM and its persistent
	// definition), "live" (attached to the running VM only: gone at its shutdown) or "config"
	// (the persistent definition only: a stopped VM's disks, or one the running VM gets at its
	// next start).
	Definition string `json:"definition"`
}

// VMNIC is one network interface of `vmctl nic list`.
type VMNIC struct {
	VM string `json:"vm"`
	NIC
	Link       string `json:"link"`       // up or down
	Definition string `json:"definition"` // both, live or config, as VMDisk's
}

// DeviceChange is what `vmctl disk attach|detach|resize` and `vmctl nic attach|detach|link`
// did to one device.
type DeviceChange struct {
	VM     string `json:"vm"`
	Kind   string `json:"kind"`   // disk or nic
	Target string `json:"target"` // a disk's target (vdb); a running NIC's host device (vnet3)
	MAC    string `json:"mac"`    // a NIC's MAC address
	Source string `json:"source"` // pool/volume, file, network or bridge
	// Action is attached, detached, resized, link_up, link_down, or none when nothing had to
	// change.
	Action string `json:"action"`
	Live   bool   `json:"live"`   // the running VM has the change
	Config bool   `json:"config"` // the persistent definition has it
	// CapacityBytes is a disk's size after the change (attach, resize).
	CapacityBytes *uint64 `json:"capacity_bytes"`
	// VolumeCreated is the path of the volume attach made; VolumeRemoved the one detach
	// --remove-storage deleted.
	VolumeCreated string `json:"volume_created"`
	VolumeRemoved string `json:"volume_removed"`
	// Profile is the profile file --update-profile changed to match, "" when none was.
	Profile string `json:"profile"`
}

// ObjectName is the device changed, for -o name: a disk's target, a NIC's MAC.
func (c DeviceChange) ObjectName() string {
	if c.Kind == "nic" {
		return c.MAC
	}
	return c.Target
}

// JournalRecord is one entry of the operations journal (`hvctl history`): a command of hvctl
// that changed something, or a lifecycle event that came from elsewhere (source "external").
type JournalRecord struct {
	ID     int64  `json:"id"`
	Time   string `json:"time"`   // when the command started (or the event arrived), RFC 3339 UTC
	Source string `json:"source"` // hvctl, or external: an event no hvctl command explains
	// DurationSeconds is how long the command ran (millisecond precision); null while it is
	// still running, or when it was killed before it could say.
	DurationSeconds *float64        `json:"duration_seconds"`
	UID             *int            `json:"uid"` // null when unknown (external events)
	User            string          `json:"user"`
	SudoUser        string          `json:"sudo_user"` // the user behind sudo, "" without sudo
	Host            string          `json:"host"`      // the machine hvctl ran on
	URI             string          `json:"uri"`       // libvirt URI, password redacted
	Command         string          `json:"command"`   // the command: "vmctl start"; for external events "event TYPE"
	Argv            []string        `json:"argv"`      // the whole command line, secrets redacted
	Kind            string          `json:"kind"`      // what the targets are: vm, network, image, waiver …
	Targets         []JournalTarget `json:"targets"`
	// ExitCode is the command's exit status; null while it is still running (or was killed).
	ExitCode *int   `json:"exit_code"`
	Error    string `json:"error"`
}

// JournalTarget is one object a journaled command acted on and how that went.
type JournalTarget struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Action string `json:"action"` // what was done (started, stopped …), "" when unknown or failed
	Error  string `json:"error"`
}

// JournalPrune is what `hvctl history --prune` did.
type JournalPrune struct {
	Pruned int64  `json:"pruned"` // records removed
	Before string `json:"before"` // the cutoff: records that started before it were removed, RFC 3339 UTC
	File   string `json:"file"`   // the journal's file
}

// Migration is the outcome of `vmctl migrate`: where the VM went and what the move cost.
type Migration struct {
	Name            string   `json:"name"`
	UUID            string   `json:"uuid"`
	From            string   `json:"from"` // host name, or the URI when it is not a configured host
	To              string   `json:"to"`
	Mode            string   `json:"mode"` // live or offline
	Persistent      bool     `json:"persistent"`
	SourceKept      bool     `json:"source_kept"` // the definition stays on the source too
	CopyStorage     string   `json:"copy_storage,omitempty"`
	DurationSeconds float64  `json:"duration_seconds"`
	DataBytes       uint64   `json:"data_bytes"`
	Iterations      uint64   `json:"iterations"`
	DowntimeMillis  uint64   `json:"downtime_ms"`
	Autostart       bool     `json:"autostart"` // set on the target because it was set on the source
	Notes           []string `json:"notes,omitempty"`
	// Postcopy: the move switched to post-copy (--postcopy, when pre-copy did not converge),
	// PostcopyReason says why and PostcopyRequests how many pages the target then fetched.
	Postcopy         bool   `json:"postcopy"`
	PostcopyReason   string `json:"postcopy_reason,omitempty"`
	PostcopyRequests uint64 `json:"postcopy_requests,omitempty"`
}

// Evacuation is one VM's outcome of `vmctl evacuate`: where it went (or would go, --dry-run),
// why that host, and which hosts the preflight refused it for.
type Evacuation struct {
	Name        string `json:"name"`
	From        string `json:"from"`
	To          string `json:"to"`  // the host chosen; empty when no host of --to passes preflight
	Why         string `json:"why"` // why that host, among the hosts of --to
	MemoryBytes uint64 `json:"memory_bytes"`
	OK          bool   `json:"ok"`
	Action      string `json:"action"` // migrated, planned (--dry-run); empty for a VM that failed
	Error       string `json:"error"`
	Code        string `json:"code"` // error kind, empty when ok
	// Refused are the hosts of --to whose preflight refused the VM, each with its reasons.
	Refused         []Refusal `json:"refused"`
	DurationSeconds float64   `json:"duration_seconds"`
	DataBytes       uint64    `json:"data_bytes"`
	DowntimeMillis  uint64    `json:"downtime_ms"`
	Notes           []string  `json:"notes"` // what the preflight could not check
}

// Refusal is a host a migration preflight refused a VM for.
type Refusal struct {
	Host   string `json:"host"`
	Code   string `json:"code"` // the kind of the first problem: not_found, conflict …
	Reason string `json:"reason"`
}
