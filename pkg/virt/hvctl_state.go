package virt

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
)

// HvctlState is what hvctl's own metadata says about a domain, read the same way for list,
// show and `vmctl autostart run`.
type HvctlState struct {
	// AutostartOrder describes hvctl's ordered autostart ("group apps, priority 50"), the one
	// `vmctl autostart run` acts on; "" when the profile does not ask for it.
	AutostartOrder string
	// PendingRestart: apply redefined the running domain with changes it sees only after a
	// restart (the running and persistent metadata name different definitions).
	PendingRestart bool
}

// HvctlState reads the persistent metadata, and for a running domain the running one too. A
// domain without hvctl's metadata has the zero state.
func (d *Domain) HvctlState(ctx context.Context, active bool) (HvctlState, error) {
	var st HvctlState
	x, err := d.Metadata(ctx, domainxml.Namespace)
	if err != nil || x == "" {
		return st, err
	}
	config, err := domainxml.ParseMetadata(x)
	if err != nil {
		return st, nil // not hvctl's to judge
	}
	st.AutostartOrder = config.Autostart.String()
	if !active {
		return st, nil
	}
	lx, err := call(ctx, d.c, "metadata "+d.Name, func() (string, error) {
		return d.d.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, domainxml.Namespace, libvirt.DOMAIN_AFFECT_LIVE)
	})
	if err != nil {
		if IsCode(err, libvirt.ERR_NO_DOMAIN_METADATA) {
			return st, nil
		}
		return st, err
	}
	if running, err := domainxml.ParseMetadata(lx); err == nil {
		st.PendingRestart = running.Generation() != config.Generation()
	}
	return st, nil
}

// fillHvctlState gives list the same autostart and pending-restart truth as show: one or two
// metadata reads per persistent domain.
func (c *Conn) fillHvctlState(ctx context.Context, vms []model.VM) error {
	for i := range vms {
		vm := &vms[i]
		if !vm.Persistent {
			continue
		}
		d, err := c.Domain(ctx, vm.Name)
		if err != nil {
			continue // it went away while we looked
		}
		st, err := d.HvctlState(ctx, vm.State != StateShutOff && vm.State != StateCrashed)
		d.Free()
		if errs.KindOf(err) == errs.NotFound {
			continue // it went away after the lookup
		}
		if err != nil {
			return err
		}
		if st.AutostartOrder != "" {
			vm.Autostart = true
		}
		vm.PendingRestart = st.PendingRestart
	}
	return nil
}
