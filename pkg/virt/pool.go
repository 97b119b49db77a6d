package virt

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// ErrNoPool is the not-found error for a storage pool name, with the way to make one.
func ErrNoPool(name string) error {
	return errs.New(errs.NotFound, "storage pool %s not found", name).
		WithHint("see the pools with: vmctl pool list; make a directory pool with: vmctl pool create %s --type dir --path /var/lib/libvirt/images/%s", name, name)
}

// withPool runs fn on the pool called name, within one libvirt call; a missing pool is
// ErrNoPool.
func withPool[T any](ctx context.Context, c *Conn, name, what string, fn func(p *libvirt.StoragePool) (T, error)) (T, error) {
	v, err := call(ctx, c, what+" "+name, func() (T, error) {
		var zero T
		p, err := c.c.LookupStoragePoolByName(name)
		if err != nil {
			return zero, err
		}
		defer func() { _ = p.Free() }()
		return fn(p)
	})
	if err != nil && IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
		return v, ErrNoPool(name)
	}
	return v, err
}

func withPool0(ctx context.Context, c *Conn, name, what string, fn func(p *libvirt.StoragePool) error) error {
	_, err := withPool(ctx, c, name, what, func(p *libvirt.StoragePool) (struct{}, error) { return struct{}{}, fn(p) })
	return err
}

// poolStateName maps libvirt's pool state to the contract's word.
func poolStateName(s libvirt.StoragePoolState) string {
	switch s {
	case libvirt.STORAGE_POOL_INACTIVE:
		return "inactive"
	case libvirt.STORAGE_POOL_BUILDING:
		return "building"
	case libvirt.STORAGE_POOL_RUNNING:
		return "running"
	case libvirt.STORAGE_POOL_DEGRADED:
		return "degraded"
	case libvirt.STORAGE_POOL_INACCESSIBLE:
		return "inaccessible"
	}
	return "unknown"
}

// describePool reads one pool's definition, state and sizes.
func describePool(p *libvirt.StoragePool) (model.Pool, error) {
	var out model.Pool
	x, err := p.GetXMLDesc(0)
	if err != nil {
		return out, err
	}
	var def libvirtxml.StoragePool
	if err := def.Unmarshal(ValidXML(x)); err != nil {
		return out, err
	}
	info, err := p.GetInfo()
	if err != nil {
		return out, err
	}
	out = model.Pool{Name: def.Name, UUID: def.UUID, Type: def.Type, State: poolStateName(info.State), Volumes: -1}
	out.Active = info.State == libvirt.STORAGE_POOL_RUNNING || info.State == libvirt.STORAGE_POOL_DEGRADED
	if def.Target != nil {
		out.Path = def.Target.Path
	}
	out.Source = poolSource(def.Source)
	if out.Autostart, err = p.GetAutostart(); err != nil {
		return out, err
	}
	if out.Persistent, err = p.IsPersistent(); err != nil {
		return out, err
	}
	if out.Active {
		out.CapacityBytes, out.AllocationBytes, out.AvailableBytes = info.Capacity, info.Allocation, info.Available
		if n, err := p.NumOfStorageVolumes(); err == nil {
			out.Volumes = n
		}
	}
	return out, nil
}

// poolSource says where a pool's storage comes from, in one string: host:/export for netfs,
// the volume group and its devices for logical, the device for fs.
func poolSource(s *libvirtxml.StoragePoolSource) string {
	if s == nil {
		return ""
	}
	var devs []string
	for _, d := range s.Device {
		devs = append(devs, d.Path)
	}
	var host string
	if len(s.Host) > 0 {
		host = s.Host[0].Name
	}
	switch {
	case host != "" && s.Dir != nil:
		return host + ":" + s.Dir.Path
	case host != "" && s.Name != "":
		return host + ":" + s.Name
	case s.Name != "" && len(devs) > 0:
		return s.Name + " on " + strings.Join(devs, ",")
	case s.Name != "":
		return s.Name
	case s.Dir != nil:
		return s.Dir.Path
	}
	return strings.Join(devs, ",")
}

// Pools lists every storage pool, sorted by name: one list call and, per pool, its definition
// and info (a host has a handful of pools).
func (c *Conn) Pools(ctx context.Context) ([]model.Pool, error) {
	return call(ctx, c, "list pools", func() ([]model.Pool, error) {
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return []model.Pool{}, nil
			}
			return nil, err
		}
		out := make([]model.Pool, 0, len(pools))
		var firstErr error
		for i := range pools {
			m, err := describePool(&pools[i])
			_ = pools[i].Free()
			switch {
			case IsGone(err): // undefined since it was listed
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			default:
				out = append(out, m)
			}
		}
		if firstErr != nil {
			return nil, firstErr
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	})
}

// Pool describes the pool called name.
func (c *Conn) Pool(ctx context.Context, name string) (model.Pool, error) {
	return withPool(ctx, c, name, "pool", describePool)
}

// PoolDefinition reads the pool's persistent definition.
func (c *Conn) PoolDefinition(ctx context.Context, name string) (*libvirtxml.StoragePool, error) {
	return withPool(ctx, c, name, "pool", func(p *libvirt.StoragePool) (*libvirtxml.StoragePool, error) {
		x, err := p.GetXMLDesc(0) // the target is the same in both; the test driver takes no flags
		if err != nil {
			return nil, err
		}
		def := &libvirtxml.StoragePool{}
		return def, def.Unmarshal(ValidXML(x))
	})
}

// PoolNames lists the pools' names, sorted (for completion and not-found hints).
func (c *Conn) PoolNames(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list pools", func() ([]string, error) {
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(pools))
		for i := range pools {
			if n, err := pools[i].GetName(); err == nil {
				names = append(names, n)
			}
			_ = pools[i].Free()
		}
		sort.Strings(names)
		return names, nil
	})
}

// DefinePool defines a persistent pool from def. A pool of that name is a conflict.
func (c *Conn) DefinePool(ctx context.Context, def *libvirtxml.StoragePool) error {
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	err = call0(ctx, c, "define pool "+def.Name, func() error {
		if p, err := c.c.LookupStoragePoolByName(def.Name); err == nil {
			_ = p.Free()
			return errs.New(errs.Conflict, "storage pool %s exists", def.Name)
		}
		p, err := c.c.StoragePoolDefineXML(x, 0)
		if err != nil {
			return err
		}
		return p.Free()
	})
	return err
}

// BuildPool prepares the pool's storage (makes the directory, the volume group, the mount
// point). onDevices asks libvirt to refuse devices that hold data (a file system or LVM label):
// building a volume group on devices formats them. Directories are never overwritten.
func (c *Conn) BuildPool(ctx context.Context, name string, onDevices bool) error {
	var flags libvirt.StoragePoolBuildFlags
	if onDevices {
		flags = libvirt.STORAGE_POOL_BUILD_NO_OVERWRITE
	}
	return withPool0(ctx, c, name, "build pool", func(p *libvirt.StoragePool) error { return p.Build(flags) })
}

// StartPool activates the pool; an active one is left as it is (started is false then).
func (c *Conn) StartPool(ctx context.Context, name string) (started bool, err error) {
	return withPool(ctx, c, name, "start pool", func(p *libvirt.StoragePool) (bool, error) {
		if active, err := p.IsActive(); err != nil || active {
			return false, err
		}
		return true, p.Create(0)
	})
}

// StopPool deactivates the pool (its data stays); an inactive one is left (stopped false).
func (c *Conn) StopPool(ctx context.Context, name string) (stopped bool, err error) {
	return withPool(ctx, c, name, "stop pool", func(p *libvirt.StoragePool) (bool, error) {
		if active, err := p.IsActive(); err != nil || !active {
			return false, err
		}
		return true, p.Destroy()
	})
}

// SetPoolAutostart sets whether the pool starts with the daemon: autostart_on or
// autostart_off, or none when it already was as asked, as for a domain.
func (c *Conn) SetPoolAutostart(ctx context.Context, name string, on bool) (string, error) {
	return withPool(ctx, c, name, "autostart pool", func(p *libvirt.StoragePool) (string, error) {
		return switchAutostart(p.GetAutostart, p.SetAutostart, on)
	})
}

// UndefinePool removes the pool's definition; its storage stays where it is.
func (c *Conn) UndefinePool(ctx context.Context, name string) error {
	return withPool0(ctx, c, name, "undefine pool", func(p *libvirt.StoragePool) error { return p.Undefine() })
}

// DeletePoolStorage removes the pool's storage itself (the directory, the volume group), which
// libvirt refuses while the pool is active or, for a directory, not empty.
func (c *Conn) DeletePoolStorage(ctx context.Context, name string) error {
	return withPool0(ctx, c, name, "delete pool storage", func(p *libvirt.StoragePool) error {
		return p.Delete(libvirt.STORAGE_POOL_DELETE_NORMAL)
	})
}

// LinkedPoolDir says, on a local connection, whether a pool's target path is a symbolic link
// to a directory, and which: libvirt removes a directory pool's storage with rmdir(target),
// which fails on a link (ENOTDIR). A remote host's links cannot be seen (ok is false).
func (c *Conn) LinkedPoolDir(target string) (real string, ok bool) {
	if target == "" || IsRemote(c.URI) || !filepath.IsAbs(target) {
		return "", false
	}
	fi, err := os.Lstat(target)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return "", false
	}
	real, err = filepath.EvalSymlinks(target)
	if err != nil {
		return "", false
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", false
	}
	return real, true
}

// RemoveEmptyPoolDir removes dir, the real directory of a stopped pool whose target is a link
// to it (LinkedPoolDir), as libvirt would remove a directory pool's target: only when it is an
// empty directory, never what is in it, never a link. Local connections only.
func (c *Conn) RemoveEmptyPoolDir(dir string) error {
	if IsRemote(c.URI) {
		return errs.New(errs.Usage, "cannot remove %s on a remote host", dir)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errs.New(errs.Conflict, "%s is not a directory", dir)
	}
	if err := syscall.Rmdir(dir); err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return errs.New(errs.Conflict, "%s is not empty (files libvirt does not list as volumes)", dir)
		}
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

// RefreshPool rescans the pool's storage so that files made outside libvirt show as volumes.
func (c *Conn) RefreshPool(ctx context.Context, name string) error {
	return withPool0(ctx, c, name, "refresh pool", func(p *libvirt.StoragePool) error { return p.Refresh(0) })
}

// describeVolume is a volume as the contract prints it.
func describeVolume(pool string, v *libvirt.StorageVol) (model.Volume, error) {
	var out model.Volume
	x, err := v.GetXMLDesc(0)
	if err != nil {
		return out, err
	}
	var def libvirtxml.StorageVolume
	if err := def.Unmarshal(ValidXML(x)); err != nil {
		return out, err
	}
	out = model.Volume{Pool: pool, Name: def.Name, Type: def.Type, Path: def.Key, UsedBy: []string{}}
	if def.Target != nil {
		out.Path = def.Target.Path
		if def.Target.Format != nil {
			out.Format = def.Target.Format.Type
		}
	}
	if out.Type == "" {
		out.Type = "file"
	}
	if def.BackingStore != nil {
		out.Backing = def.BackingStore.Path
	}
	info, err := v.GetInfo()
	if err != nil {
		return out, err
	}
	out.CapacityBytes, out.AllocationBytes = info.Capacity, info.Allocation
	return out, nil
}

// Volumes lists the volumes of pool, sorted by name. The pool must be active.
func (c *Conn) Volumes(ctx context.Context, pool string) ([]model.Volume, error) {
	return withPool(ctx, c, pool, "volumes of", func(p *libvirt.StoragePool) ([]model.Volume, error) {
		if active, err := p.IsActive(); err != nil {
			return nil, err
		} else if !active {
			return nil, errPoolInactive(pool)
		}
		vols, err := p.ListAllStorageVolumes(0)
		if err != nil {
			return nil, err
		}
		out := make([]model.Volume, 0, len(vols))
		var firstErr error
		for i := range vols {
			m, err := describeVolume(pool, &vols[i])
			_ = vols[i].Free()
			switch {
			case IsCode(err, libvirt.ERR_NO_STORAGE_VOL): // deleted since it was listed
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			default:
				out = append(out, m)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, firstErr
	})
}

func errPoolInactive(pool string) error {
	return errs.New(errs.Conflict, "storage pool %s is not active", pool).WithHint("start it with: vmctl pool start %s", pool)
}

// ErrNoVolume is the not-found error for pool/name.
func ErrNoVolume(pool, name string) error {
	return errs.New(errs.NotFound, "volume %s not found in pool %s", name, pool).WithHint("see its volumes with: vmctl volume list %s", pool)
}

// withVolume runs fn on pool/name in one call, with pool and volume not-found errors that
// say which.
func withVolume[T any](ctx context.Context, c *Conn, pool, name, what string, fn func(v *libvirt.StorageVol) (T, error)) (T, error) {
	return withPool(ctx, c, pool, what, func(p *libvirt.StoragePool) (T, error) {
		var zero T
		if active, err := p.IsActive(); err != nil {
			return zero, err
		} else if !active {
			return zero, errPoolInactive(pool)
		}
		v, err := p.LookupStorageVolByName(name)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_VOL) {
				return zero, ErrNoVolume(pool, name)
			}
			return zero, err
		}
		defer func() { _ = v.Free() }()
		return fn(v)
	})
}

// VolumeInfo describes pool/name.
func (c *Conn) VolumeInfo(ctx context.Context, pool, name string) (model.Volume, error) {
	return withVolume(ctx, c, pool, name, "volume", func(v *libvirt.StorageVol) (model.Volume, error) {
		return describeVolume(pool, v)
	})
}

// DeleteVolumeIn deletes pool/name. Callers check first that nothing uses it.
func (c *Conn) DeleteVolumeIn(ctx context.Context, pool, name string) error {
	_, err := withVolume(ctx, c, pool, name, "delete volume", func(v *libvirt.StorageVol) (struct{}, error) {
		return struct{}{}, v.Delete(libvirt.STORAGE_VOL_DELETE_NORMAL)
	})
	return err
}

// PoolUsers maps each VM whose disks are in pool (a volume of it, or a file under its target
// directory) to those disks' paths. It scans every domain, failing closed as DiskUsers does.
func (c *Conn) PoolUsers(ctx context.Context, pool string) (map[string][]string, error) {
	def, err := c.PoolDefinition(ctx, pool)
	if err != nil {
		return nil, err
	}
	paths := map[string]bool{}
	if p, err := c.Pool(ctx, pool); err == nil && p.Active {
		vols, err := c.Volumes(ctx, pool)
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			paths[c.RealPath(v.Path)] = true
		}
	} else if err != nil {
		return nil, err
	}
	users, err := c.DiskUsers(ctx, "")
	if err != nil {
		return nil, err
	}
	// Paths compare by their real names: a VM may name a disk through a symlinked directory,
	// or the pool's target be one (DiskUsers files each disk under both names).
	var dir string
	if def.Target != nil && def.Target.Path != "" {
		dir = c.RealPath(def.Target.Path)
	}
	out := map[string][]string{}
	for path, vms := range users {
		real := c.RealPath(path)
		if !paths[real] && (dir == "" || filepath.Dir(real) != dir) {
			continue
		}
		for _, vm := range vms {
			if !slices.Contains(out[vm], real) {
				out[vm] = append(out[vm], real)
			}
		}
	}
	return out, nil
}

// VolumeBytes is how many bytes a download of pool/name streams: the file's size on its pool
// (a qcow2's, not its virtual disk's).
func (c *Conn) VolumeBytes(ctx context.Context, pool, name string) (uint64, error) {
	return withVolume(ctx, c, pool, name, "volume", func(v *libvirt.StorageVol) (uint64, error) {
		info, err := v.GetInfoFlags(libvirt.STORAGE_VOL_GET_PHYSICAL)
		if err != nil {
			return 0, err
		}
		return info.Allocation, nil
	})
}

// DownloadVolume streams pool/name into w, calling progress with the bytes so far.
func (c *Conn) DownloadVolume(ctx context.Context, pool, name string, w io.Writer, progress func(done int64)) error {
	_, err := withVolume(ctx, c, pool, name, "download", func(v *libvirt.StorageVol) (struct{}, error) {
		st, err := c.c.NewStream(0)
		if err != nil {
			return struct{}{}, err
		}
		defer func() { _ = st.Free() }()
		if err := v.Download(st, 0, 0, 0); err != nil {
			return struct{}{}, err
		}
		var done int64
		err = st.RecvAll(func(_ *libvirt.Stream, b []byte) (int, error) {
			if err := ctx.Err(); err != nil {
				return 0, err // interrupted: stop pulling bytes nobody will keep
			}
			n, err := w.Write(b)
			done += int64(n)
			if progress != nil {
				progress(done)
			}
			return n, err
		})
		if err != nil {
			_ = st.Abort()
			return struct{}{}, err
		}
		return struct{}{}, st.Finish()
	})
	return err
}

// ActiveDomainNames lists the running (and paused) domains, sorted. One RPC.
func (c *Conn) ActiveDomainNames(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list domains", func() ([]string, error) {
		doms, err := c.c.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
		if err != nil {
			return nil, err
		}
		return namesAndFree(doms), nil
	})
}

// BackedVolumes maps each file that backs a volume (a base under a qcow2 overlay) to that
// overlay's path: the volumes of active pools, and on this machine the files of inactive
// directory pools.
func (c *Conn) BackedVolumes(ctx context.Context) (map[string]string, error) {
	return c.backingFiles(ctx)
}
