package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On the real daemon: a base image in the store that backs stopped VMs' qcow2 overlays is
// refused by rm (exit 4) naming every VM; the store is created 0711 (QEMU reaches it, nobody lists it) with a pool of its own;
// attach and eject answer with JSON objects.
func TestIsoStoreSafety(t *testing.T) {
	e := setup(t)
	store := "/var/lib/libvirt/images/t-iso-e2e-images"
	vmDir := "/var/lib/libvirt/images/t-iso-e2e-vms"
	vms := []string{"t-iso-e2e-a", "t-iso-e2e-b"}
	clean := func() {
		for _, n := range vms {
			if d, err := e.conn.LookupDomainByName(n); err == nil {
				_ = d.Undefine()
				_ = d.Free()
			}
		}
		for _, dir := range []string{store, vmDir} {
			if p, err := e.conn.LookupStoragePoolByTargetPath(dir); err == nil {
				_ = p.Destroy()
				_ = p.Undefine()
				_ = p.Free()
			}
			_ = os.RemoveAll(dir)
		}
	}
	clean()
	t.Cleanup(clean)
	if err := os.MkdirAll(vmDir, 0o750); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "t-iso-base.qcow2")
	qemuImg := func(args ...string) {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	qemuImg("create", "-q", "-f", "qcow2", base, "16M")
	e.env = []string{"HVCTL_PATHS_IMAGES=" + store}
	e.ok(nil, "isoctl", "import", base)
	if fi, err := os.Stat(store); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("the store: %v, mode %v", err, fi.Mode().Perm())
	}
	if p, err := e.conn.LookupStoragePoolByTargetPath(store); err != nil {
		t.Errorf("no pool serves the store: %v", err)
	} else {
		name, _ := p.GetName()
		if !strings.HasPrefix(name, "hvctl-images-") {
			t.Errorf("the store's pool is %q, not named after its path", name)
		}
		_ = p.Free()
	}
	stored := filepath.Join(store, "t-iso-base.qcow2")
	for _, n := range vms {
		overlay := filepath.Join(vmDir, n+".qcow2")
		qemuImg("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", stored, overlay)
		x := `<domain type='qemu'><name>` + n + `</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='` + overlay + `'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sdc' bus='sata'/><readonly/></disk></devices></domain>`
		d, err := e.conn.DomainDefineXML(x)
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Free()
	}
	out, errOut, code := e.run("isoctl", "rm", "t-iso-base.qcow2")
	if code != 4 || !strings.Contains(errOut, "used by t-iso-e2e-a, t-iso-e2e-b") {
		t.Errorf("rm of a backing image: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the base went: %v", err)
	}
	var listed []struct {
		Name   string   `json:"name"`
		UsedBy []string `json:"used_by"`
	}
	e.ok(&listed, "isoctl", "list")
	if len(listed) != 1 || strings.Join(listed[0].UsedBy, ",") != "t-iso-e2e-a,t-iso-e2e-b" {
		t.Errorf("list: %+v", listed)
	}

	var change struct{ VM, Device, Image, Path string }
	e.ok(&change, "isoctl", "attach", vms[0], "t-iso-base.qcow2")
	if change.VM != vms[0] || change.Device != "sdc" || change.Image != "t-iso-base.qcow2" || change.Path != stored {
		t.Errorf("attach --json: %+v", change)
	}
	change = struct{ VM, Device, Image, Path string }{}
	e.ok(&change, "isoctl", "eject", vms[0])
	if change.VM != vms[0] || change.Device != "sdc" || change.Image != "" {
		t.Errorf("eject --json: %+v", change)
	}
}

// A pull through libvirt into a pool holding a stale record (its image gone) is refused before
// the download, instead of failing after the upload with an image left without a record.
func TestPullThroughLibvirtStaleRecord(t *testing.T) {
	e := setup(t)
	data := bytes.Repeat([]byte("hvctl"), 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "img.iso", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	store := "/var/lib/libvirt/images/t-iso-e2e-stale"
	clean := func() {
		if p, err := e.conn.LookupStoragePoolByTargetPath(store); err == nil {
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
		_ = os.RemoveAll(store)
	}
	clean()
	t.Cleanup(clean)
	if err := os.MkdirAll(store, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "img.iso.record.json"), []byte(`{"name":"img.iso"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	e.env = []string{"HVCTL_PATHS_ISOS=" + store, "XDG_CACHE_HOME=" + t.TempDir()}
	_, errOut, code := e.run("isoctl", "pull", srv.URL+"/img.iso", "--sha256", hex.EncodeToString(sum[:]), "--via-libvirt")
	if code != 4 || !strings.Contains(errOut, "record img.iso.record.json without its image") {
		t.Errorf("pull over a stale record: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(store, "img.iso")); !os.IsNotExist(err) {
		t.Errorf("the image was uploaded anyway: %v", err)
	}
}
