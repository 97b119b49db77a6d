package virt

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeQcow2 writes the first bytes of a qcow2 file whose header names backing (none when "").
func writeQcow2(t *testing.T, path, backing string) {
	t.Helper()
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb")
	binary.BigEndian.PutUint32(hdr[4:8], 3)
	if backing != "" {
		binary.BigEndian.PutUint64(hdr[8:16], 112)
		binary.BigEndian.PutUint32(hdr[16:20], uint32(len(backing)))
		copy(hdr[112:], backing)
	}
	if err := os.WriteFile(path, hdr, 0o644); err != nil {
		t.Fatal(err)
	}
}

func define(t *testing.T, c *Conn, name, disks string) {
	t.Helper()
	d, err := c.Raw().DomainDefineXML(`<domain type='test'><name>` + name + `</name><memory>65536</memory><os><type>hvm</type></os><devices>` + disks + `</devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undefine(); _ = d.Free() })
}

func fileDisk(path, dev string) string {
	return `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='` + path + `'/><target dev='` + dev + `' bus='virtio'/></disk>`
}

// An image under overlays counts as used by every VM whose disk stands on it, through the
// qcow2 chain of stopped VMs (two levels deep, relative names) and the live <backingStore>
// of running ones.
func TestDiskUsersSeesBackingChainsAndEveryUser(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	mid := filepath.Join(dir, "mid.qcow2")
	writeQcow2(t, base, "")
	writeQcow2(t, mid, "base.qcow2") // relative, as qemu-img writes it
	writeQcow2(t, filepath.Join(dir, "a.qcow2"), mid)
	writeQcow2(t, filepath.Join(dir, "b.qcow2"), "mid.qcow2")
	define(t, c, "t-iso-a", fileDisk(filepath.Join(dir, "a.qcow2"), "vda"))
	define(t, c, "t-iso-b", fileDisk(filepath.Join(dir, "b.qcow2"), "vda"))
	// Running, its overlay not readable here: only the live definition tells its chain.
	live, err := c.Raw().DomainCreateXML(`<domain type='test'><name>t-iso-live</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/nonexistent/live.qcow2'/>
<backingStore type='file'><format type='qcow2'/><source file='`+base+`'/><backingStore/></backingStore><target dev='vda' bus='virtio'/></disk></devices></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Destroy(); _ = live.Free() })

	users, err := c.DiskUsers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := users[base], []string{"t-iso-a", "t-iso-b", "t-iso-live"}; !slices.Equal(got, want) {
		t.Errorf("users of the base: %v, want %v", got, want)
	}
	if got, want := users[mid], []string{"t-iso-a", "t-iso-b"}; !slices.Equal(got, want) {
		t.Errorf("users of the middle layer: %v, want %v", got, want)
	}
	users, err = c.DiskUsers(ctx, "t-iso-b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := users[mid], []string{"t-iso-a"}; !slices.Equal(got, want) {
		t.Errorf("users of the middle layer except t-iso-b: %v, want %v", got, want)
	}
}

// A domain whose files cannot be told makes the whole scan fail: nothing may then count as
// unused.
func TestDiskUsersFailsClosed(t *testing.T) {
	ctx := context.Background()
	for name, disk := range map[string]string{
		"unreadable chain": fileDisk(t.TempDir(), "vda"), // a directory: its header cannot be read
		"unresolvable volume": `<disk type='volume' device='cdrom'><source pool='t-iso-no-such-pool' volume='x.iso'/>` +
			`<target dev='sda' bus='sata'/><readonly/></disk>`,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Open(ctx, "test:///default", false)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			define(t, c, "t-iso-broken", disk)
			users, err := c.DiskUsers(ctx, "")
			if err == nil || !strings.Contains(err.Error(), "t-iso-broken") {
				t.Fatalf("scan with an unreadable domain: %v, %v", users, err)
			}
			if _, err := c.DiskUsers(ctx, "t-iso-broken"); err != nil {
				t.Errorf("the domain excepted still fails the scan: %v", err)
			}
		})
	}
}
