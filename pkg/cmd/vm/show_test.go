package vm

import (
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

// show on a definition in libvirt's test-suite forms: every interface and disk type has its
// type and source, the other devices are listed, and a stopped VM without a balloon shows the
// memory it will start with, as list does.
func TestShowDevices(t *testing.T) {
	c := virttest.Open(t)
	x, err := os.ReadFile("../../../testdata/libvirt/show-devices.xml")
	if err != nil {
		t.Fatal(err)
	}
	// libvirt 9.0's schema predates vhostvdpa disks (9.8): define the rest.
	def := regexp.MustCompile(`(?s)<disk type='vhostvdpa'.*?</disk>`).ReplaceAllString(string(x), "")
	d, err := c.DefineDomain(context.Background(), "devices", def)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	v := showJSON(t, t.TempDir(), "devices")
	if len(v.NICs) != 8 || v.NICs[0].Type != "ethernet" || v.NICs[7].Type != "vdpa" || v.NICs[7].Source != "/dev/vhost-vdpa-1" {
		t.Errorf("nics: %+v", v.NICs)
	}
	if len(v.Disks) != 5 || len(v.TPMs) != 1 || len(v.Hostdevs) != 2 || len(v.Filesystems) != 2 || len(v.Watchdogs) != 1 || len(v.RNGs) != 1 || len(v.SecLabels) != 1 {
		t.Errorf("devices: %+v", v)
	}
	// QEMU's bulk stats (what list reads) give a stopped VM without a balloon its maximum:
	// it starts with all of it (checked with virsh domstats --balloon on libvirt 9.0).
	if v.MemoryBytes != 1<<30 || v.MaxMemoryBytes != 1<<30 {
		t.Errorf("memory: %d of %d bytes, want all of 1GiB", v.MemoryBytes, v.MaxMemoryBytes)
	}
}

// A stopped VM's volume disks have their sizes, read from the volumes (block info fails for
// inactive type='volume' disks).
func TestShowStoppedVolumeSizes(t *testing.T) {
	virttest.Open(t)
	dir := profiles(t)
	o, _ := createFactory(t, dir)
	o.Profile = "small"
	if err := runCreate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	v := showJSON(t, dir, "small")
	for _, d := range v.Disks {
		if d.CapacityBytes == nil || d.AllocationBytes == nil {
			t.Errorf("disk %s (%s) has no size", d.Target, d.Source)
		} else if d.Target == "vda" && *d.CapacityBytes != 1<<30 {
			t.Errorf("vda: %d bytes", *d.CapacityBytes)
		}
	}
}
