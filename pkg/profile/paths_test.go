package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProfile(t *testing.T, dir, body string, mode os.FileMode) string {
	t.Helper()
	f := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(f, []byte("name = \"p\"\n"+body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, mode); err != nil {
		t.Fatal(err)
	}
	return f
}

// Relative paths never climb out of the stores: install_iso = "../../../../etc/shadow" attached
// /etc/shadow as a CD-ROM, and base_image = "../pool/other.qcow2" backed a VM with another's disk.
func TestRelativePathsCannotLeaveTheStores(t *testing.T) {
	for key, body := range map[string]string{
		"install_iso":               "install_iso = \"../../../../etc/shadow\"\n",
		"disk.base_image":           "[disk]\nbase_image = \"../pool/other.qcow2\"\n",
		"extra_disks[0].base_image": "[[extra_disks]]\nbase_image = \"sub/../../x\"\n",
		"cloud_init.user_data":      "[cloud_init]\nuser_data = \"../../etc/shadow\"\n",
	} {
		f := writeProfile(t, t.TempDir(), body, 0o600)
		_, err := Load(f, Options{Defaults: defaults, ISODir: "/isos", ImageDir: "/images"})
		var inv *Invalid
		if !errors.As(err, &inv) || len(inv.Issues) != 1 || inv.Issues[0].Key != key || !strings.Contains(inv.Issues[0].Msg, "absolute path") {
			t.Errorf("%s: %v", key, err)
		}
	}
}

// Absolute paths are allowed (they say where they point), and reported when outside a store;
// names resolve inside them; user_data resolves next to its profile.
func TestPathWarningsAndNames(t *testing.T) {
	dir := t.TempDir()
	f := writeProfile(t, dir, "install_iso = \"/etc/shadow\"\n[disk]\nbase_image = \"/images/debian.qcow2\"\n[cloud_init]\nuser_data = \"ud.yaml\"\n", 0o600)
	p, err := Load(f, Options{Defaults: defaults, ISODir: "/isos", ImageDir: "/images"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Key != "install_iso" || !strings.Contains(p.Warnings[0].Msg, "outside the ISO store (/isos)") {
		t.Errorf("warnings: %v", p.Warnings)
	}
	if p.CloudInit.UserData != filepath.Join(dir, "ud.yaml") {
		t.Errorf("user_data resolved to %s", p.CloudInit.UserData)
	}
	if got, err := InStore("/isos", "debian.iso"); err != nil || got != "/isos/debian.iso" {
		t.Errorf("InStore name: %s %v", got, err)
	}
	for _, bad := range []string{"..", ".", "a/b", "../x", ""} {
		if _, err := InStore("/isos", bad); err == nil {
			t.Errorf("InStore(%q) accepted", bad)
		}
	}
}

// A password hash in a profile others can read is a warning.
func TestPasswordHashInReadableFile(t *testing.T) {
	body := "[cloud_init]\nuser = \"ops\"\npassword_hash = \"$6$salt$hash\"\n"
	for mode, want := range map[os.FileMode]bool{0o644: true, 0o640: true, 0o600: false} {
		p, err := Load(writeProfile(t, t.TempDir(), body, mode), Options{Defaults: defaults})
		if err != nil {
			t.Fatal(err)
		}
		got := len(p.Warnings) == 1 && p.Warnings[0].Key == "cloud_init.password_hash" && strings.Contains(p.Warnings[0].Msg, "chmod 600")
		if got != want || !want && len(p.Warnings) != 0 {
			t.Errorf("mode %04o: warnings %v", mode, p.Warnings)
		}
	}
}
