package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

func chmod(t *testing.T, root string, modes map[string]os.FileMode) {
	t.Helper()
	for p, m := range modes {
		if err := os.Chmod(filepath.Join(root, p), m); err != nil {
			t.Fatal(err)
		}
	}
}

func dirPool(name, path string) *libvirtxml.StoragePool {
	return &libvirtxml.StoragePool{Type: "dir", Name: name, Target: &libvirtxml.StoragePoolTarget{Path: path}}
}

// hvctl's stores are judged by their real mode: 0750 passes, whatever the pool XML says.
// Volume disks (every VM hvctl makes) resolve to their files through the pool.
func TestStoresAndVolumeDisks(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"var/lib/hvctl/pool/web01.qcow2": "", "var/lib/hvctl/pool/web01-data1.qcow2": "", "var/lib/hvctl/pool/web01-cidata.iso": ""})
	chmod(t, root, map[string]os.FileMode{"var/lib/hvctl/pool": 0o750, "var/lib/hvctl/pool/web01.qcow2": 0o600, "var/lib/hvctl/pool/web01-data1.qcow2": 0o644})
	b, err := os.ReadFile("../../testdata/golden/web.xml")
	if err != nil {
		t.Fatal(err)
	}
	inv := &Inventory{Root: root, Local: true, Pools: []*libvirtxml.StoragePool{dirPool("hvctl", "/var/lib/hvctl/pool"), dirPool("unbuilt", "/srv/none")},
		Domains: []Domain{{Name: "web01", Def: domain(t, string(b))}}}
	f := byID(t, inv, "STOR-001", "STOR-002")
	var got []string
	for _, id := range []string{"STOR-001", "STOR-002"} {
		for _, x := range f[id] {
			got = append(got, id+" "+x.Status+" "+x.Target)
		}
	}
	want := "STOR-001 skipped /srv/none\nSTOR-001 pass /var/lib/hvctl/pool\nSTOR-002 fail /var/lib/hvctl/pool/web01-data1.qcow2\nSTOR-002 pass /var/lib/hvctl/pool/web01.qcow2"
	if strings.Join(got, "\n") != want {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	for _, x := range f["STOR-002"] {
		if x.Status == "fail" && (x.Severity != "high" || x.Location.Device != "disk vdb" || x.Location.VM != "web01") {
			t.Errorf("STOR-002: %+v %+v", x, x.Location)
		}
	}
	// A pool that cannot be listed is an error, not an empty store.
	inv.PoolsErr = errors.New("storage driver failed")
	if x := byID(t, inv, "STOR-002")["STOR-002"][0]; x.Status != "error" {
		t.Errorf("pools unlisted: %+v", x)
	}
}

// NVRAM at libvirt's default path (no <nvram> in the inactive XML) and vTPM state are judged.
func TestNVRAMAndTPMState(t *testing.T) {
	root := t.TempDir()
	const uuid = "11111111-2222-3333-4444-555555555555"
	write(t, root, map[string]string{"var/lib/libvirt/qemu/nvram/efi_VARS.fd": "", "var/lib/libvirt/swtpm/" + uuid + "/tpm2/tpm2-00.permall": ""})
	chmod(t, root, map[string]os.FileMode{"var/lib/libvirt/qemu/nvram/efi_VARS.fd": 0o644, "var/lib/libvirt/swtpm/" + uuid + "/tpm2/tpm2-00.permall": 0o604})
	inv := &Inventory{Root: root, Local: true, Domains: []Domain{{Name: "efi", Def: domain(t, `<domain type="kvm"><name>efi</name><uuid>`+uuid+`</uuid>
<os firmware="efi"><type arch="x86_64">hvm</type></os><devices><tpm model="tpm-crb"><backend type="emulator" version="2.0"/></tpm></devices></domain>`)}}}
	var got []string
	for _, x := range byID(t, inv, "STOR-003")["STOR-003"] {
		got = append(got, x.Status+" "+x.Location.Device+" "+x.Location.Path)
	}
	want := "fail nvram /var/lib/libvirt/qemu/nvram/efi_VARS.fd\nfail tpm /var/lib/libvirt/swtpm/" + uuid + "/tpm2/tpm2-00.permall"
	if strings.Join(got, "\n") != want {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// Group-readable secrets and files not owned by root fail too.
func TestConfigFileOwnersAndGroups(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"etc/libvirt/qemu.conf": "", "etc/libvirt/qemu/vm.xml": "", "etc/libvirt/secrets/abc.base64": "", "etc/libvirt/libvirtd.conf": ""})
	chmod(t, root, map[string]os.FileMode{"etc/libvirt/qemu.conf": 0o640, "etc/libvirt/qemu/vm.xml": 0o600, "etc/libvirt/secrets": 0o700,
		"etc/libvirt/secrets/abc.base64": 0o600, "etc/libvirt/libvirtd.conf": 0o644})
	owner := 0
	if os.Getuid() == 0 {
		// As root, hand the definition to another user; otherwise every file is already not root's.
		owner = 1000
		if err := os.Chown(filepath.Join(root, "etc/libvirt/qemu/vm.xml"), owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	f := byID(t, &Inventory{Root: root, Local: true}, "STOR-005")["STOR-005"][0]
	if f.Status != "fail" || !strings.Contains(f.Detail, "/etc/libvirt/qemu.conf is readable by group") || !strings.Contains(f.Detail, "/etc/libvirt/qemu/vm.xml is owned by uid") {
		t.Errorf("STOR-005: %s", f.Detail)
	}
}

// iSCSI/RBD pools without auth fail; NFS is noted.
func TestNetworkPools(t *testing.T) {
	inv := &Inventory{Pools: []*libvirtxml.StoragePool{
		{Type: "iscsi", Name: "san", Source: &libvirtxml.StoragePoolSource{}},
		{Type: "rbd", Name: "ceph", Source: &libvirtxml.StoragePoolSource{Auth: &libvirtxml.StoragePoolSourceAuth{Type: "ceph", Username: "libvirt"}}},
		{Type: "netfs", Name: "nfs"},
	}}
	var got []string
	for _, x := range byID(t, inv, "STOR-007")["STOR-007"] {
		got = append(got, x.Target+" "+x.Status+" "+x.Severity)
	}
	if strings.Join(got, ",") != "san fail medium,nfs fail info,ceph pass medium" {
		t.Errorf("STOR-007: %v", got)
	}
}

// A disk image that cannot be stat'ed for another reason than not existing is an error, not
// a silent pass (a symbolic-link loop here; permission denied on a real host).
func TestUnstatableDiskIsError(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"pool/.keep": ""})
	if err := os.Symlink("loop.qcow2", filepath.Join(root, "pool/loop.qcow2")); err != nil {
		t.Fatal(err)
	}
	inv := &Inventory{Root: root, Local: true, Pools: []*libvirtxml.StoragePool{dirPool("p", "/pool")},
		Domains: []Domain{{Name: "l", Def: domain(t, `<domain type="kvm"><name>l</name><devices>
<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/loop.qcow2"/><target dev="vda"/></disk>
<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/later.qcow2"/><target dev="vdb"/></disk></devices></domain>`)}}}
	var got []string
	for _, x := range byID(t, inv, "STOR-002")["STOR-002"] {
		got = append(got, x.Status+" "+x.Target)
	}
	if strings.Join(got, ",") != "error /pool/loop.qcow2" {
		t.Errorf("STOR-002: %v", got)
	}
}
