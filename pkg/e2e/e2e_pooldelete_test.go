package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pool delete --delete-data of a pool whose target is a symlink to its directory, on the real
// daemon: libvirt's own removal of the storage is rmdir(target), which fails on the link once
// the volumes are gone. The volumes and the real directory go; the link and a file a volume
// links to, both outside the pool's directory, stay; the output lists what was removed.
func TestPoolDeleteDataThroughSymlinkOnRealDaemon(t *testing.T) {
	e := setup(t)
	const pool = "fixes-e2e-linked"
	drop := func() {
		if p, err := e.conn.LookupStoragePoolByName(pool); err == nil {
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
	}
	drop()
	t.Cleanup(drop)
	top, err := os.MkdirTemp("", "fixes-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(top) })
	if err := os.Chmod(top, 0o711); err != nil {
		t.Fatal(err)
	}
	real, link, outside := filepath.Join(top, "real"), filepath.Join(top, "link"), filepath.Join(top, "outside")
	for _, d := range []string{real, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(outside, "keep.img")
	if err := os.WriteFile(keep, []byte("not the pool's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(keep, filepath.Join(real, "linked.img")); err != nil {
		t.Fatal(err)
	}
	e.ok(nil, "vmctl", "pool", "create", pool, "--type", "dir", "--path", link, "--no-autostart")
	e.ok(nil, "vmctl", "volume", "create", pool+"/disk.qcow2", "--size", "1MiB")
	var ch struct {
		Steps   []string
		Removed []string
		Kept    string
	}
	e.ok(&ch, "vmctl", "pool", "delete", pool, "--delete-data", "--yes")
	want := []string{filepath.Join(real, "disk.qcow2"), filepath.Join(real, "linked.img"), real}
	if strings.Join(ch.Steps, ",") != "volumes-deleted,stopped,storage-deleted,undefined" || !slices.Equal(ch.Removed, want) ||
		!strings.Contains(ch.Kept, "the symlink "+link) {
		t.Errorf("pool delete --delete-data: %+v, want removed %v", ch, want)
	}
	if _, err := os.Lstat(real); !os.IsNotExist(err) {
		t.Errorf("the pool's directory: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was not kept: %v", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "not the pool's" {
		t.Errorf("the file a volume linked to: %q %v", b, err)
	}
	if p, err := e.conn.LookupStoragePoolByName(pool); err == nil {
		_ = p.Free()
		t.Error("the pool is still defined")
	}
}
