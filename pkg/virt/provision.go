package virt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// HostDomainType says what "auto" means on this host for arch: kvm when the capabilities offer
// it, qemu (emulation) otherwise.
func (c *Conn) HostDomainType(ctx context.Context, arch string) (string, error) {
	x, err := call(ctx, c, "capabilities", c.c.GetCapabilities)
	if err != nil {
		return "", err
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(x); err != nil {
		return "", errs.New(errs.Failure, "parse capabilities: %v", err)
	}
	found := false
	for _, g := range caps.Guests {
		if g.Arch.Name != arch || g.OSType != "hvm" {
			continue
		}
		found = true
		for _, d := range g.Arch.Domains {
			if d.Type == "kvm" {
				return "kvm", nil
			}
		}
	}
	if !found {
		return "", errs.New(errs.Conflict, "this host cannot run %s guests", arch)
	}
	return "qemu", nil
}

// Volume is a storage volume hvctl looked up or made.
type Volume struct {
	Pool, Name, Path string
	Format           string
	Capacity         uint64
	Allocation       uint64 // bytes the volume takes on its pool
}

// LookupVolumeByPath finds the volume at path and reads its format and capacity.
func (c *Conn) LookupVolumeByPath(ctx context.Context, path string) (*Volume, error) {
	return call(ctx, c, "lookup volume", func() (*Volume, error) {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return nil, err
		}
		defer func() { _ = v.Free() }()
		return describe(v)
	})
}

func describe(v *libvirt.StorageVol) (*Volume, error) {
	x, err := v.GetXMLDesc(0)
	if err != nil {
		return nil, err
	}
	var def libvirtxml.StorageVolume
	if err := def.Unmarshal(ValidXML(x)); err != nil {
		return nil, err
	}
	out := &Volume{Name: def.Name, Path: def.Key}
	if def.Target != nil {
		out.Path = def.Target.Path
		if def.Target.Format != nil {
			out.Format = def.Target.Format.Type
		}
	}
	info, err := v.GetInfo()
	if err != nil {
		return nil, err
	}
	out.Capacity, out.Allocation = info.Capacity, info.Allocation
	return out, nil
}

// LookupVolume finds a volume by pool and name and reads its format and capacity.
func (c *Conn) LookupVolume(ctx context.Context, pool, name string) (*Volume, error) {
	return withVolume(ctx, c, pool, name, "volume", func(v *libvirt.StorageVol) (*Volume, error) {
		out, err := describe(v)
		if out != nil {
			out.Pool = pool
		}
		return out, err
	})
}

// GrowVolume sets a volume's capacity to bytes, which must not be less than it is: hvctl never
// shrinks a disk (that is how file systems are lost).
func (c *Conn) GrowVolume(ctx context.Context, pool, name string, bytes uint64) error {
	_, err := withVolume(ctx, c, pool, name, "grow volume", func(v *libvirt.StorageVol) (struct{}, error) {
		info, err := v.GetInfo()
		if err != nil {
			return struct{}{}, err
		}
		if bytes < info.Capacity {
			return struct{}{}, errs.New(errs.Conflict, "volume %s is %d bytes: not shrinking it to %d", name, info.Capacity, bytes)
		}
		if bytes < info.Allocation {
			// Internal snapshots can make a qcow2 file larger than its disk; libvirt then
			// refuses a size below the file's ("can't shrink capacity below existing allocation").
			return struct{}{}, errs.New(errs.Conflict, "volume %s takes %d bytes on disk (snapshots included), more than the new size %d", name, info.Allocation, bytes).
				WithHint("grow it further, prune its snapshots, or grow it while the VM runs")
		}
		return struct{}{}, v.Resize(bytes, 0)
	})
	return err
}

// VolumeExists says whether pool has a volume called name.
func (c *Conn) VolumeExists(ctx context.Context, pool, name string) (bool, error) {
	// Not withVolume: a missing volume is an answer here, a missing pool an error that says
	// how to make it, an inactive one how to start it.
	return call(ctx, c, "lookup volume", func() (bool, error) {
		p, err := c.c.LookupStoragePoolByName(pool)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
				return false, ErrNoPool(pool)
			}
			return false, err
		}
		defer func() { _ = p.Free() }()
		if active, err := p.IsActive(); err != nil {
			return false, err
		} else if !active {
			return false, errPoolInactive(pool)
		}
		v, err := p.LookupStorageVolByName(name)
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

// volumeTarget is the target of a volume hvctl makes. qcow2 is compat 1.1: libvirt 9 otherwise
// writes v2 (compat 0.10), which QEMU cannot grow once it holds a snapshot ("Can't resize a v2
// image which has snapshots"; found in e2e).
func volumeTarget(format string) *libvirtxml.StorageVolumeTarget {
	t := &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: format}}
	if format == "qcow2" {
		t.Compat = "1.1"
	}
	return t
}

// NewVolume describes a volume to create: empty, or an overlay on Backing.
type NewVolume struct {
	Pool, Name string
	Format     string // qcow2 or raw
	Capacity   uint64
	Backing    *Volume // overlay on this base; its format is read, never guessed
	Mode       string  // octal permissions, e.g. 0600
}

// CreateVolume makes the volume and returns it.
func (c *Conn) CreateVolume(ctx context.Context, nv NewVolume) (*Volume, error) {
	return c.createVolume(ctx, nv, c.journal)
}

// createVolume is CreateVolume recording into j.
func (c *Conn) createVolume(ctx context.Context, nv NewVolume, j *Journal) (*Volume, error) {
	def := libvirtxml.StorageVolume{
		Name:     nv.Name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: nv.Capacity, Unit: "bytes"},
		Target:   volumeTarget(nv.Format),
	}
	if nv.Format == "qcow2" {
		def.Allocation = &libvirtxml.StorageVolumeSize{Value: 0, Unit: "bytes"}
	}
	if nv.Mode != "" {
		def.Target.Permissions = &libvirtxml.StorageVolumeTargetPermissions{Mode: nv.Mode}
	}
	if b := nv.Backing; b != nil {
		if b.Format == "" {
			return nil, errs.New(errs.Failure, "base image %s: libvirt reports no format; refusing to guess", b.Path)
		}
		def.BackingStore = &libvirtxml.StorageVolumeBackingStore{
			Path: b.Path, Format: &libvirtxml.StorageVolumeTargetFormat{Type: b.Format},
		}
		if nv.Capacity < b.Capacity {
			def.Capacity.Value = b.Capacity
		}
	}
	x, err := def.Marshal()
	if err != nil {
		return nil, err
	}
	entry := j.enter("volume", nv.Pool, nv.Name, "")
	return call(ctx, c, "create volume "+nv.Name, func() (*Volume, error) {
		p, err := c.c.LookupStoragePoolByName(nv.Pool)
		if err != nil {
			entry.made(err)
			if IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
				return nil, ErrNoPool(nv.Pool) // with the command that makes it
			}
			return nil, err
		}
		defer func() { _ = p.Free() }()
		entry.running("")
		v, err := p.StorageVolCreateXML(x, 0)
		entry.made(err)
		if err != nil {
			return nil, err
		}
		defer func() { _ = v.Free() }()
		out, err := describe(v)
		if err != nil {
			return nil, err
		}
		out.Pool = nv.Pool
		return out, nil
	})
}

// Upload writes data into the volume at path, through a libvirt stream (works on remote hosts).
func (c *Conn) Upload(ctx context.Context, path string, data []byte) error {
	return c.uploadFrom(ctx, path, bytes.NewReader(data), int64(len(data)), nil)
}

// uploadFrom streams size bytes of r into the volume at path, reporting progress.
func (c *Conn) uploadFrom(ctx context.Context, path string, r io.Reader, size int64, progress func(done, total int64)) error {
	return call0(ctx, c, "upload "+filepath.Base(path), func() error {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return err
		}
		defer func() { _ = v.Free() }()
		st, err := c.c.NewStream(0)
		if err != nil {
			return err
		}
		defer func() { _ = st.Free() }()
		if err := v.Upload(st, 0, uint64(size), 0); err != nil {
			return err
		}
		buf := make([]byte, 1<<20)
		var done int64
		for {
			n, rerr := r.Read(buf)
			for p := buf[:n]; len(p) > 0; {
				m, err := st.Send(p)
				if err != nil {
					_ = st.Abort()
					return err
				}
				p = p[m:]
			}
			done += int64(n)
			if progress != nil && n > 0 {
				progress(done, size)
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				_ = st.Abort()
				return rerr
			}
		}
		return st.Finish()
	})
}

// DefineDomain defines a persistent domain from XML and returns it.
func (c *Conn) DefineDomain(ctx context.Context, name, xml string) (*Domain, error) {
	var entry *journalEntry
	if c.journal != nil {
		uuid := definedUUID(xml)
		if uuid == "" {
			// Without a UUID of ours, an unanswered define could not be told from another's.
			return nil, errs.New(errs.Failure, "define %s: the definition has no UUID", name)
		}
		entry = c.journal.enter("domain", "", name, uuid)
	}
	d, err := call(ctx, c, "define "+name, func() (*libvirt.Domain, error) {
		entry.running("")
		d, err := c.c.DomainDefineXMLFlags(xml, libvirt.DOMAIN_DEFINE_VALIDATE)
		entry.made(err)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	return &Domain{Name: name, c: c, d: d}, nil
}

// Exists says whether a domain of that name is defined.
func (c *Conn) Exists(ctx context.Context, name string) (bool, error) {
	d, err := c.Domain(ctx, name)
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return false, nil
		}
		return false, err
	}
	d.Free()
	return true, nil
}

// Download reads the whole volume at path through a libvirt stream; for small volumes such as
// seeds and records.
func (c *Conn) Download(ctx context.Context, path string) ([]byte, error) {
	var buf bytes.Buffer
	if err := c.DownloadTo(ctx, path, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DownloadTo streams the volume at path into w (to hash an image on a remote host without
// holding it in memory).
func (c *Conn) DownloadTo(ctx context.Context, path string, w io.Writer) error {
	return call0(ctx, c, "download", func() error {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return err
		}
		defer func() { _ = v.Free() }()
		st, err := c.c.NewStream(0)
		if err != nil {
			return err
		}
		defer func() { _ = st.Free() }()
		if err := v.Download(st, 0, 0, 0); err != nil {
			return err
		}
		err = st.RecvAll(func(_ *libvirt.Stream, b []byte) (int, error) { return w.Write(b) })
		if err != nil {
			_ = st.Abort()
			return err
		}
		return st.Finish()
	})
}

// PoolFiles lists the paths of the volumes in pool.
func (c *Conn) PoolFiles(ctx context.Context, pool string) ([]string, error) {
	return withPool(ctx, c, pool, "volumes of", func(p *libvirt.StoragePool) ([]string, error) {
		_ = p.Refresh(0)
		vols, err := p.ListAllStorageVolumes(0)
		if err != nil {
			return nil, err
		}
		var out []string
		for i := range vols {
			if path, err := vols[i].GetPath(); err == nil {
				out = append(out, path)
			}
			_ = vols[i].Free()
		}
		return out, nil
	})
}

// CopyVolume makes a full copy of src as a new volume in the same pool (libvirt copies the
// data, so this works on remote hosts and keeps the format).
func (c *Conn) CopyVolume(ctx context.Context, src *Volume, name string) (*Volume, error) {
	def := libvirtxml.StorageVolume{
		Name:     name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: src.Capacity, Unit: "bytes"},
		Target:   volumeTarget(src.Format),
	}
	x, err := def.Marshal()
	if err != nil {
		return nil, err
	}
	entry := c.journal.enter("volume", src.Pool, name, "")
	return call(ctx, c, "copy volume "+src.Name, func() (*Volume, error) {
		sv, err := c.c.LookupStorageVolByPath(src.Path)
		if err != nil {
			entry.made(err)
			return nil, err
		}
		defer func() { _ = sv.Free() }()
		p, err := sv.LookupPoolByVolume()
		if err != nil {
			entry.made(err)
			return nil, err
		}
		defer func() { _ = p.Free() }()
		pool, err := p.GetName()
		if err != nil {
			entry.made(err)
			return nil, err
		}
		entry.running(pool)
		v, err := p.StorageVolCreateXMLFrom(x, sv, 0)
		entry.made(err)
		if err != nil {
			return nil, err
		}
		defer func() { _ = v.Free() }()
		out, err := describe(v)
		if err != nil {
			return nil, err
		}
		out.Pool = pool
		return out, nil
	})
}

// PoolOf names the pool that holds the volume at path.
func (c *Conn) PoolOf(ctx context.Context, path string) (string, error) {
	return call(ctx, c, "pool of "+path, func() (string, error) {
		v, err := c.c.LookupStorageVolByPath(path)
		if err != nil {
			return "", err
		}
		defer func() { _ = v.Free() }()
		p, err := v.LookupPoolByVolume()
		if err != nil {
			return "", err
		}
		defer func() { _ = p.Free() }()
		return p.GetName()
	})
}

// EnsureDirPool makes sure a directory pool called name serves dir: created (and set to start
// with the daemon) on first use, refreshed otherwise so that new files show as volumes.
func (c *Conn) EnsureDirPool(ctx context.Context, name, dir string) error {
	return call0(ctx, c, "pool "+name, func() error {
		p, err := c.c.LookupStoragePoolByName(name)
		if err == nil {
			defer func() { _ = p.Free() }()
			// A pool left from an earlier configuration would take the files elsewhere.
			if x, err := p.GetXMLDesc(0); err == nil {
				var def libvirtxml.StoragePool
				if def.Unmarshal(x) == nil && def.Target != nil && filepath.Clean(def.Target.Path) != filepath.Clean(dir) {
					return errs.New(errs.Conflict, "pool %s serves %s, not %s", name, def.Target.Path, dir).
						WithHint("set the store's path back to %s, or remove the pool (virsh pool-destroy %s; virsh pool-undefine %s)", def.Target.Path, name, name)
				}
			}
			if active, _ := p.IsActive(); !active {
				if err := p.Create(0); err != nil {
					return err
				}
			}
			return p.Refresh(0)
		}
		if !IsCode(err, libvirt.ERR_NO_STORAGE_POOL) {
			return err
		}
		// 0711: the store's file names are nobody else's business (auditctl's STOR-001), but QEMU,
		// which runs as another user, must still reach the ISOs and the base images that back
		// overlays by path: 0750 root:root made every linked disk "Permission denied".
		x, err := (&libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: dir,
			Permissions: &libvirtxml.StoragePoolTargetPermissions{Mode: "0711"}}}).Marshal()
		if err != nil {
			return err
		}
		p, err = c.c.StoragePoolDefineXML(x, 0)
		if err != nil {
			return err
		}
		defer func() { _ = p.Free() }()
		if err := p.Build(0); err != nil {
			return err
		}
		if err := p.Create(0); err != nil {
			return err
		}
		return p.SetAutostart(true)
	})
}

// UploadFile copies a local file into pool as the volume name, through a libvirt stream: the
// way to fill a store on a remote host, or one the local user may not write. A volume of that
// name is a conflict; a failed upload removes the volume it made.
func (c *Conn) UploadFile(ctx context.Context, pool, name, path string, progress func(done, total int64)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if exists, err := c.VolumeExists(ctx, pool, name); err != nil {
		return err
	} else if exists {
		return errs.New(errs.Conflict, "volume %s exists in pool %s", name, pool)
	}
	// The volume is journaled: an interrupt while its create is in flight still removes it.
	j := &Journal{}
	vol, err := c.createVolume(ctx, NewVolume{Pool: pool, Name: name, Format: "raw", Capacity: uint64(fi.Size()), Mode: "0644"}, j)
	if err == nil {
		err = c.uploadFrom(ctx, vol.Path, f, fi.Size(), progress)
	}
	if err != nil {
		cleanup, cancel := WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := c.Rollback(cleanup, j); rerr != nil {
			return fmt.Errorf("%w; %v", err, rerr)
		}
		return err
	}
	return call0(ctx, c, "refresh "+pool, func() error {
		p, err := c.c.LookupStoragePoolByName(pool)
		if err != nil {
			return err
		}
		defer func() { _ = p.Free() }()
		return p.Refresh(0)
	})
}

// IsRemote says whether the URI names another host (its files are not ours to write).
func IsRemote(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Host != ""
}
