package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// The storage engineer's resources on the real daemon: one pool in a temporary directory and
// one guest (renamed half-way), all named t-storage-… and removed afterwards.
const (
	stPool  = "t-storage-pool"
	stVM    = "t-storage-1"
	stVMNew = "t-storage-2"
)

func (e *env) storageCleanup() {
	for _, n := range []string{stVM, stVMNew} {
		if d, err := e.conn.LookupDomainByName(n); err == nil {
			_ = d.Destroy()
			_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE)
			_ = d.Free()
		}
	}
	if p, err := e.conn.LookupStoragePoolByName(stPool); err == nil {
		if vols, err := p.ListAllStorageVolumes(0); err == nil {
			for _, v := range vols {
				_ = v.Delete(0)
				_ = v.Free()
			}
		}
		_ = p.Destroy()
		_ = p.Undefine()
		_ = p.Free()
	}
}

// guestUptime reads /proc/uptime in the guest through the agent (vmctl exec).
func (e *env) guestUptime(vm string) float64 {
	e.t.Helper()
	out, errOut, code := e.run("vmctl", "exec", vm, "--", "cat", "/proc/uptime")
	if code != 0 {
		e.t.Fatalf("exec cat /proc/uptime: exit %d %s", code, errOut)
	}
	up, err := strconv.ParseFloat(strings.Fields(out)[0], 64)
	if err != nil {
		e.t.Fatalf("uptime %q: %v", out, err)
	}
	return up
}

func TestStorageOnRealDaemon(t *testing.T) {
	e := setup(t)
	e.storageCleanup()
	t.Cleanup(e.storageCleanup)
	// A temporary directory QEMU (another user) can pass through: t.TempDir's are 0700.
	top, err := os.MkdirTemp("", "t-storage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(top) })
	if err := os.Chmod(top, 0o711); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "pool")

	// pool and volumes
	func() {
		// A build that fails (the directory's parent is a file) leaves no definition behind.
		blocker := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := e.run("vmctl", "pool", "create", stPool, "--path", filepath.Join(blocker, "sub")); code == 0 {
			t.Fatalf("pool create under a file succeeded: %s", errOut)
		}
		if p, err := e.conn.LookupStoragePoolByName(stPool); err == nil {
			_ = p.Free()
			t.Fatal("a failed pool create left its definition")
		}
		var p struct {
			Name, State, Path string
			Active, Autostart bool
		}
		e.ok(&p, "vmctl", "pool", "create", stPool, "--path", dir)
		if !p.Active || !p.Autostart || p.Path != dir {
			t.Errorf("pool create: %+v", p)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("the pool's directory was not built: %v", err)
		}

		data := make([]byte, 3<<20+123)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(t.TempDir(), "blob.raw")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		e.ok(nil, "vmctl", "volume", "upload", stPool+"/blob.raw", src)
		if _, _, code := e.run("vmctl", "volume", "upload", stPool+"/blob.raw", src); code != 4 {
			t.Errorf("upload over an existing volume: exit %d, want 4", code)
		}
		back := filepath.Join(t.TempDir(), "back.raw")
		var tr struct{ Bytes int64 }
		e.ok(&tr, "vmctl", "volume", "download", stPool+"/blob.raw", back)
		if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) || tr.Bytes != int64(len(data)) {
			t.Errorf("download differs from the upload: %v, %d bytes reported", err, tr.Bytes)
		}
		if fi, err := os.Stat(back); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("downloaded file mode: %v %v", fi.Mode(), err)
		}

		e.ok(nil, "vmctl", "volume", "create", stPool+"/grow.qcow2", "--size", "1MiB")
		var v struct {
			Format        string
			CapacityBytes uint64 `json:"capacity_bytes"`
		}
		e.ok(&v, "vmctl", "volume", "resize", stPool+"/grow.qcow2", "2MiB")
		if v.CapacityBytes != 2<<20 || v.Format != "qcow2" {
			t.Errorf("resize: %+v", v)
		}
		var vols []struct{ Name string }
		e.ok(&vols, "vmctl", "volume", "list", stPool)
		if len(vols) != 2 {
			t.Errorf("volume list: %+v", vols)
		}
		// Without --delete-data the files stay; the pool is recreated over them afterwards.
		e.ok(nil, "vmctl", "pool", "delete", stPool, "--yes")
		if _, err := os.Stat(filepath.Join(dir, "blob.raw")); err != nil {
			t.Errorf("pool delete without --delete-data removed data: %v", err)
		}
		e.ok(nil, "vmctl", "pool", "create", stPool, "--path", dir)
		e.ok(&vols, "vmctl", "volume", "list", stPool)
		if len(vols) != 2 {
			t.Errorf("volumes of the recreated pool: %+v", vols)
		}
		e.ok(nil, "vmctl", "volume", "delete", stPool+"/blob.raw", stPool+"/grow.qcow2", "--yes")
	}()

	// save and restore keep the guest running
	func() {
		e.ok(nil, "vmctl", "volume", "create", stPool+"/"+stVM+"-data.qcow2", "--size", "1MiB")
		def := guestDomain(stVM, e.iso, 11)
		def.Devices.Disks[1].Source.Volume.Pool = stPool
		// A video adapter without graphics: QEMU then has a screen to take a picture of.
		def.Devices.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga"}}}
		x, err := def.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.conn.DomainDefineXML(x)
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Free()
		e.act("started", "start", stVM)
		if out, errOut, code := e.run("vmctl", "wait", stVM, "--for", "agent", "--timeout", "3m"); code != 0 {
			t.Fatalf("wait --for agent: exit %d\n%s%s", code, out, errOut)
		}
		// Users of a pool block its removal and its volumes' deletion.
		if _, errOut, code := e.run("vmctl", "volume", "delete", stPool+"/"+stVM+"-data.qcow2", "--yes"); code != 4 || !strings.Contains(errOut, "used by "+stVM) {
			t.Errorf("delete of a running VM's volume: exit %d %s", code, errOut)
		}
		if _, _, code := e.run("vmctl", "pool", "stop", stPool); code != 4 {
			t.Errorf("pool stop under a running VM: exit %d, want 4", code)
		}

		shot := filepath.Join(t.TempDir(), "screen.png")
		var s struct{ Width, Height int }
		e.ok(&s, "vmctl", "screenshot", stVM, shot)
		if b, err := os.ReadFile(shot); err != nil {
			t.Error(err)
		} else if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != s.Width || s.Width < 320 {
			t.Errorf("screenshot: %v %+v", err, s)
		}

		time.Sleep(3 * time.Second)
		before := e.guestUptime(stVM)
		e.act("saved", "save", stVM)
		var vms []struct {
			Name, State string
			Saved       bool
		}
		e.ok(&vms, "vmctl", "list", "--state", "saved")
		if len(vms) != 1 || vms[0].Name != stVM || vms[0].State != "shut_off" || !vms[0].Saved {
			t.Errorf("list --state saved: %+v", vms)
		}
		if out, _, _ := e.run("vmctl", "list", stVM); !strings.Contains(out, " saved ") {
			t.Errorf("list's table does not say saved:\n%s", out)
		}
		e.act("restored", "restore", stVM)
		if out, errOut, code := e.run("vmctl", "wait", stVM, "--for", "agent", "--timeout", "2m"); code != 0 {
			t.Fatalf("wait --for agent after restore: exit %d\n%s%s", code, out, errOut)
		}
		if after := e.guestUptime(stVM); after < before {
			t.Errorf("uptime %.1fs after restore, %.1fs before save: the guest booted afresh", after, before)
		}
		// start restores too, and says so.
		e.act("saved", "save", stVM)
		e.act("restored", "start", stVM)
		if after := e.guestUptime(stVM); after < before {
			t.Errorf("uptime %.1fs after start of a saved VM, %.1fs before: booted afresh", after, before)
		}
	}()

	// rename keeps snapshots
	func() {
		e.ok(nil, "vmctl", "kill", stVM)
		e.ok(nil, "vmctl", "snapshot", "create", stVM, "s1")
		var r struct {
			Name      string
			Snapshots int
		}
		e.ok(&r, "vmctl", "rename", stVM, stVMNew)
		if r.Name != stVMNew || r.Snapshots != 1 {
			t.Errorf("rename: %+v", r)
		}
		var snaps []struct{ Name, VM string }
		e.ok(&snaps, "vmctl", "snapshot", "list", stVMNew)
		if len(snaps) != 1 || snaps[0].Name != "s1" {
			t.Errorf("snapshots after rename: %+v", snaps)
		}
		e.ok(nil, "vmctl", "snapshot", "revert", stVMNew, "s1", "--yes")
		var show struct{ Name string }
		e.ok(&show, "vmctl", "show", stVMNew)
		if show.Name != stVMNew {
			t.Errorf("after a revert the VM is called %q", show.Name)
		}
		if _, _, code := e.run("vmctl", "show", stVM); code != 3 {
			t.Errorf("the old name still answers: exit %d", code)
		}
		var js json.RawMessage
		e.ok(&js, "vmctl", "snapshot", "delete", stVMNew, "s1", "--yes")
	}()
}
