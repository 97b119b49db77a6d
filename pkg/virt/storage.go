package virt

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// StoragePlan says which of a VM's volumes may go with it and why the others stay.
type StoragePlan struct {
	Remove []string          // volume paths
	Keep   map[string]string // path → reason
}

// PlanStorage decides which disks of d can be deleted with it. Install media, read-only and
// shareable disks, files in the protected directories (image and ISO stores), volumes another
// domain uses or that back another volume, and files that are no libvirt volume all stay.
// ownMedia names (base names) CD-ROM volumes that belong to the VM, such as its cloud-init seed:
// those go with it like its disks.
func (d *Domain) PlanStorage(ctx context.Context, protected, ownMedia []string) (StoragePlan, error) {
	plan := StoragePlan{Keep: map[string]string{}}
	def, err := d.Definition(ctx, true)
	if err != nil {
		return plan, err
	}
	users, err := d.c.DiskUsers(ctx, d.Name)
	if err != nil {
		return plan, err
	}
	backing, err := d.c.backingFiles(ctx)
	if err != nil {
		return plan, err
	}
	for _, disk := range def.Devices.Disks {
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
		case under(path, protected):
			plan.Keep[path] = "in the image store"
		case users[path] != "":
			plan.Keep[path] = "used by " + users[path]
		case backing[path] != "":
			plan.Keep[path] = "backing file of " + backing[path]
		default:
			ok, err := call(ctx, d.c, "lookup volume", func() (bool, error) {
				v, err := d.c.c.LookupStorageVolByPath(path)
				if err != nil {
					if IsCode(err, libvirt.ERR_NO_STORAGE_VOL) {
						return false, nil
					}
					return false, err
				}
				_ = v.Free()
				return true, nil
			})
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
	return plan, nil
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

// DiskUsers maps each disk path of every domain but except to one domain that uses it.
func (c *Conn) DiskUsers(ctx context.Context, except string) (map[string]string, error) {
	names, err := c.DomainNames(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	for _, n := range names {
		if n == except {
			continue
		}
		d, err := c.Domain(ctx, n)
		if err != nil {
			if errs.KindOf(err) == errs.NotFound {
				continue
			}
			return nil, err
		}
		def, err := d.Definition(ctx, true)
		if err != nil {
			d.Free()
			return nil, err
		}
		for _, disk := range def.Devices.Disks {
			if p := c.DiskPath(ctx, disk); p != "" && users[p] == "" {
				users[p] = n
			}
		}
		d.Free()
	}
	return users, nil
}

// backingFiles maps each path that backs a volume (a base image under an overlay) to that volume.
func (c *Conn) backingFiles(ctx context.Context) (map[string]string, error) {
	return call(ctx, c, "list volumes", func() (map[string]string, error) {
		out := map[string]string{}
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
					out[v.BackingStore.Path] = path
				}
			}
		}
		return out, nil
	})
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
