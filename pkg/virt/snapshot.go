package virt

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/qcow2"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Snapshot describes one snapshot of a domain.
type Snapshot struct {
	Name        string
	Parent      string
	Description string
	State       string // domain state when taken
	Created     time.Time
	Current     bool
	Memory      bool // holds the guest's memory (a running snapshot)
	External    bool
	// StateBytes is the saved guest state inside the qcow2 disks, as qemu-img's VM SIZE;
	// nil when the disks cannot be read from here (a remote host, no permission).
	StateBytes *uint64
}

// snapshotStateSizes reads the qcow2 snapshot tables of the domain's local disk files.
func (d *Domain) snapshotStateSizes(ctx context.Context) map[string]uint64 {
	if IsRemote(d.c.URI) {
		return nil
	}
	def, err := d.Definition(ctx, true)
	if err != nil {
		return nil
	}
	sizes := map[string]uint64{}
	read := false
	for _, disk := range def.Devices.Disks {
		if disk.Driver == nil || disk.Driver.Type != "qcow2" {
			continue
		}
		snaps, err := qcow2.Snapshots(d.c.DiskPath(ctx, disk))
		if err != nil {
			continue
		}
		read = true
		for _, s := range snaps {
			sizes[s.Name] += s.VMStateSize
		}
	}
	if !read {
		return nil
	}
	return sizes
}

// Snapshots lists the domain's snapshots, oldest first.
func (d *Domain) Snapshots(ctx context.Context) ([]Snapshot, error) {
	sizes := d.snapshotStateSizes(ctx)
	return call(ctx, d.c, "snapshots of "+d.Name, func() ([]Snapshot, error) {
		snaps, err := d.d.ListAllSnapshots(0)
		if err != nil {
			return nil, err
		}
		out := make([]Snapshot, 0, len(snaps))
		for i := range snaps {
			s, err := describeSnapshot(&snaps[i])
			_ = snaps[i].Free()
			if err != nil {
				return nil, err
			}
			if n, ok := sizes[s.Name]; ok && !s.External {
				s.StateBytes = &n
			}
			out = append(out, s)
		}
		// Oldest first; within one second (the clock's grain) a parent comes before its child.
		parents := make(map[string]string, len(out))
		for _, x := range out {
			parents[x.Name] = x.Parent
		}
		depth := make(map[string]int, len(out))
		for _, x := range out {
			n := 0
			for p := x.Parent; p != "" && n < len(out); p = parents[p] {
				n++
			}
			depth[x.Name] = n
		}
		sort.SliceStable(out, func(i, j int) bool {
			if !out[i].Created.Equal(out[j].Created) {
				return out[i].Created.Before(out[j].Created)
			}
			return depth[out[i].Name] < depth[out[j].Name]
		})
		return out, nil
	})
}

// snapshotStateName maps the state a snapshot's XML records (libvirt's own words: shutoff,
// shutdown, nostate, disk-snapshot) to the contract's, so that a snapshot taken of a shut-off VM
// says shut_off as vmctl list does and one jq select fits both.
func snapshotStateName(s string) string {
	switch s {
	case "shutoff":
		return StateShutOff
	case "shutdown":
		return StateShutdown
	case "nostate":
		return StateNone
	case "disk-snapshot":
		return "disk_snapshot"
	}
	return s
}

func describeSnapshot(s *libvirt.DomainSnapshot) (Snapshot, error) {
	x, err := s.GetXMLDesc(0)
	if err != nil {
		return Snapshot{}, err
	}
	var def libvirtxml.DomainSnapshot
	if err := def.Unmarshal(ValidXML(x)); err != nil {
		return Snapshot{}, err
	}
	out := Snapshot{Name: def.Name, Description: def.Description, State: snapshotStateName(def.State)}
	if def.Parent != nil {
		out.Parent = def.Parent.Name
	}
	if secs, err := strconv.ParseInt(def.CreationTime, 10, 64); err == nil {
		out.Created = time.Unix(secs, 0).UTC()
	}
	if def.Memory != nil {
		out.Memory = def.Memory.Snapshot == "internal" || def.Memory.Snapshot == "external"
		out.External = def.Memory.Snapshot == "external"
	}
	if def.Disks != nil {
		for _, dk := range def.Disks.Disks {
			if dk.Snapshot == "external" {
				out.External = true
			}
		}
	}
	out.Current, _ = s.IsCurrent(0)
	return out, nil
}

// internalSnapshotsUnsafe says why libvirt 9 cannot take or use internal snapshots of this VM.
func (d *Domain) internalSnapshotsUnsafe(ctx context.Context) error {
	def, err := d.Definition(ctx, true)
	if err != nil {
		return err
	}
	if os := def.OS; os != nil && (os.Firmware == "efi" || os.Loader != nil && os.Loader.Type == "pflash") {
		return errs.New(errs.Conflict, "%s boots UEFI (pflash NVRAM): libvirt 9 cannot take internal snapshots of it", d.Name).
			WithHint("shut it down and copy its disks, or use external disk snapshots with virsh")
	}
	for _, disk := range def.Devices.Disks {
		if disk.Device == "disk" && disk.ReadOnly == nil && (disk.Driver == nil || disk.Driver.Type != "qcow2") {
			dev := ""
			if disk.Target != nil {
				dev = disk.Target.Dev
			}
			return errs.New(errs.Conflict, "%s has a writable disk %s that is not qcow2: internal snapshots need qcow2", d.Name, dev)
		}
	}
	return nil
}

// hotPluggedVCPUs counts the vCPUs of a running domain that were plugged in after it started
// (libvirt marks boot vCPUs not hotpluggable).
func hotPluggedVCPUs(live *libvirtxml.Domain) int {
	n := 0
	if live.VCPUs != nil {
		for _, v := range live.VCPUs.VCPU {
			if v.Enabled == "yes" && v.Hotpluggable == "yes" {
				n++
			}
		}
	}
	return n
}

// CreateSnapshot takes an internal snapshot (with memory when the domain runs).
func (d *Domain) CreateSnapshot(ctx context.Context, name, description string) (Snapshot, error) {
	if err := d.internalSnapshotsUnsafe(ctx); err != nil {
		return Snapshot{}, err
	}
	if live, err := d.Definition(ctx, false); err == nil && hotPluggedVCPUs(live) > 0 {
		// Measured with QEMU 7.2 and libvirt 9: the snapshot is taken, but reverting to it
		// fails ("Unknown savevm section cpu_common") because the CPU is not there at start.
		return Snapshot{}, errs.New(errs.Conflict, "%s runs with %d vCPU(s) plugged in since it started: QEMU could not revert a snapshot of it", d.Name, hotPluggedVCPUs(live)).
			WithHint("restart the VM first (vmctl restart %s); its definition already has the vCPUs", d.Name)
	}
	existing, err := d.Snapshots(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	for _, s := range existing {
		if s.External {
			return Snapshot{}, errs.New(errs.Conflict, "%s has external snapshots (%s): mixing internal and external snapshots in one chain is not safe", d.Name, s.Name)
		}
		if s.Name == name {
			return Snapshot{}, errs.New(errs.Conflict, "snapshot %s of %s exists", name, d.Name)
		}
	}
	x, err := (&libvirtxml.DomainSnapshot{Name: name, Description: description}).Marshal()
	if err != nil {
		return Snapshot{}, err
	}
	return call(ctx, d.c, "snapshot "+d.Name, func() (Snapshot, error) {
		s, err := d.d.CreateSnapshotXML(x, libvirt.DOMAIN_SNAPSHOT_CREATE_ATOMIC)
		if err != nil {
			return Snapshot{}, err
		}
		defer func() { _ = s.Free() }()
		return describeSnapshot(s)
	})
}

func (d *Domain) snapshot(ctx context.Context, name string) (*libvirt.DomainSnapshot, Snapshot, error) {
	type res struct {
		s    *libvirt.DomainSnapshot
		info Snapshot
	}
	r, err := call(ctx, d.c, "snapshot "+name, func() (res, error) {
		s, err := d.d.SnapshotLookupByName(name, 0)
		if err != nil {
			return res{}, err
		}
		info, err := describeSnapshot(s)
		if err != nil {
			_ = s.Free()
			return res{}, err
		}
		return res{s, info}, nil
	})
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return nil, Snapshot{}, errs.New(errs.NotFound, "snapshot %s of %s not found", name, d.Name).WithHint("list them with: vmctl snapshot list %s", d.Name)
		}
		return nil, Snapshot{}, err
	}
	return r.s, r.info, nil
}

// RevertSnapshot returns the domain to the snapshot; state "running" or "paused" forces that
// state afterwards, "" keeps the snapshot's.
func (d *Domain) RevertSnapshot(ctx context.Context, name, state string) error {
	s, info, err := d.snapshot(ctx, name)
	if err != nil {
		return err
	}
	defer d.c.freeWhenIdle(func() { _ = s.Free() }) // the revert may outlive an interrupt
	if info.External {
		return errs.New(errs.Conflict, "snapshot %s is external: libvirt 9 cannot revert external snapshots", name)
	}
	if err := d.internalSnapshotsUnsafe(ctx); err != nil {
		return err
	}
	var flags libvirt.DomainSnapshotRevertFlags
	switch state {
	case "running":
		flags = libvirt.DOMAIN_SNAPSHOT_REVERT_RUNNING
	case "paused":
		flags = libvirt.DOMAIN_SNAPSHOT_REVERT_PAUSED
	}
	return call0(ctx, d.c, "revert "+d.Name, func() error { return s.RevertToSnapshot(flags) })
}

// DeleteSnapshot deletes the snapshot and its data (for internal snapshots libvirt removes
// both); its children are kept and re-parented.
func (d *Domain) DeleteSnapshot(ctx context.Context, name string) error {
	s, info, err := d.snapshot(ctx, name)
	if err != nil {
		return err
	}
	defer d.c.freeWhenIdle(func() { _ = s.Free() }) // the delete may outlive an interrupt
	if info.External {
		return errs.New(errs.Conflict, "snapshot %s is external: libvirt 9 would delete only its metadata and leave the overlay files", name)
	}
	return call0(ctx, d.c, "delete snapshot "+name, func() error { return s.Delete(0) })
}
