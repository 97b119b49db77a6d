package virt

import (
	"context"
	"errors"
	"testing"

	"libvirt.org/go/libvirt"
)

// The audit's inventory says which networks run (NET-006 must not count an inactive NAT
// network as needing forwarding) and carries each VM's UUID.
func TestInventoryNetworkActiveAndUUID(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	n, err := c.Raw().NetworkDefineXML(`<network><name>t-auditrules-idle</name><forward mode="nat"/><ip address="192.0.2.1" prefix="24"/></network>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Undefine(); _ = n.Free() })
	inv, err := c.Inventory(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if active, known := inv.NetworkActive["t-auditrules-idle"]; active || !known {
		t.Errorf("defined, not started: active %v known %v", active, known)
	}
	if !inv.NetworkActive["default"] {
		t.Errorf("the test driver's default network runs: %v", inv.NetworkActive)
	}
	if len(inv.Domains) == 0 || inv.Domains[0].UUID == "" || inv.Domains[0].Err != nil {
		t.Errorf("domains: %+v", inv.Domains)
	}
	if inv.NetworksErr != nil || inv.PoolsErr != nil || inv.FiltersErr != nil || inv.SecretsErr != nil {
		t.Errorf("errors on a healthy connection: %v %v %v %v", inv.NetworksErr, inv.PoolsErr, inv.FiltersErr, inv.SecretsErr)
	}
}

// A VM that goes away between being listed and being read (a transient VM stopped, a test VM
// undefined) is not in the inventory: on a busy host it is no VM the audit failed to read
// (~30 error rows and exit 6 for a weekly timer). A failure that is not "gone" stays an error.
func TestInventoryDomainGoneSinceListed(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	d, err := c.Raw().DomainCreateXML(`<domain type="test"><name>t-auditqa-transient</name><memory>65536</memory>
<os><type>hvm</type></os></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if inv, ok := c.inventoryDomain(d, true); !ok || inv.Def == nil || inv.Err != nil {
		t.Fatalf("running transient VM: ok %v %+v", ok, inv)
	}
	if err := d.Destroy(); err != nil { // a transient VM is gone once stopped
		t.Fatal(err)
	}
	if inv, ok := c.inventoryDomain(d, true); ok {
		t.Errorf("a VM gone since it was listed is in the inventory: %+v", inv)
	}
	if IsGone(errors.New("Domain not found")) || !IsGone(libvirt.Error{Code: libvirt.ERR_NO_NETWORK}) || IsGone(libvirt.Error{Code: libvirt.ERR_INTERNAL_ERROR}) {
		t.Error("IsGone judges by libvirt's code only")
	}
}
