package virt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/qcow2"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// StoragePlan says which of a VM's volumes may go with it and why the others stay.
type StoragePlan struct {
	Remove []string          // volume paths
	Keep   map[string]string // path → reason
	// Unresolved names disks whose volume cannot be found now (its pool is inactive or gone),
	// with the reason: deleting the VM would leave them behind unseen, so callers refuse.
	Unresolved map[string]string // pool/volume → reason
}

// PlanStorage decides which disks of d can be deleted with it. Install media, read-only and
// shareable disks, files in the protected directories (image and ISO stores), volumes another
// domain uses or that back another volume, and files that are no libvirt volume all stay.
// ownMedia names (base names) CD-ROM volumes that belong to the VM, such as its cloud-init seed:
// those go with it like its disks.
func (d *Domain) PlanStorage(ctx context.Context, protected, ownMedia []string) (StoragePlan, error) {
	plan := StoragePlan{Keep: map[string]string{}, Unresolved: map[string]string{}}
	def, err := d.Definition(ctx, true)
	if err != nil {
		return plan, err
	}
	users, err := d.c.DiskUsers(ctx, d.Name)
	if err != nil {
		return plan, err
	}
	backing, err := d.c.Overlays(ctx)
	if err != nil {
		return plan, err
	}
	for _, disk := range def.Devices.Disks {
		if disk.Source != nil && disk.Source.Volume != nil && disk.Device != "cdrom" && disk.Device != "floppy" {
			if why, err := d.c.volumeUnresolved(ctx, disk.Source.Volume.Pool, disk.Source.Volume.Volume); err != nil {
				return plan, err
			} else if why != "" {
				plan.Unresolved[disk.Source.Volume.Pool+"/"+disk.Source.Volume.Volume] = why
				continue
			}
		}
		path := d.c.DiskPath(ctx, disk)
		if path == "" {
			continue
		}
		own := disk.Source != nil && disk.Source.Volume != nil && contains(ownMedia, filepath.Base(path))
		switch {
		case (disk.Device == "cdrom" || disk.Device == "floppy") && !own:
			plan.Keep[path] = "install media"
		case disk.ReadOnly != nil && !own:
			plan.Keep[path] = "read-only disk"
		case disk.Shareable != nil:
			plan.Keep[path] = "shareable disk"
		case d.c.Under(path, protected):
			plan.Keep[path] = "in the image store"
		case len(d.c.UsersOf(users, path)) > 0:
			plan.Keep[path] = "used by " + strings.Join(d.c.UsersOf(users, path), ", ")
		case len(d.c.OverlaysOn(backing, path)) > 0:
			plan.Keep[path] = "backing file of " + d.c.OverlaysOn(backing, path)[0]
		default:
			ok, err := d.c.isVolume(ctx, path)
			if err != nil {
				return plan, err
			}
			if !ok {
				plan.Keep[path] = "not in a libvirt storage pool"
				continue
			}
			plan.Remove = append(plan.Remove, path)
		}
	}
	return plan, d.planSnapshotBases(ctx, &plan, protected, users, backing)
}

// planSnapshotBases adds to plan the files below the disks it removes that the VM's own external
// snapshots left: each such snapshot made the disk an overlay on the file the VM wrote until
// then, which is not among the disks of its definition. They go with the VM under the same
// rules as its disks, once every overlay on them goes too; the others are kept and reported, not
// left behind unseen. A base the VM's snapshots do not name (a template under a linked clone)
// is not the VM's and is not touched.
func (d *Domain) planSnapshotBases(ctx context.Context, plan *StoragePlan, protected []string, users, backing map[string][]string) error {
	if len(plan.Remove) == 0 {
		return nil
	}
	own, err := d.snapshotFiles(ctx)
	if err != nil || len(own) == 0 {
		return err
	}
	removing := map[string]bool{}
	for _, p := range plan.Remove {
		removing[d.c.RealPath(p)] = true
	}
	for i := 0; i < len(plan.Remove); i++ { // grows as bases join: a chain of snapshots
		chain, err := d.c.backingChain(ctx, plan.Remove[i])
		if err != nil {
			return err
		}
		if len(chain) == 0 {
			continue
		}
		base := chain[0]
		real := d.c.RealPath(base)
		if !own[real] || removing[real] || plan.Keep[base] != "" {
			continue
		}
		var others []string
		for _, o := range d.c.OverlaysOn(backing, base) {
			if !removing[d.c.RealPath(o)] {
				others = append(others, o)
			}
		}
		switch {
		case d.c.Under(base, protected):
			plan.Keep[base] = "in the image store"
		case len(d.c.UsersOf(users, base)) > 0:
			plan.Keep[base] = "used by " + strings.Join(d.c.UsersOf(users, base), ", ")
		case len(others) > 0:
			plan.Keep[base] = "backing file of " + strings.Join(others, ", ")
		default:
			ok, err := d.c.isVolume(ctx, base)
			if err != nil {
				return err
			}
			if !ok {
				plan.Keep[base] = "not in a libvirt storage pool"
				continue
			}
			plan.Remove = append(plan.Remove, base)
			removing[real] = true
		}
	}
	return nil
}

// snapshotFiles is the set (by real name) of the files the VM's snapshots name: its disks when
// each was taken and the overlays external ones made.
func (d *Domain) snapshotFiles(ctx context.Context) (map[string]bool, error) {
	sources, err := call(ctx, d.c, "snapshots of "+d.Name, func() ([]*libvirtxml.DomainDiskSource, error) {
		snaps, err := d.d.ListAllSnapshots(0)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return nil, nil
			}
			return nil, err
		}
		var out []*libvirtxml.DomainDiskSource
		var first error
		for i := range snaps {
			x, err := snaps[i].GetXMLDesc(0)
			_ = snaps[i].Free()
			var def libvirtxml.DomainSnapshot
			if err == nil {
				err = def.Unmarshal(x)
			}
			if err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			if def.Disks != nil {
				for _, dk := range def.Disks.Disks {
					out = append(out, dk.Source)
				}
			}
			if def.Domain != nil && def.Domain.Devices != nil {
				for _, dk := range def.Domain.Devices.Disks {
					out = append(out, dk.Source)
				}
			}
		}
		return out, first
	})
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, s := range sources {
		if s == nil {
			continue
		}
		var p string
		switch {
		case s.File != nil:
			p = s.File.File
		case s.Block != nil:
			p = s.Block.Dev
		case s.Volume != nil:
			p = d.c.DiskPath(ctx, libvirtxml.DomainDisk{Source: s})
		}
		if p != "" {
			own[d.c.RealPath(p)] = true
		}
	}
	return own, nil
}

// isVolume says whether path is a volume of a libvirt storage pool.
func (c *Conn) isVolume(ctx context.Context, path string) (bool, error) {
	return call(ctx, c, "lookup volume", func() (bool, error) {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_VOL) {
				return false, nil
			}
			return false, err
		}
		_ = v.Free()
		return true, nil
	})
}

// volumeUnresolved says why the volume name of pool cannot be looked up, or "" when it can
// (or when it is simply not there any more: nothing to delete).
func (c *Conn) volumeUnresolved(ctx context.Context, pool, name string) (string, error) {
	return call(ctx, c, "lookup volume "+name, func() (string, error) {
		p, err := c.c.LookupStoragePoolByName(pool)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
				return "pool " + pool + " does not exist", nil
			}
			return "", err
		}
		defer func() { _ = p.Free() }()
		if active, err := p.IsActive(); err != nil {
			return "", err
		} else if !active {
			return "pool " + pool + " is not active", nil
		}
		return "", nil
	})
}

// Under says whether path is in one of dirs (the image and ISO stores), by name or, on a
// local connection, by real name: a store configured through a symlinked directory, or a
// file named through one, is the same store.
func (c *Conn) Under(path string, dirs []string) bool {
	if under(path, dirs) {
		return true
	}
	real := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d != "" {
			real = append(real, c.RealPath(d))
		}
	}
	return under(c.RealPath(path), real)
}

func under(path string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		rel, err := filepath.Rel(filepath.Clean(d), filepath.Clean(path))
		if err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

func (c *Conn) DiskPath(ctx context.Context, disk libvirtxml.DomainDisk) string {
	s := disk.Source
	switch {
	case s == nil:
		return ""
	case s.File != nil:
		return s.File.File
	case s.Block != nil:
		return s.Block.Dev
	case s.Volume != nil:
		p, _ := call(ctx, c, "lookup volume", func() (string, error) {
			pool, err := c.c.LookupStoragePoolByName(s.Volume.Pool)
			if err != nil {
				return "", err
			}
			defer func() { _ = pool.Free() }()
			v, err := pool.LookupStorageVolByName(s.Volume.Volume)
			if err != nil {
				return "", err
			}
			defer func() { _ = v.Free() }()
			return v.GetPath()
		})
		return p
	}
	return ""
}

// DiskUsers maps every file a domain other than except depends on to the sorted names of all
// those domains: each disk's own source and, below it, its backing chain — the live
// <backingStore> of a running domain and, for every disk, the chain read from the volume (libvirt
// reads the qcow2 headers) or, for a local file outside any pool, from the qcow2 headers here.
//
// The scan fails closed: a domain that vanishes or cannot be read, a volume that cannot be
// resolved, or a chain that cannot be read is an error, never "not in use", since callers
// delete what nobody uses.
func (c *Conn) DiskUsers(ctx context.Context, except string) (map[string][]string, error) {
	names, err := c.DomainNames(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	chains := map[string][]string{} // a base shared by many overlays is read once
	for _, n := range names {
		if n == except {
			continue
		}
		paths, err := c.domainFiles(ctx, n, chains)
		if err != nil {
			return nil, errs.Wrap(err, "cannot tell which images %s uses", n)
		}
		for _, p := range paths {
			// Under its own name and, when a symlink leads there, under the file's real name:
			// one VM may name through a linked directory the file another names directly.
			for _, key := range []string{p, c.RealPath(p)} {
				if !slices.Contains(users[key], n) {
					users[key] = append(users[key], n)
				}
			}
		}
	}
	for _, u := range users {
		slices.Sort(u)
	}
	return users, nil
}

// RealPath is path with symbolic links resolved, on a local connection, so two names of one
// file compare equal; a file that does not exist yet is resolved through its directory. A
// remote host's paths (and what cannot be resolved) are only cleaned.
func (c *Conn) RealPath(path string) string {
	clean := filepath.Clean(path)
	if IsRemote(c.URI) || !filepath.IsAbs(clean) {
		return clean
	}
	if real, err := filepath.EvalSymlinks(clean); err == nil {
		return real
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(clean)); err == nil {
		return filepath.Join(dir, filepath.Base(clean))
	}
	return clean
}

// UsersOf names the domains in users (from DiskUsers) that use path under any of its names.
func (c *Conn) UsersOf(users map[string][]string, path string) []string {
	if u := users[c.RealPath(path)]; len(u) > 0 {
		return u // every user is filed under the real name too
	}
	return users[path]
}

// OverlayOn names the volume in backing (from BackedVolumes) whose backing file is path under
// any of its names, "" when none is.
func (c *Conn) OverlayOn(backing map[string]string, path string) string {
	if o := backing[c.RealPath(path)]; o != "" {
		return o
	}
	return backing[path]
}

// domainFiles lists the files domain n depends on, in its persistent and its live definition.
func (c *Conn) domainFiles(ctx context.Context, n string, chains map[string][]string) ([]string, error) {
	d, err := c.Domain(ctx, n)
	if err != nil {
		return nil, err // gone mid-scan: it may have been redefined under another name
	}
	defer d.Free()
	var out []string
	for _, inactive := range []bool{true, false} {
		def, err := d.Definition(ctx, inactive)
		if err != nil {
			return nil, err
		}
		for _, disk := range def.Devices.Disks {
			p, err := c.diskPathStrict(ctx, disk.Source)
			if err != nil {
				return nil, err
			}
			if p == "" {
				continue
			}
			out = append(out, p)
			for b := disk.BackingStore; b != nil; b = b.BackingStore {
				if bp, err := c.diskPathStrict(ctx, b.Source); err != nil {
					return nil, err
				} else if bp != "" {
					out = append(out, bp)
				}
			}
			chain, ok := chains[p]
			if !ok {
				if chain, err = c.backingChain(ctx, p); err != nil {
					return nil, err
				}
				chains[p] = chain
			}
			out = append(out, chain...)
		}
	}
	return out, nil
}

// diskPathStrict is the file behind a disk source, like DiskPath, but a volume that cannot be
// looked up is resolved through its pool's target directory, and failing that is an error.
func (c *Conn) diskPathStrict(ctx context.Context, s *libvirtxml.DomainDiskSource) (string, error) {
	switch {
	case s == nil:
		return "", nil
	case s.File != nil:
		return s.File.File, nil
	case s.Block != nil:
		return s.Block.Dev, nil
	case s.Volume == nil:
		return "", nil // network disks and the like name no local file
	}
	return call(ctx, c, "lookup volume "+s.Volume.Volume, func() (string, error) {
		pool, err := c.c.LookupStoragePoolByName(s.Volume.Pool)
		if err != nil {
			return "", err
		}
		defer func() { _ = pool.Free() }()
		if v, err := pool.LookupStorageVolByName(s.Volume.Volume); err == nil {
			defer func() { _ = v.Free() }()
			return v.GetPath()
		}
		// An inactive pool lists no volumes; a directory pool still says where they are.
		x, err := pool.GetXMLDesc(0)
		if err != nil {
			return "", err
		}
		var def libvirtxml.StoragePool
		if err := def.Unmarshal(x); err != nil {
			return "", err
		}
		if (def.Type == "dir" || def.Type == "fs" || def.Type == "netfs") && def.Target != nil && def.Target.Path != "" {
			return filepath.Join(def.Target.Path, s.Volume.Volume), nil
		}
		return "", errs.New(errs.Failure, "volume %s of pool %s cannot be resolved to a file", s.Volume.Volume, s.Volume.Pool)
	})
}

// backingChain lists the files under path, nearest first: from libvirt's view of the volume
// when path is one, else (on a local connection) from the qcow2 headers. A missing file ends
// the chain (nothing lies below it); a file that cannot be read is an error.
func (c *Conn) backingChain(ctx context.Context, path string) ([]string, error) {
	var chain []string
	seen := map[string]bool{path: true}
	for cur := path; ; {
		next, known, err := c.volumeBacking(ctx, cur)
		if err != nil {
			return nil, err
		}
		if !known {
			if IsRemote(c.URI) {
				return chain, nil // a remote file outside any pool: only libvirt could read it
			}
			next, err = qcow2.BackingFile(cur)
			switch {
			case errors.Is(err, qcow2.ErrNotQcow2), errors.Is(err, fs.ErrNotExist):
				return chain, nil
			case err != nil:
				return nil, fmt.Errorf("backing chain of %s: %w", path, err)
			}
		}
		if next == "" || seen[next] || len(chain) == 64 {
			return chain, nil
		}
		seen[next] = true
		chain = append(chain, next)
		if !strings.HasPrefix(next, "/") {
			return chain, nil // a protocol (nbd:, json:): no local file below
		}
		cur = next
	}
}

// volumeBacking is the backing file libvirt reports for the volume at path; known is false when
// path is no volume.
func (c *Conn) volumeBacking(ctx context.Context, path string) (backing string, known bool, err error) {
	type res struct {
		backing string
		known   bool
	}
	r, err := call(ctx, c, "lookup volume "+path, func() (res, error) {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_VOL) || IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return res{}, nil
			}
			return res{}, err
		}
		defer func() { _ = v.Free() }()
		x, err := v.GetXMLDesc(0)
		if err != nil {
			return res{}, err
		}
		var def libvirtxml.StorageVolume
		if err := def.Unmarshal(x); err != nil {
			return res{}, err
		}
		if def.BackingStore != nil {
			return res{def.BackingStore.Path, true}, nil
		}
		return res{"", true}, nil
	})
	return r.backing, r.known, err
}

// backingFiles maps each path that backs a volume (a base image under an overlay) to that volume
// (one of them, when several overlays share the base).
func (c *Conn) backingFiles(ctx context.Context) (map[string]string, error) {
	all, err := c.Overlays(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(all))
	for b, o := range all {
		out[b] = o[0]
	}
	return out, nil
}

// Overlays maps each path that backs a volume (a base image under an overlay) to the paths of
// all the volumes it backs, sorted: the volumes of active pools and, on this machine, the qcow2
// files of inactive directory pools. A base is filed under the name its overlay gives it and
// under its real name.
func (c *Conn) Overlays(ctx context.Context) (map[string][]string, error) {
	out, err := call(ctx, c, "list volumes", func() (map[string][]string, error) {
		out := map[string][]string{}
		pools, err := c.c.ListAllStoragePools(libvirt.CONNECT_LIST_STORAGE_POOLS_ACTIVE)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return out, nil
			}
			return nil, err
		}
		for i := range pools {
			vols, err := pools[i].ListAllStorageVolumes(0)
			_ = pools[i].Free()
			if err != nil {
				continue
			}
			for j := range vols {
				x, err := vols[j].GetXMLDesc(0)
				path, _ := vols[j].GetPath()
				_ = vols[j].Free()
				if err != nil {
					continue
				}
				var v libvirtxml.StorageVolume
				if v.Unmarshal(x) == nil && v.BackingStore != nil && v.BackingStore.Path != "" {
					c.fileBacking(out, v.BackingStore.Path, path)
				}
			}
		}
		return out, c.inactivePoolBacking(out)
	})
	for _, o := range out {
		slices.Sort(o)
	}
	return out, err
}

// fileBacking files overlay under its backing file's name and under its real name: an overlay
// may name its base through a symlink.
func (c *Conn) fileBacking(out map[string][]string, backing, overlay string) {
	for _, key := range []string{backing, c.RealPath(backing)} {
		if !slices.Contains(out[key], overlay) {
			out[key] = append(out[key], overlay)
		}
	}
}

// OverlaysOn lists the volumes in overlays (from Overlays) whose backing file is path under any
// of its names.
func (c *Conn) OverlaysOn(overlays map[string][]string, path string) []string {
	if o := overlays[c.RealPath(path)]; len(o) > 0 {
		return o
	}
	return overlays[path]
}

// inactivePoolBacking adds the overlays in the directories of inactive pools to out. libvirt lists
// no volumes of an inactive pool, so an overlay parked there (a template, the disk of a VM whose
// pool is stopped) would not protect its base; on this machine the qcow2 headers say. A remote
// host's inactive pools cannot be read from here and are left out.
func (c *Conn) inactivePoolBacking(out map[string][]string) error {
	if IsRemote(c.URI) {
		return nil
	}
	pools, err := c.c.ListAllStoragePools(libvirt.CONNECT_LIST_STORAGE_POOLS_INACTIVE)
	if err != nil {
		if IsCode(err, libvirt.ERR_NO_SUPPORT) {
			return nil
		}
		return err
	}
	var dirs []string
	for i := range pools {
		x, err := pools[i].GetXMLDesc(0)
		_ = pools[i].Free()
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
				continue // undefined since it was listed
			}
			return err
		}
		var def libvirtxml.StoragePool
		if def.Unmarshal(x) == nil && (def.Type == "dir" || def.Type == "fs" || def.Type == "netfs") &&
			def.Target != nil && def.Target.Path != "" {
			dirs = append(dirs, def.Target.Path)
		}
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // an unbuilt or unmounted pool holds nothing
		}
		if err != nil {
			// Fail closed: the caller deletes what no overlay is seen on.
			return fmt.Errorf("inactive pool directory %s: %w", dir, err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			path := filepath.Join(dir, e.Name())
			backing, err := qcow2.BackingFile(path)
			switch {
			case errors.Is(err, qcow2.ErrNotQcow2), errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				return fmt.Errorf("overlays of inactive pool directory %s: %w", dir, err)
			case backing != "":
				c.fileBacking(out, backing, path)
			}
		}
	}
	return nil
}

// DeleteVolume deletes the storage volume at path.
func (c *Conn) DeleteVolume(ctx context.Context, path string) error {
	return call0(ctx, c, "delete volume", func() error {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return err
		}
		defer func() { _ = v.Free() }()
		return v.Delete(0)
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PoolServing names the storage pool, active or not, whose target is the directory dir.
func (c *Conn) PoolServing(ctx context.Context, dir string) (string, bool, error) {
	type found struct {
		name string
		ok   bool
	}
	r, err := call(ctx, c, "pools", func() (found, error) {
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil {
			return found{}, err
		}
		var out found
		for i := range pools {
			if !out.ok {
				if x, err := pools[i].GetXMLDesc(0); err == nil {
					var def libvirtxml.StoragePool
					if def.Unmarshal(x) == nil && def.Target != nil && def.Target.Path != "" && filepath.Clean(def.Target.Path) == filepath.Clean(dir) {
						out = found{def.Name, true}
					}
				}
			}
			_ = pools[i].Free()
		}
		return out, nil
	})
	return r.name, r.ok, err
}
