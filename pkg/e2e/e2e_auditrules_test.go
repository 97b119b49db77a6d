package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"libvirt.org/go/libvirt"
)

// auditctl's verdicts on the real daemon for what virt-install and hvctl write: a display
// stored as <listen type='address'/> (QEMU listens on qemu.conf's default, loopback) is no
// finding, a 0750 store passes, and a volume disk is judged by its file, found through the pool.
func TestAuditVerdictsOnRealDaemon(t *testing.T) {
	if os.Getenv("HVCTL_E2E") != "1" {
		t.Skip("end-to-end tests need root and libvirtd: run scripts/test.sh (HVCTL_E2E=1)")
	}
	const (
		vm   = "t-auditrules-vm"
		pool = "t-auditrules-pool"
		vol  = "t-auditrules.qcow2"
		dir  = "/var/lib/libvirt/images/t-auditrules"
	)
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "hvctl"), "../../cmd/hvctl").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := os.Symlink("hvctl", filepath.Join(bin, "auditctl")); err != nil {
		t.Fatal(err)
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Close() })
	cleanup := func() {
		if d, err := conn.LookupDomainByName(vm); err == nil {
			_ = d.Undefine()
			_ = d.Free()
		}
		if p, err := conn.LookupStoragePoolByName(pool); err == nil {
			if v, err := p.LookupStorageVolByName(vol); err == nil {
				_ = v.Delete(0)
				_ = v.Free()
			}
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
		_ = os.RemoveAll(dir)
	}
	cleanup()
	t.Cleanup(cleanup)

	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	p, err := conn.StoragePoolDefineXML(`<pool type="dir"><name>`+pool+`</name><target><path>`+dir+`</path></target></pool>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if err := p.Create(0); err != nil {
		t.Fatal(err)
	}
	v, err := p.StorageVolCreateXML(`<volume><name>`+vol+`</name><capacity unit="MiB">1</capacity>
<target><format type="qcow2"/><permissions><mode>0600</mode></permissions></target></volume>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	path, err := v.GetPath()
	_ = v.Free()
	if err != nil {
		t.Fatal(err)
	}
	d, err := conn.DomainDefineXML(`<domain type="qemu"><name>` + vm + `</name><memory unit="MiB">64</memory>
<os><type arch="x86_64">hvm</type></os><devices>
<disk type="volume" device="disk"><driver name="qemu" type="qcow2"/><source pool="` + pool + `" volume="` + vol + `"/><target dev="vda" bus="virtio"/></disk>
<graphics type="vnc" autoport="yes"><listen type="address"/></graphics>
<graphics type="spice" autoport="yes"/>
</devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Free()

	audit := func() map[string]string {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "auditctl"), "run", "--all", "--jq", ".findings", "-c", uri)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir())
		out, _ := cmd.Output() // exit 9: the host has findings of its own
		var findings []struct{ ID, Status, Target, Severity string }
		if err := json.Unmarshal(out, &findings); err != nil {
			t.Fatalf("auditctl run: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, f := range findings {
			got[f.ID+" "+f.Target] = f.Status + " " + f.Severity
			if f.Target == vm && f.Status == "error" {
				t.Errorf("%s %s: error", f.ID, f.Target)
			}
		}
		return got
	}
	got := audit()
	for key, want := range map[string]string{
		"VM-007 " + vm:     "pass critical",
		"VM-008 " + vm:     "pass high",
		"STOR-001 " + dir:  "pass high",
		"STOR-002 " + path: "pass critical",
	} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q", key, got[key], want)
		}
	}
	// The volume made world-readable: the disk is judged through its pool.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := audit()["STOR-002 "+path]; got != "fail high" {
		t.Errorf("world-readable volume: %q, want fail high", got)
	}
}
