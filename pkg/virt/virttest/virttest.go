// Package virttest holds the helpers of tests against libvirt's in-process test driver
// (test:///default): a connection that resets the driver afterwards, defining domains, and
// listing a pool's volumes.
package virttest

import (
	"context"
	"slices"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirt"
)

// URI is the test driver's built-in host: one running domain "test", the network "default" and
// the pool "default-pool".
const URI = "test:///default"

// Open connects to test:///default. The driver keeps its state while any connection lives, so
// the test holds this one to see what a command did; at cleanup it removes every domain but
// "test", every pool but default-pool and every volume of default-pool, so each test starts from the driver's own contents.
func Open(t testing.TB) *virt.Conn {
	t.Helper()
	c, err := virt.Open(context.Background(), URI, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		raw := c.Raw()
		if doms, err := raw.ListAllDomains(0); err == nil {
			for _, d := range doms {
				if n, _ := d.GetName(); n != "test" {
					_ = d.Destroy()
					// Snapshots would keep the domain defined into the next test.
					_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
				}
				_ = d.Free()
			}
		}
		// Pools a test made (vmctl pool create) would be there for the next test.
		if pools, err := raw.ListAllStoragePools(0); err == nil {
			for _, p := range pools {
				if n, _ := p.GetName(); n != "default-pool" {
					_ = p.Destroy()
					_ = p.Undefine()
				}
				_ = p.Free()
			}
		}
		if p, err := raw.LookupStoragePoolByName("default-pool"); err == nil {
			if vols, err := p.ListAllStorageVolumes(0); err == nil {
				for _, v := range vols {
					_ = v.Delete(0)
					_ = v.Free()
				}
			}
			_ = p.Free()
		}
		c.Close()
	})
	return c
}

// Define defines domains from their XML (persistent, not started). The handles are freed at
// once: an unfreed handle would keep the driver's state past the test.
func Define(t testing.TB, c *virt.Conn, xmls ...string) {
	t.Helper()
	for _, x := range xmls {
		dom, err := c.Raw().DomainDefineXML(x)
		if err != nil {
			t.Fatal(err)
		}
		_ = dom.Free()
	}
}

// Volumes lists the names of pool's volumes, sorted.
func Volumes(t testing.TB, c *virt.Conn, pool string) []string {
	t.Helper()
	p, err := c.Raw().LookupStoragePoolByName(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		n, _ := v.GetName()
		names = append(names, n)
		_ = v.Free()
	}
	slices.Sort(names)
	return names
}
