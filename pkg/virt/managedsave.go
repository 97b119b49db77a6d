package virt

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// Actions of save and restore.
const (
	ActSaved     = "saved"
	ActRestored  = "restored"
	ActDiscarded = "discarded"
)

// HasSavedState says whether the domain has a managed save image: its next start restores
// the guest's memory instead of booting.
func (d *Domain) HasSavedState(ctx context.Context) (bool, error) {
	return call(ctx, d.c, "managed save "+d.Name, func() (bool, error) { return d.d.HasManagedSaveImage(0) })
}

// SavedDomainNames is the set of domains with a managed save image: one filtered list call for
// all of them, not one HasManagedSaveImage per domain.
func (c *Conn) SavedDomainNames(ctx context.Context) (map[string]bool, error) {
	names, err := call(ctx, c, "list domains", func() ([]string, error) {
		doms, err := c.c.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_MANAGEDSAVE)
		if err != nil {
			return nil, err
		}
		return namesAndFree(doms), nil
	})
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set, nil
}

// Save writes a running (or paused) domain's memory to its managed save image and stops it;
// its next start restores it. A domain already saved is left alone (ActNone).
func (d *Domain) Save(ctx context.Context) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	if isDown(state) {
		if saved, err := d.HasSavedState(ctx); err != nil || saved {
			return ActNone, err
		}
		return "", errs.New(errs.Conflict, "domain is %s: there is no running guest to save", state)
	}
	if state == StateCrashed {
		return "", d.errCrashed("save")
	}
	persistent, err := call(ctx, d.c, "persistent "+d.Name, d.d.IsPersistent)
	if err != nil {
		return "", err
	}
	if !persistent {
		return "", errs.New(errs.Conflict, "domain is transient: a managed save needs a persistent definition to restore into")
	}
	return ActSaved, call0(ctx, d.c, "save "+d.Name, func() error { return d.d.ManagedSave(0) })
}

// Restore starts a saved domain from its managed save image (paused when asked). A running
// domain is left alone (ActNone); one without saved state is a conflict, so that a restore
// never turns silently into a fresh boot.
func (d *Domain) Restore(ctx context.Context, paused bool) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	if !isDown(state) {
		return ActNone, nil
	}
	saved, err := d.HasSavedState(ctx)
	if err != nil {
		return "", err
	}
	if !saved {
		return "", errs.New(errs.Conflict, "domain has no saved state").WithHint("vmctl start %s boots it", d.Name)
	}
	var flags libvirt.DomainCreateFlags
	if paused {
		flags = libvirt.DOMAIN_START_PAUSED
	}
	return ActRestored, call0(ctx, d.c, "restore "+d.Name, func() error { return d.d.CreateWithFlags(flags) })
}

// DiscardSavedState removes the managed save image: the next start boots afresh, and what the
// guest had in memory is lost.
func (d *Domain) DiscardSavedState(ctx context.Context) (string, error) {
	saved, err := d.HasSavedState(ctx)
	if err != nil || !saved {
		return ActNone, err
	}
	return ActDiscarded, call0(ctx, d.c, "discard saved state of "+d.Name, func() error { return d.d.ManagedSaveRemove(0) })
}
