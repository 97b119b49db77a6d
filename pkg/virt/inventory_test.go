package virt

import (
	"context"
	"testing"
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
