package qcow2

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Snapshots made by qemu-img itself are read back with their names.
func TestSnapshots(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.qcow2")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
	}
	run("create", "-q", "-f", "qcow2", img, "16M")
	if s, err := Snapshots(img); err != nil || len(s) != 0 {
		t.Fatalf("fresh image: %v %v", s, err)
	}
	for _, n := range []string{"first", "a-longer-second-name", "3"} {
		run("snapshot", "-c", n, img)
	}
	s, err := Snapshots(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s[0].Name != "first" || s[1].Name != "a-longer-second-name" || s[2].Name != "3" || s[0].VMStateSize != 0 || s[2].Date.IsZero() {
		t.Errorf("snapshots: %+v", s)
	}
	if _, err := Snapshots("/etc/hostname"); err == nil {
		t.Error("a text file read as qcow2")
	}
}
