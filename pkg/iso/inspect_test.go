package iso

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// An ISO made by xorriso (bootable, like real install media) and a seed without boot record.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	_ = os.MkdirAll(filepath.Join(src, "boot"), 0o755)
	_ = os.WriteFile(filepath.Join(src, "boot", "img"), make([]byte, 2048*4), 0o644)
	iso := filepath.Join(dir, "debian.iso")
	out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "Debian 12.8.0 amd64 n", "-b", "boot/img",
		"-no-emul-boot", "-o", iso, src).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	in, err := Inspect(iso)
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != "iso9660" || in.VolumeID != "Debian 12.8.0 amd64 n" || !in.Bootable || in.OS != "Debian" {
		t.Errorf("bootable iso: %+v", in)
	}
	plain := filepath.Join(dir, "data.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-o", plain, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	if in, _ := Inspect(plain); in.Bootable || in.OS != "cloud-init seed" {
		t.Errorf("seed: %+v", in)
	}
	q := filepath.Join(dir, "disk.qcow2")
	_ = os.WriteFile(q, append([]byte("QFI\xfb"), make([]byte, 1020)...), 0o644)
	if in, _ := Inspect(q); in.Format != "qcow2" {
		t.Errorf("qcow2: %+v", in)
	}
}
