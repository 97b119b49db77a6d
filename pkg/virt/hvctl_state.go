package virt

import (
	"context"
	"sync"

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

// fillHvctlState gives list the same autostart and pending-restart truth as show: a lookup and
// one or two metadata reads per persistent domain. Several domains are read at once (libvirt
// multiplexes calls on one connection): one after another, each domain cost a remote host's
// list two or three round trips, 6 s at 200 ms for ten domains.
func (c *Conn) fillHvctlState(ctx context.Context, vms []model.VM) error {
	failures := make([]error, len(vms))
	sem := make(chan struct{}, hvctlStateReads)
	var wg sync.WaitGroup
	for i := range vms {
		if !vms[i].Persistent {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			failures[i] = c.fillOneHvctlState(ctx, &vms[i])
		}()
	}
	wg.Wait()
	for _, err := range failures {
		if err != nil {
			return err
		}
	}
	return nil
}

// hvctlStateReads bounds the domains whose metadata list reads at once; libvirtd serves five
// calls of one client at a time by default (max_client_requests) and queues the rest.
const hvctlStateReads = 8

func (c *Conn) fillOneHvctlState(ctx context.Context, vm *model.VM) error {
	d, err := c.Domain(ctx, vm.Name)
	if err != nil {
		return nil // it went away while we looked
	}
	st, err := d.HvctlState(ctx, vm.State != StateShutOff && vm.State != StateCrashed)
	d.Free()
	if errs.KindOf(err) == errs.NotFound {
		return nil // it went away after the lookup
	}
	if err != nil {
		return err
	}
	if st.AutostartOrder != "" {
		vm.Autostart = true
	}
	vm.PendingRestart = st.PendingRestart
	return nil
}
