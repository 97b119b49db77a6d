package model

// Pool is one libvirt storage pool, as `vmctl pool list` and `vmctl pool show` print it.
type Pool struct {
	Name       string `json:"name"`
	UUID       string `json:"uuid"`
	Type       string `json:"type"`  // dir, logical, netfs, fs, …
	State      string `json:"state"` // running, inactive, building, degraded, inaccessible
	Active     bool   `json:"active"`
	Autostart  bool   `json:"autostart"`
	Persistent bool   `json:"persistent"`
	Path       string `json:"path"`   // the target: a directory, /dev/VG, a mount point
	Source     string `json:"source"` // host:/export, VG on devices, a device; "" for dir
	// Sizes and the volume count are known only while the pool is active (0 and -1 otherwise).
	CapacityBytes   uint64 `json:"capacity_bytes"`
	AllocationBytes uint64 `json:"allocation_bytes"`
	AvailableBytes  uint64 `json:"available_bytes"`
	Volumes         int    `json:"volumes"`
}

// ObjectName is the pool's name, for -o name.
func (p Pool) ObjectName() string { return p.Name }

// PoolChange is what `vmctl pool create|start|stop|autostart|delete|refresh` did to a pool.
type PoolChange struct {
	Name   string `json:"name"`
	Action string `json:"action"` // created, started, stopped, autostart-on, deleted, refreshed, none …
	// Steps of create (defined, built, started, autostart) or delete (stopped, volumes-deleted,
	// storage-deleted, undefined), in the order taken.
	Steps []string `json:"steps"`
	// Kept says what delete left in place: without --delete-data, the pool's storage; with it,
	// a symlink the pool's target was.
	Kept string `json:"kept"`
	// Removed are the paths delete --delete-data removed: each volume's, then the pool's
	// directory (its real one when the target was a symlink to it).
	Removed []string `json:"removed,omitempty"`
}

// ObjectName is the pool's name, for -o name.
func (p PoolChange) ObjectName() string { return p.Name }

// Volume is one storage volume of a pool.
type Volume struct {
	Pool            string   `json:"pool"`
	Name            string   `json:"name"`
	Type            string   `json:"type"`   // file, block, dir, network …
	Format          string   `json:"format"` // qcow2, raw, iso …; "" when libvirt does not say
	Path            string   `json:"path"`
	CapacityBytes   uint64   `json:"capacity_bytes"`
	AllocationBytes uint64   `json:"allocation_bytes"`
	Backing         string   `json:"backing"` // the file a qcow2 overlay reads through; "" when none
	UsedBy          []string `json:"used_by"` // VMs whose disks use it, directly or as a backing file
}

// ObjectName is pool/name, the form volume commands take, for -o name.
func (v Volume) ObjectName() string { return v.Pool + "/" + v.Name }

// Transfer is what `vmctl volume upload` or `download` moved.
type Transfer struct {
	Pool   string `json:"pool"`
	Volume string `json:"volume"`
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	Action string `json:"action"` // uploaded or downloaded
}

// ObjectName is pool/volume, for -o name.
func (t Transfer) ObjectName() string { return t.Pool + "/" + t.Volume }

// Renamed is the outcome of `vmctl rename`.
type Renamed struct {
	Name           string `json:"name"`
	OldName        string `json:"old_name"`
	Snapshots      int    `json:"snapshots"`       // snapshots kept, now naming the new VM
	NVRAM          string `json:"nvram"`           // the NVRAM file's new path; "" when it did not move
	ProfileRenamed bool   `json:"profile_renamed"` // hvctl's metadata names the new profile
	ProfileFile    string `json:"profile_file"`    // the profile file that still has the old name; "" when none
}

// ObjectName is the new name, for -o name.
func (r Renamed) ObjectName() string { return r.Name }

// Screenshot is what `vmctl screenshot` wrote.
type Screenshot struct {
	VM     string `json:"vm"`
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// ObjectName is the file, for -o name.
func (s Screenshot) ObjectName() string { return s.File }
