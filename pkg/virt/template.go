package virt

import (
	"context"
	"encoding/xml"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// A VM that linked clones overlay is their template: writing to its disks shows through in
// every clone, so hvctl marks it when it makes a linked clone and refuses what would write to
// it (start, apply, snapshot revert, deleting its disks) unless forced. The mark only says
// where to look: the dependants are always read from the clones' backing chains, so a mark
// whose clones are all gone stops nothing.

// TemplateNS is the metadata namespace of the template mark, apart from hvctl's own VM
// metadata so that neither overwrites the other.
const TemplateNS = "https://github.com/hyper-nixos/hvctl/template"

type templateMark struct {
	XMLName xml.Name `xml:"template"`
	Clones  []string `xml:"clone"`
}

// MarkTemplate records on d (its persistent definition, and the live one when it runs) that
// clone overlays its disks.
func (d *Domain) MarkTemplate(ctx context.Context, clone string) error {
	m, err := d.templateMark(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(m.Clones, clone) {
		m.Clones = append(m.Clones, clone)
	}
	b, err := xml.Marshal(m)
	if err != nil {
		return err
	}
	return call0(ctx, d.c, "mark "+d.Name, func() error {
		flags := libvirt.DOMAIN_AFFECT_CONFIG
		if active, _ := d.d.IsActive(); active {
			flags |= libvirt.DOMAIN_AFFECT_LIVE
		}
		return d.d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, string(b), "hvctl-template", TemplateNS, flags)
	})
}

func (d *Domain) templateMark(ctx context.Context) (templateMark, error) {
	var m templateMark
	x, err := call(ctx, d.c, "metadata of "+d.Name, func() (string, error) {
		x, err := d.d.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, TemplateNS, libvirt.DOMAIN_AFFECT_CONFIG)
		if IsCode(err, libvirt.ERR_NO_DOMAIN_METADATA) {
			return "", nil
		}
		return x, err
	})
	if err != nil || x == "" {
		return m, err
	}
	if err := xml.Unmarshal([]byte(ValidXML(x)), &m); err != nil {
		return m, errs.New(errs.Failure, "template mark of %s: %v", d.Name, err)
	}
	return m, nil
}

// LinkedClones lists the VMs whose disks overlay d's, when d is marked as a template (one
// metadata read otherwise). The scan of the clones fails closed.
func (d *Domain) LinkedClones(ctx context.Context) ([]string, error) {
	m, err := d.templateMark(ctx)
	if err != nil || len(m.Clones) == 0 {
		return nil, err
	}
	return d.Dependants(ctx)
}

// Dependants lists the other VMs whose disks have one of d's disks in their backing chain.
func (d *Domain) Dependants(ctx context.Context) ([]string, error) {
	def, err := d.Definition(ctx, true)
	if err != nil {
		return nil, err
	}
	users, err := d.c.DiskUsers(ctx, d.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, disk := range def.Devices.Disks {
		if disk.Device == "cdrom" || disk.Device == "floppy" || disk.ReadOnly != nil || disk.Shareable != nil {
			continue // media and shared disks are not written through a clone
		}
		p, err := d.c.diskPathStrict(ctx, disk.Source)
		if err != nil {
			return nil, err
		}
		for _, u := range d.c.UsersOf(users, p) {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// RefuseIfTemplate is the error of an action that would write to a template of linked clones,
// nil when d has none (or force is set).
func (d *Domain) RefuseIfTemplate(ctx context.Context, action string, force bool) error {
	if force {
		return nil
	}
	clones, err := d.LinkedClones(ctx)
	if err != nil {
		return errs.Wrap(err, "cannot tell whether linked clones depend on %s", d.Name)
	}
	if len(clones) == 0 {
		return nil
	}
	return errs.New(errs.Conflict, "%s is the template of linked clones %s: %s would change what they see", d.Name, strings.Join(clones, ", "), action).
		WithHint("add --force if that is meant (the clones' disks then change under them), or delete the clones first")
}
