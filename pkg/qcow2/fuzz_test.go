package qcow2

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSnapshots reads arbitrary files as qcow2 images: a table or an error, never a panic nor
// an allocation sized by a header field beyond what the file can hold.
func FuzzSnapshots(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "disk.qcow2")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		snaps, err := Snapshots(path)
		if err != nil {
			return
		}
		if len(data) >= 64 && len(snaps) != int(binary.BigEndian.Uint32(data[60:64])) {
			t.Fatalf("header says %d snapshots, read %d", binary.BigEndian.Uint32(data[60:64]), len(snaps))
		}
		for _, s := range snaps {
			if len(s.ID)+len(s.Name) > len(data) {
				t.Fatalf("snapshot strings longer than the file: %d+%d > %d", len(s.ID), len(s.Name), len(data))
			}
		}
	})
}
