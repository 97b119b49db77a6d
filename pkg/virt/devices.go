package virt

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Scope says which definitions a device change touches: the running VM's (Live), the
// persistent one (Config), or both.
type Scope struct{ Live, Config bool }

// String is the scope as `vmctl disk list` shows a device's presence: both, live or config.
func (s Scope) String() string {
	switch {
	case s.Live && s.Config:
		return "both"
	case s.Live:
		return "live"
	case s.Config:
		return "config"
	}
	return "none"
}

func (s Scope) attachFlags() libvirt.DomainDeviceModifyFlags {
	var f libvirt.DomainDeviceModifyFlags
	if s.Live {
		f |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	if s.Config {
		f |= libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	}
	return f
}

// Definitions are a domain's two views of its devices: Config, the persistent definition, and
// Live, the running one (nil when the domain does not run).
type Definitions struct {
	Running bool
	Live    *libvirtxml.Domain
	Config  *libvirtxml.Domain
}

// Definitions reads the persistent definition and, for a running (or paused) domain, the live
// one.
func (d *Domain) Definitions(ctx context.Context) (Definitions, error) {
	var out Definitions
	state, _, err := d.State(ctx)
	if err != nil {
		return out, err
	}
	if out.Config, err = d.Definition(ctx, true); err != nil {
		return out, err
	}
	out.Running = !isDown(state) && state != StateCrashed
	if out.Running {
		if out.Live, err = d.Definition(ctx, false); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Current is the definition that describes the VM as it is: the live one while it runs.
func (ds Definitions) Current() *libvirtxml.Domain {
	if ds.Live != nil {
		return ds.Live
	}
	return ds.Config
}

// FindDisk is the disk with target dev in def, or nil.
func FindDisk(def *libvirtxml.Domain, target string) *libvirtxml.DomainDisk {
	if def == nil || def.Devices == nil {
		return nil
	}
	for i := range def.Devices.Disks {
		if t := def.Devices.Disks[i].Target; t != nil && t.Dev == target {
			return &def.Devices.Disks[i]
		}
	}
	return nil
}

// FindNIC is the interface of def with the MAC or host-side device name key (case does not
// matter for a MAC), or nil.
func FindNIC(def *libvirtxml.Domain, key string) *libvirtxml.DomainInterface {
	if def == nil || def.Devices == nil {
		return nil
	}
	for i := range def.Devices.Interfaces {
		n := &def.Devices.Interfaces[i]
		if n.MAC != nil && strings.EqualFold(n.MAC.Address, key) || n.Target != nil && n.Target.Dev == key {
			return n
		}
	}
	return nil
}

// AttachDevice adds the device described by xml to the definitions scope names.
func (d *Domain) AttachDevice(ctx context.Context, xml string, s Scope) error {
	return call0(ctx, d.c, "attach device to "+d.Name, func() error { return d.d.AttachDeviceFlags(xml, s.attachFlags()) })
}

// UpdateDevice changes a device in place (a NIC's link state) in the definitions scope names.
func (d *Domain) UpdateDevice(ctx context.Context, xml string, s Scope) error {
	return call0(ctx, d.c, "update device of "+d.Name, func() error { return d.d.UpdateDeviceFlags(xml, s.attachFlags()) })
}

// DetachDevice asks libvirt to remove the device described by xml from the definitions scope
// names. The persistent definition changes at once; the running VM's device goes only when its
// guest releases it (an unplug request it may take its time with or refuse): watch for that
// with WatchRemoval, registered before this call.
func (d *Domain) DetachDevice(ctx context.Context, xml string, s Scope) error {
	return call0(ctx, d.c, "detach device from "+d.Name, func() error { return d.d.DetachDeviceFlags(xml, s.attachFlags()) })
}

// Removal watches one device of a running domain for libvirt's device-removed and
// device-removal-failed events.
type Removal struct {
	d      *Domain
	alias  string
	ids    []int
	wake   chan struct{}
	mu     sync.Mutex
	failed bool
}

// WatchRemoval registers for the removal events of the device whose alias is given (as the
// live definition names it: virtio-disk1, net1). Register before the detach call, or the
// event can come and go unseen; Close when done. A driver without these events leaves the
// wait to polling.
func (d *Domain) WatchRemoval(ctx context.Context, alias string) (*Removal, error) {
	r := &Removal{d: d, alias: alias, wake: make(chan struct{}, 1)}
	notify := func(failed bool, devAlias string) {
		if devAlias != r.alias {
			return
		}
		if failed {
			r.mu.Lock()
			r.failed = true
			r.mu.Unlock()
		}
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	for _, register := range []func() (int, error){
		func() (int, error) {
			return d.c.c.DomainEventDeviceRemovedRegister(d.d, func(_ *libvirt.Connect, _ *libvirt.Domain, e *libvirt.DomainEventDeviceRemoved) {
				notify(false, e.DevAlias)
			})
		},
		func() (int, error) {
			return d.c.c.DomainEventDeviceRemovalFailedRegister(d.d, func(_ *libvirt.Connect, _ *libvirt.Domain, e *libvirt.DomainEventDeviceRemovalFailed) {
				notify(true, e.DevAlias)
			})
		},
	} {
		id, err := call(ctx, d.c, "events of "+d.Name, register)
		switch {
		case err == nil:
			r.ids = append(r.ids, id)
		case errs.KindOf(err) == errs.Timeout || errs.KindOf(err) == errs.Interrupted || errs.KindOf(err) == errs.Unreachable:
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close deregisters the events, bounded, and not at all on a daemon that stopped answering.
func (r *Removal) Close() {
	if r == nil || len(r.ids) == 0 || !r.d.c.Answering() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
	defer cancel()
	for _, id := range r.ids {
		_ = call0(ctx, r.d.c, "stop events of "+r.d.Name, func() error { return r.d.c.c.DomainEventDeregister(id) })
	}
	r.ids = nil
}

// ErrRemovalRefused is returned by Wait when libvirt reports that the guest refused to release
// the device.
var ErrRemovalRefused = errors.New("the guest refused to release the device")

// Wait returns once gone reports the device gone from the live definition, woken by the
// events and polling otherwise; ErrRemovalRefused when libvirt reports the guest refused; a
// timeout error when ctx ends first.
func (r *Removal) Wait(ctx context.Context, gone func(ctx context.Context) (bool, error)) error {
	return poll(ctx, r.wake, func() (bool, error) {
		r.mu.Lock()
		failed := r.failed
		r.mu.Unlock()
		if failed {
			return false, ErrRemovalRefused
		}
		return gone(ctx)
	})
}

// DiskGone says whether the running domain no longer has a disk at target.
func (d *Domain) DiskGone(ctx context.Context, target string) (bool, error) {
	def, err := d.Definition(ctx, false)
	if err != nil {
		return false, err
	}
	return FindDisk(def, target) == nil, nil
}

// NICGone says whether the running domain no longer has the interface with that MAC.
func (d *Domain) NICGone(ctx context.Context, mac string) (bool, error) {
	def, err := d.Definition(ctx, false)
	if err != nil {
		return false, err
	}
	return FindNIC(def, mac) == nil, nil
}

// DiskCapacity is the size of the disk at target as the running domain sees it.
func (d *Domain) DiskCapacity(ctx context.Context, target string) (uint64, error) {
	bi, err := call(ctx, d.c, "block info "+target, func() (*libvirt.DomainBlockInfo, error) { return d.d.GetBlockInfo(target, 0) })
	if err != nil {
		return 0, err
	}
	return bi.Capacity, nil
}

// Disks describes the domain's disks for `vmctl disk list`: those of the running definition
// (or, for a stopped domain, the persistent one) with their sizes and backing chains, then
// those only the persistent definition has; each says which definitions have it. Sorted by
// target.
func (d *Domain) Disks(ctx context.Context, defs Definitions) []model.VMDisk {
	out := []model.VMDisk{}
	cur := defs.Current()
	for _, disk := range cur.Devices.Disks {
		m := domainxml.DescribeDisk(disk)
		d.diskSize(ctx, disk, &m)
		d.fillBacking(ctx, disk, &m)
		scope := Scope{Live: defs.Running, Config: !defs.Running || disk.Target != nil && FindDisk(defs.Config, disk.Target.Dev) != nil}
		out = append(out, model.VMDisk{VM: d.Name, Disk: m, Definition: scope.String()})
	}
	if defs.Running {
		for _, disk := range defs.Config.Devices.Disks {
			if disk.Target == nil || FindDisk(defs.Live, disk.Target.Dev) != nil {
				continue
			}
			// Not attached: only its volume can tell its size.
			m := domainxml.DescribeDisk(disk)
			if p := d.c.DiskPath(ctx, disk); p != "" {
				if v, err := d.c.LookupVolumeByPath(ctx, p); err == nil {
					m.CapacityBytes, m.AllocationBytes = &v.Capacity, &v.Allocation
				}
			}
			d.fillBacking(ctx, disk, &m)
			out = append(out, model.VMDisk{VM: d.Name, Disk: m, Definition: Scope{Config: true}.String()})
		}
	}
	slices.SortStableFunc(out, func(a, b model.VMDisk) int { return compareTargets(a.Target, b.Target) })
	return out
}

// compareTargets orders vda < vdb < … < vdz < vdaa, as libvirt counts.
func compareTargets(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func (d *Domain) fillBacking(ctx context.Context, disk libvirtxml.DomainDisk, m *model.Disk) {
	m.Backing = []string{}
	if p, err := d.c.diskPathStrict(ctx, disk.Source); err == nil && p != "" {
		if chain, err := d.c.backingChain(ctx, p); err == nil {
			m.Backing = append(m.Backing, chain...)
		}
	}
}

// NICs describes the domain's interfaces for `vmctl nic list`, as Disks does its disks, with
// their link state and, while the domain runs, their addresses (best effort).
func (d *Domain) NICs(ctx context.Context, defs Definitions) []model.VMNIC {
	out := []model.VMNIC{}
	var addrs []model.Address
	if defs.Running {
		addrs, _ = d.Addresses(ctx, []string{"lease", "agent"})
	}
	add := func(nic libvirtxml.DomainInterface, scope Scope) {
		m := domainxml.DescribeNIC(nic)
		for _, a := range addrs {
			if a.MAC == m.MAC {
				m.Addresses = append(m.Addresses, a)
			}
		}
		link := "up"
		if nic.Link != nil && nic.Link.State == "down" {
			link = "down"
		}
		out = append(out, model.VMNIC{VM: d.Name, NIC: m, Link: link, Definition: scope.String()})
	}
	for _, nic := range defs.Current().Devices.Interfaces {
		inConfig := !defs.Running || nic.MAC != nil && FindNIC(defs.Config, nic.MAC.Address) != nil
		add(nic, Scope{Live: defs.Running, Config: inConfig})
	}
	if defs.Running {
		for _, nic := range defs.Config.Devices.Interfaces {
			if nic.MAC != nil && FindNIC(defs.Live, nic.MAC.Address) == nil {
				add(nic, Scope{Config: true})
			}
		}
	}
	return out
}

// MACUsers maps every MAC address in any domain's definitions (lower case) to the domain.
func (c *Conn) MACUsers(ctx context.Context) (map[string]string, error) { return c.vmsByMAC(ctx) }

// BelongsTo says whether hvctl names volume as one of vm's own (VM.qcow2, VM-dataN.qcow2,
// VM-cidata.iso): what create, clone and disk attach make for it.
func BelongsTo(volume, vm string) bool { return belongsTo(volume, vm) }

// VolumeBasedOn names a volume whose backing file is path (an overlay on it), "" when none is.
func (c *Conn) VolumeBasedOn(ctx context.Context, path string) (string, error) {
	backing, err := c.backingFiles(ctx)
	if err != nil {
		return "", err
	}
	return c.OverlayOn(backing, path), nil
}
