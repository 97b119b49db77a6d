package virt

import (
	"context"
	"encoding/xml"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Renamed is what Rename did besides the name.
type Renamed struct {
	Snapshots int    // snapshots whose metadata now names the new domain
	NVRAM     string // the NVRAM file's new path; "" when it did not move
	Profile   bool   // hvctl's metadata now names the new profile
}

// Rename gives a stopped, persistent domain a new name. libvirt's own rename (9.0) keeps the
// snapshots but not inside them (each snapshot's saved definition still names the old domain,
// which a revert would bring back), and leaves the NVRAM file at the old name's default path,
// where a new VM of the old name would find and share it. Here the snapshots are redefined
// with the new name, the NVRAM file follows the name (on a local host; a remote one keeps it
// and says so through a warning), and hvctl's metadata names the new profile when it named the
// old one. Any failure puts back what was done.
func (d *Domain) Rename(ctx context.Context, newName string, warn func(string, ...any)) (Renamed, error) {
	var out Renamed
	old := d.Name
	state, _, err := d.State(ctx)
	if err != nil {
		return out, err
	}
	if !isDown(state) {
		return out, errs.New(errs.Conflict, "domain is %s: only a stopped VM can be renamed", state).WithHint("stop it first: vmctl stop %s", old)
	}
	if saved, err := d.HasSavedState(ctx); err != nil {
		return out, err
	} else if saved {
		return out, errs.New(errs.Conflict, "domain has saved state, which names it").
			WithHint("restore and stop it (vmctl restore %s; vmctl stop %s), or drop the state: vmctl save --discard %s", old, old, old)
	}
	if persistent, err := call(ctx, d.c, "persistent "+old, d.d.IsPersistent); err != nil {
		return out, err
	} else if !persistent {
		return out, errs.New(errs.Conflict, "domain is transient: there is no definition to rename")
	}
	if exists, err := d.c.Exists(ctx, newName); err != nil {
		return out, err
	} else if exists {
		return out, errs.New(errs.Conflict, "a VM named %s exists", newName)
	}
	snaps, err := d.snapshotXMLs(ctx)
	if err != nil {
		return out, err
	}
	defXML, err := d.SecureXML(ctx)
	if err != nil {
		return out, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(ValidXML(defXML)); err != nil {
		return out, errs.New(errs.Failure, "parse domain xml of %s: %v", old, err)
	}
	oldNV, newNV := nvramMove(&def, old, newName)
	if newNV != "" {
		if IsRemote(d.c.URI) {
			warn("%s keeps its NVRAM file %s (named for the old name): hvctl cannot move files on a remote host", newName, oldNV)
			oldNV, newNV = "", ""
		} else if _, err := os.Lstat(newNV); err == nil {
			return out, errs.New(errs.Conflict, "NVRAM file %s exists (another VM's?); not renaming", newNV)
		}
	}

	r := revert.New()
	defer r.Fail()
	cleanup := func() (context.Context, context.CancelFunc) {
		return WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	}
	// Each undo is registered before its step: a step whose call was in flight when the command
	// was interrupted may complete behind it, and must be undone too (after Settle).
	r.Add(func() {
		ctx, cancel := cleanup()
		defer cancel()
		_ = d.c.Settle(ctx)
		// A handle caches the name it was looked up by; a fresh lookup tells the name now.
		n, err := call(ctx, d.c, "name", func() (string, error) {
			uuid, err := d.d.GetUUIDString()
			if err != nil {
				return "", err
			}
			fresh, err := d.c.c.LookupDomainByUUIDString(uuid)
			if err != nil {
				return "", err
			}
			defer func() { _ = fresh.Free() }()
			return fresh.GetName()
		})
		if err == nil && n == newName {
			if call0(ctx, d.c, "rename back "+newName, func() error { return d.d.Rename(old, 0) }) == nil {
				d.Name = old
			}
		}
	})
	if err := call0(ctx, d.c, "rename "+old, func() error { return d.d.Rename(newName, 0) }); err != nil {
		return out, err
	}
	d.Name = newName

	if len(snaps) > 0 {
		r.Add(func() {
			ctx, cancel := cleanup()
			defer cancel()
			_ = d.c.Settle(ctx)
			_ = d.replaceSnapshots(ctx, snaps, old, "", "")
		})
		if err := d.replaceSnapshots(ctx, snaps, newName, oldNV, newNV); err != nil {
			return out, err
		}
		out.Snapshots = len(snaps)
	}

	if x, err := d.Metadata(ctx, domainxml.Namespace); err != nil {
		return out, err
	} else if x != "" {
		if meta, err := domainxml.ParseMetadata(x); err == nil && meta.Profile == old {
			r.Add(func() {
				ctx, cancel := cleanup()
				defer cancel()
				_ = d.c.Settle(ctx)
				_ = d.setProfileName(ctx, meta, old)
			})
			if err := d.setProfileName(ctx, meta, newName); err != nil {
				return out, err
			}
			out.Profile = true
		}
	}

	if newNV != "" {
		// The definition is read again: the metadata may just have changed.
		x, err := d.SecureXML(ctx)
		if err != nil {
			return out, err
		}
		var cur libvirtxml.Domain
		if err := cur.Unmarshal(ValidXML(x)); err != nil {
			return out, err
		}
		back := cur
		r.Add(func() {
			ctx, cancel := cleanup()
			defer cancel()
			_ = d.c.Settle(ctx)
			_ = d.redefine(ctx, &back)
		})
		dos := *cur.OS
		nv := *dos.NVRam
		nv.NVRam = newNV
		dos.NVRam, cur.OS = &nv, &dos
		if err := d.redefine(ctx, &cur); err != nil {
			return out, err
		}
		// The file exists only once the VM has started; a definition alone just changes path.
		if err := os.Rename(oldNV, newNV); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return out, errs.New(errs.Failure, "move NVRAM %s to %s: %v", oldNV, newNV, err)
		}
		out.NVRAM = newNV
	}
	r.Success()
	return out, nil
}

// nvramMove returns the NVRAM path of def and where it goes for newName, when it is libvirt's
// default file for the old name (DIR/OLD_VARS.fd); "" otherwise: a path set by hand stays.
func nvramMove(def *libvirtxml.Domain, old, newName string) (string, string) {
	if def.OS == nil || def.OS.NVRam == nil || def.OS.NVRam.NVRam == "" {
		return "", ""
	}
	p := def.OS.NVRam.NVRam
	if filepath.Base(p) != old+"_VARS.fd" {
		return "", ""
	}
	return p, filepath.Join(filepath.Dir(p), newName+"_VARS.fd")
}

// snapshotXML is one snapshot's definition and whether it is the current one.
type snapshotXML struct {
	def     libvirtxml.DomainSnapshot
	current bool
}

// snapshotXMLs reads every snapshot's full definition (with secrets, so a redefinition keeps
// them), parents before children.
func (d *Domain) snapshotXMLs(ctx context.Context) ([]snapshotXML, error) {
	return call(ctx, d.c, "snapshots of "+d.Name, func() ([]snapshotXML, error) {
		snaps, err := d.d.ListAllSnapshots(libvirt.DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return nil, nil
			}
			return nil, err
		}
		var out []snapshotXML
		var firstErr error
		for i := range snaps {
			x, err := snaps[i].GetXMLDesc(libvirt.DOMAIN_SNAPSHOT_XML_SECURE)
			cur, _ := snaps[i].IsCurrent(0)
			_ = snaps[i].Free()
			var s snapshotXML
			if err == nil {
				err = s.def.Unmarshal(ValidXML(x))
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			s.current = cur
			out = append(out, s)
		}
		return out, firstErr
	})
}

// replaceSnapshots rewrites every snapshot's metadata with its saved definition naming name:
// libvirt refuses to redefine a snapshot whose definition names another domain ("target domain
// name does not match"), so the metadata goes first (METADATA_ONLY: the disks' internal
// snapshots stay) and is defined again, parents first, the current one marked current.
func (d *Domain) replaceSnapshots(ctx context.Context, snaps []snapshotXML, name, oldNV, newNV string) error {
	err := call0(ctx, d.c, "snapshot metadata of "+d.Name, func() error {
		roots, err := d.d.ListAllSnapshots(libvirt.DOMAIN_SNAPSHOT_LIST_ROOTS)
		if err != nil {
			return err
		}
		flags := libvirt.DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY | libvirt.DOMAIN_SNAPSHOT_DELETE_CHILDREN
		if strings.HasPrefix(d.c.URI, "test:") {
			// The test driver knows no METADATA_ONLY: its snapshots are nothing but metadata.
			// Never elsewhere: without the flag, libvirt deletes the snapshots' data.
			flags = libvirt.DOMAIN_SNAPSHOT_DELETE_CHILDREN
		}
		var first error
		for i := range roots {
			if err := roots[i].Delete(flags); err != nil && first == nil {
				first = err
			}
			_ = roots[i].Free()
		}
		return first
	})
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if err := d.redefineSnapshot(ctx, s, name, oldNV, newNV); err != nil {
			return errs.Wrap(err, "snapshot %s", s.def.Name)
		}
	}
	return nil
}

// redefineSnapshot rewrites a snapshot's metadata with its saved definition naming name (and
// its NVRAM moved from oldNV to newNV when given).
func (d *Domain) redefineSnapshot(ctx context.Context, s snapshotXML, name, oldNV, newNV string) error {
	def := s.def
	if def.Domain != nil {
		dom := *def.Domain
		dom.Name = name
		if newNV != "" && dom.OS != nil && dom.OS.NVRam != nil && dom.OS.NVRam.NVRam == oldNV {
			os := *dom.OS
			nv := *os.NVRam
			nv.NVRam = newNV
			os.NVRam = &nv
			dom.OS = &os
		}
		def.Domain = &dom
	}
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_SNAPSHOT_CREATE_REDEFINE
	if s.current {
		flags |= libvirt.DOMAIN_SNAPSHOT_CREATE_CURRENT
	}
	return call0(ctx, d.c, "redefine snapshot "+s.def.Name, func() error {
		snap, err := d.d.CreateSnapshotXML(x, flags)
		if err != nil {
			return err
		}
		return snap.Free()
	})
}

// setProfileName rewrites hvctl's metadata with another profile name.
func (d *Domain) setProfileName(ctx context.Context, info domainxml.Info, name string) error {
	meta := domainxml.Metadata{NS: domainxml.Namespace, Profile: name, Owner: info.Owner, Autostart: info.Autostart,
		Applied: info.Applied, Defined: info.Defined}
	mx, err := xml.Marshal(meta)
	if err != nil {
		return err
	}
	// In the form apply writes it: libvirt adds the namespace from the key and URI.
	x, err := domainxml.MetadataElement(&libvirtxml.Domain{Metadata: &libvirtxml.DomainMetadata{XML: string(mx)}})
	if err != nil {
		return err
	}
	return call0(ctx, d.c, "metadata "+d.Name, func() error {
		return d.d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, string(x), "hvctl", domainxml.Namespace, libvirt.DOMAIN_AFFECT_CONFIG)
	})
}

// redefine defines def over the domain (same UUID and name).
func (d *Domain) redefine(ctx context.Context, def *libvirtxml.Domain) error {
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	return call0(ctx, d.c, "define "+d.Name, func() error {
		nd, err := d.c.c.DomainDefineXML(x)
		if err != nil {
			return err
		}
		return nd.Free()
	})
}
