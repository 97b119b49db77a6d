package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The line naming the VMs that stay on the source (not running) escapes their names as every
// other line does: a name with a tab must not reach the terminal raw.
func TestEvacuateStayingNamesAreEscaped(t *testing.T) {
	dir := t.TempDir()
	node := `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>odd&#9;tab</name>` +
		`<memory unit='MiB'>64</memory><os><type>hvm</type></os><test:runstate>5</test:runstate></domain></node>`
	h1, h2 := filepath.Join(dir, "h1.xml"), filepath.Join(dir, "h2.xml")
	cfg := filepath.Join(dir, "config.toml")
	for p, body := range map[string]string{h1: node, h2: `<node></node>`,
		cfg: "[hosts.h1]\nuri = \"test://" + h1 + "\"\n[hosts.h2]\nuri = \"test://" + h2 + "\"\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, err := runHostsCmd(t, cfg, evacuateCmd, "h1", "--to", "h2", "--dry-run")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	if strings.ContainsAny(stderr, "\t") || !strings.Contains(stderr, `odd\ttab`) {
		t.Errorf("staying names not escaped: %q", stderr)
	}
}
