package virt

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// Every read of a pool the user names (vmctl disk attach --volume POOL/VOL, disk resize, gc
// --pool, the ISO store's listing) says which pool or volume is missing and how to find one,
// not libvirt's "no storage pool with matching name".
func TestMissingPoolOrVolumeIsNamedWithAHint(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	noPool := func(what string, err error) {
		t.Helper()
		if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "storage pool t-nopool not found") ||
			!strings.Contains(errs.HintOf(err), "vmctl pool list") {
			t.Errorf("%s: %v (hint %q), want not found 'storage pool t-nopool not found' with a hint", what, err, errs.HintOf(err))
		}
	}
	_, err = c.LookupVolume(ctx, "t-nopool", "x.qcow2")
	noPool("LookupVolume", err)
	noPool("GrowVolume", c.GrowVolume(ctx, "t-nopool", "x.qcow2", 1<<30))
	_, err = c.Orphans(ctx, "t-nopool")
	noPool("Orphans", err)
	_, err = c.PoolFiles(ctx, "t-nopool")
	noPool("PoolFiles", err)

	_, err = c.LookupVolume(ctx, "default-pool", "t-novol.qcow2")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "volume t-novol.qcow2 not found in pool default-pool") ||
		!strings.Contains(errs.HintOf(err), "vmctl volume list default-pool") {
		t.Errorf("LookupVolume of a missing volume: %v (hint %q)", err, errs.HintOf(err))
	}
}
