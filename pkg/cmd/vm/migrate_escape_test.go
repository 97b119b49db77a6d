package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// migrate's own lines on stderr (the preflight's notes, "migrating …") escape the VM's name as
// its errors do: a name with a tab or a control character must not reach the terminal raw.
func TestMigrateLinesEscapeNames(t *testing.T) {
	dir := t.TempDir()
	// A shut-off VM whose disk is in no pool of the target: the preflight notes it, then the
	// test driver refuses the move itself.
	node := `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>odd&#9;tab</name>` +
		`<memory unit='MiB'>64</memory><os><type>hvm</type></os><devices><disk type='file' device='disk'>` +
		`<source file='/nowhere/odd.img'/><target dev='vda'/></disk></devices><test:runstate>5</test:runstate></domain></node>`
	h1, h2 := filepath.Join(dir, "h1.xml"), filepath.Join(dir, "h2.xml")
	cfg := filepath.Join(dir, "config.toml")
	for p, body := range map[string]string{h1: node, h2: `<node></node>`,
		cfg: "uri = \"test://" + h1 + "\"\n[hosts.h1]\nuri = \"test://" + h1 + "\"\n[hosts.h2]\nuri = \"test://" + h2 + "\"\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	migrate := func(f *cmdutil.Factory) *cobra.Command { return NewCmdMigrate(f, nil) }
	_, stderr, err := runHostsCmd(t, cfg, migrate, "odd\ttab", "--to", "h2")
	if err == nil {
		t.Fatalf("the test driver moved a VM? (stderr %q)", stderr)
	}
	if !strings.Contains(stderr, "migrating odd\\ttab") || !strings.Contains(stderr, "odd\\ttab: disk vda") {
		t.Errorf("stderr lacks the migrating line or the disk note: %q", stderr)
	}
	if strings.Contains(stderr, "\t") {
		t.Errorf("a VM name reached stderr raw: %q", stderr)
	}
}

// A VM name qualified with a configured host (h1:web) is on that host, as bulk verbs read it;
// -c's libvirt is not searched (here it is h2, the target, which would be refused as the host
// the VM is on). --to a [groups] name says migrate takes one host.
func TestMigrateQualifiedName(t *testing.T) {
	dir := t.TempDir()
	h1, h2 := filepath.Join(dir, "h1.xml"), filepath.Join(dir, "h2.xml")
	cfg := filepath.Join(dir, "config.toml")
	for p, body := range map[string]string{
		h1: `<node><domain type='test'><name>web</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain></node>`,
		h2: `<node></node>`,
		cfg: "uri = \"test://" + h2 + "\"\n[hosts.h1]\nuri = \"test://" + h1 + "\"\n[hosts.h2]\nuri = \"test://" + h2 + "\"\n" +
			"[groups]\nboth = [\"h1\", \"h2\"]\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	migrate := func(f *cmdutil.Factory) *cobra.Command { return NewCmdMigrate(f, nil) }
	_, stderr, err := runHostsCmd(t, cfg, migrate, "h1:web", "--to", "h2")
	// Preflight passes; the test driver then refuses the move itself.
	if err == nil || !strings.Contains(stderr, "migrating web (live) to h2") || !strings.Contains(err.Error(), "migrate web to h2: ") {
		t.Errorf("h1:web --to h2: %v (stderr %q)", err, stderr)
	}
	_, _, err = runHostsCmd(t, cfg, migrate, "h1:nosuch", "--to", "h2")
	if errs.KindOf(err) != errs.NotFound || err.Error() != "migrate h1:nosuch: no VM nosuch on host h1" || errs.HintOf(err) != "see its VMs with: vmctl list --host h1" {
		t.Errorf("h1:nosuch: %v (hint %q)", err, errs.HintOf(err))
	}
	_, _, err = runHostsCmd(t, cfg, migrate, "h1:web", "--to", "both")
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "--to both is a [groups] name") {
		t.Errorf("--to a group: %v", err)
	}
}
