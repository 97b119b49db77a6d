package qcow2

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBackingFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, backing string, size uint32) string {
		hdr := make([]byte, 256)
		copy(hdr, "QFI\xfb")
		if backing != "" {
			binary.BigEndian.PutUint64(hdr[8:16], 100)
			binary.BigEndian.PutUint32(hdr[16:20], size)
			copy(hdr[100:], backing)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, hdr, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ name, backing, want string }{
		{"plain", "", ""},
		{"relative", "base.qcow2", filepath.Join(dir, "base.qcow2")},
		{"absolute", "/srv/base.qcow2", "/srv/base.qcow2"},
		{"protocol", "nbd://host/export", "nbd://host/export"},
		{"json", `json:{"file":{}}`, `json:{"file":{}}`},
		{"colon-in-dir", "./a:b.qcow2", filepath.Join(dir, "a:b.qcow2")},
	} {
		got, err := BackingFile(write(c.name, c.backing, uint32(len(c.backing))))
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := BackingFile(write("huge", "x", 1<<20)); err == nil {
		t.Error("a 1 MiB backing name was read")
	}
	raw := filepath.Join(dir, "raw.img")
	if err := os.WriteFile(raw, []byte("not qcow2 at all, a raw disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := BackingFile(raw); !errors.Is(err, ErrNotQcow2) {
		t.Errorf("raw file: %v", err)
	}
}
