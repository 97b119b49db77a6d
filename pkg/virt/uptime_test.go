package virt

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLocalUptimes(t *testing.T) {
	root := t.TempDir()
	procRoot, runDir = filepath.Join(root, "proc"), filepath.Join(root, "run")
	defer func() { procRoot, runDir = "/proc", "/run/libvirt/qemu" }()
	_ = os.MkdirAll(filepath.Join(procRoot, "4242"), 0o755)
	_ = os.MkdirAll(runDir, 0o755)
	_ = os.WriteFile(filepath.Join(procRoot, "stat"), []byte("cpu  1 2 3\nbtime 1800000000\nprocesses 9\n"), 0o644)
	// A command name with a space and a parenthesis; starttime (field 22) = 12345 ticks.
	stat := "4242 (qemu-system (x86)) S 1 4242 4242 0 -1 4194560 1 0 0 0 10 5 0 0 20 0 3 0 12345 1000 200 18446744073709551615\n"
	_ = os.WriteFile(filepath.Join(procRoot, "4242", "stat"), []byte(stat), 0o644)
	_ = os.WriteFile(filepath.Join(runDir, "web.pid"), []byte("4242\n"), 0o644)
	_ = os.WriteFile(filepath.Join(runDir, "bad.pid"), []byte("../etc\n"), 0o644)
	c := &Conn{URI: "qemu:///system"}
	now := time.Unix(1800000000+123+600, 450e6) // 123.45 s after boot the VM started, 600 s ago
	got := c.localUptimes([]string{"web", "bad", "gone"}, now)
	if len(got) != 1 || got["web"] != 600 {
		t.Errorf("uptimes: %v", got)
	}
	if (&Conn{URI: "qemu+ssh://h/system"}).localUptimes([]string{"web"}, now) != nil {
		t.Error("a remote host's uptime read from local /proc")
	}
}
