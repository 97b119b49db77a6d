package virt

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"libvirt.org/go/libvirt"
)

// Orphan is a volume a create or clone that died (SIGKILL, a crash, a daemon gone for good)
// left behind: named as hvctl names a VM's volumes, for a VM that does not exist, and used by
// no domain and no other volume.
type Orphan struct {
	VM, Pool, Name, Path string
}

// hvctlVolume matches the names create and clone give a VM's volumes (domainxml.SystemVolume,
// ExtraVolume, SeedVolume): VM.qcow2, VM-dataN.qcow2, VM-cidata.iso.
var hvctlVolume = regexp.MustCompile(`^(.+?)(-data[1-9][0-9]*\.qcow2|-cidata\.iso|\.qcow2)$`)

// OwnerOf is the VM a volume name says it belongs to, or "" for a name hvctl does not make.
func OwnerOf(volume string) string {
	m := hvctlVolume.FindStringSubmatch(volume)
	if m == nil {
		return ""
	}
	return m[1]
}

// Orphans lists the orphaned volumes of pool. The scan fails closed: a domain that cannot be
// read is an error, never "unused", since the caller deletes what it returns.
func (c *Conn) Orphans(ctx context.Context, pool string) ([]Orphan, error) {
	names, err := c.DomainNames(ctx)
	if err != nil {
		return nil, err
	}
	users, err := c.DiskUsers(ctx, "")
	if err != nil {
		return nil, err
	}
	backing, err := c.backingFiles(ctx)
	if err != nil {
		return nil, err
	}
	vols, err := withPool(ctx, c, pool, "volumes of", func(p *libvirt.StoragePool) ([][2]string, error) {
		_ = p.Refresh(0)
		all, err := p.ListAllStorageVolumes(0)
		if err != nil {
			return nil, err
		}
		var out [][2]string
		var first error
		for i := range all {
			name, err := all[i].GetName()
			path, perr := all[i].GetPath()
			_ = all[i].Free()
			if err == nil {
				err = perr
			}
			if err != nil {
				if first == nil && !IsCode(err, libvirt.ERR_NO_STORAGE_VOL) {
					first = err
				}
				continue
			}
			out = append(out, [2]string{name, path})
		}
		return out, first
	})
	if err != nil {
		return nil, err
	}
	var out []Orphan
	for _, v := range vols {
		vm := OwnerOf(v[0])
		if vm == "" || len(c.UsersOf(users, v[1])) > 0 || c.OverlayOn(backing, v[1]) != "" ||
			slices.ContainsFunc(names, func(n string) bool { return belongsTo(v[0], n) }) {
			continue
		}
		out = append(out, Orphan{VM: vm, Pool: pool, Name: v[0], Path: v[1]})
	}
	slices.SortFunc(out, func(a, b Orphan) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// belongsTo says whether volume is named as one of vm's volumes (a VM "x" and a VM "x-data1"
// both could own "x-data1.qcow2": a volume any existing VM could own is never an orphan).
func belongsTo(volume, vm string) bool {
	rest, ok := strings.CutPrefix(volume, vm)
	return ok && hvctlVolume.MatchString("x"+rest) && OwnerOf("x"+rest) == "x"
}
