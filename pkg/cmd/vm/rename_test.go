package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirt"
)

func TestNewCmdRename(t *testing.T) {
	runFlagCases(t, "rename", func(f *cmdutil.Factory, r func(context.Context, *RenameOptions) error) *cobra.Command {
		return NewCmdRename(f, r)
	}, func(o *RenameOptions) string { return o.Old + "→" + o.New }, []flagCase{
		{argv: []string{"web01", "www01"}, want: "web01→www01"},
		{argv: []string{"My Old VM", "www01"}, want: "My Old VM→www01"},
		{argv: []string{"web01", "bad name"}, err: errs.Usage},
		{argv: []string{"web01", "web01"}, err: errs.Usage},
		{argv: []string{"web01"}, err: errs.Usage},
	})
}

// renameVM is a stopped VM hvctl made from the profile t-old, with libvirt's default NVRAM
// name in dir.
func renameVM(dir string) string {
	return fmt.Sprintf(`<domain type='test'><name>t-old</name><memory>65536</memory>
<metadata><hvctl:vm xmlns:hvctl='%s'><hvctl:profile>t-old</hvctl:profile><hvctl:owner>ops</hvctl:owner></hvctl:vm></metadata>
<os><type>hvm</type><loader readonly='yes' type='pflash'>/nonexistent/CODE.fd</loader><nvram>%s/t-old_VARS.fd</nvram></os></domain>`, domainxml.Namespace, dir)
}

// rename keeps the snapshots (their saved definitions name the new VM), moves the NVRAM file
// to the new name, renames the profile in hvctl's metadata and keeps the owner.
func TestRenameKeepsSnapshotsNVRAMAndMetadata(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t-old_VARS.fd"), []byte("vars"), 0o600); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, renameVM(dir))
	takeSnapshots(t, c, "t-old", "s1", "s2")
	f, out, _ := storageFactory(t)
	if err := runRename(ctx, &RenameOptions{F: f, Old: "t-old", New: "t-new"}); err != nil {
		t.Fatal(err)
	}
	got := decode[model.Renamed](t, out)
	want := model.Renamed{Name: "t-new", OldName: "t-old", Snapshots: 2, NVRAM: filepath.Join(dir, "t-new_VARS.fd"), ProfileRenamed: true}
	if got != want {
		t.Errorf("rename: %+v, want %+v", got, want)
	}
	if _, err := c.Domain(ctx, "t-old"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("old name: %v", err)
	}
	nd, err := c.Domain(ctx, "t-new")
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Free()
	snaps, err := nd.Snapshots(ctx)
	if err != nil || len(snaps) != 2 || !snaps[1].Current && !snaps[0].Current {
		t.Errorf("snapshots after rename: %v %+v", err, snaps)
	}
	x, err := nd.XML(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x, "<nvram>"+dir+"/t-new_VARS.fd</nvram>") || !strings.Contains(x, "<hvctl:profile>t-new</hvctl:profile>") || !strings.Contains(x, "<hvctl:owner>ops</hvctl:owner>") {
		t.Errorf("definition after rename:\n%s", x)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "t-new_VARS.fd")); err != nil || string(b) != "vars" {
		t.Errorf("NVRAM not moved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t-old_VARS.fd")); err == nil {
		t.Error("the old NVRAM file is still there for a new VM of the old name to pick up")
	}
	raw, err := c.Raw().LookupDomainByName("t-new")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Free()
	s, err := raw.SnapshotLookupByName("s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Free()
	if sx, _ := s.GetXMLDesc(0); !strings.Contains(sx, "<name>t-new</name>") || strings.Contains(sx, "<name>t-old</name>") {
		t.Errorf("snapshot s1 still names the old VM:\n%s", sx)
	}

	// Refusals change nothing.
	if _, err := nd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := runRename(ctx, &RenameOptions{F: f, Old: "t-new", New: "t-other"}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("rename of a running VM: %v", err)
	}
	if err := runRename(ctx, &RenameOptions{F: f, Old: "t-new", New: "test"}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("rename onto an existing name: %v", err)
	}
	if err := runRename(ctx, &RenameOptions{F: f, Old: "t-none", New: "t-other"}); errs.KindOf(err) != errs.NotFound {
		t.Errorf("rename of a missing VM: %v", err)
	}
}

// An interrupt at every libvirt call of rename, in turn, leaves the VM under its old name with
// its snapshots and NVRAM, or (once every step is done) wholly renamed.
func TestRenameInterruptedAtEveryCallPutsBack(t *testing.T) {
	c := virttest.Open(t)
	dir := t.TempDir()
	for n := int64(1); ; n++ {
		virttest.Define(t, c, renameVM(dir))
		takeSnapshots(t, c, "t-old", "s1")
		f, _, _ := storageFactory(t)
		ctx, calls, cancel := interruptAt(n)
		err := runRename(ctx, &RenameOptions{F: f, Old: "t-old", New: "t-new"})
		cancel()
		if err == nil {
			if n < 6 {
				t.Fatalf("rename succeeded after %d calls", calls.Load())
			}
			return
		}
		if errs.KindOf(err) != errs.Interrupted {
			t.Fatalf("interrupted at call %d: %v", n, err)
		}
		d, err := c.Domain(context.Background(), "t-old")
		if err != nil {
			t.Fatalf("interrupted at call %d: the old name is gone: %v", n, err)
		}
		x, _ := d.XML(context.Background(), true)
		snaps, _ := d.Snapshots(context.Background())
		if !strings.Contains(x, "t-old_VARS.fd") || !strings.Contains(x, "<hvctl:profile>t-old<") || len(snaps) != 1 {
			t.Fatalf("interrupted at call %d: not put back: %d snapshots\n%s", n, len(snaps), x)
		}
		d.Free()
		raw, err := c.Raw().LookupDomainByName("t-old")
		if err != nil {
			t.Fatal(err)
		}
		if err := raw.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA); err != nil {
			t.Fatal(err)
		}
		_ = raw.Free()
		if _, err := c.Domain(context.Background(), "t-new"); errs.KindOf(err) != errs.NotFound {
			t.Fatalf("interrupted at call %d: t-new exists too", n)
		}
	}
}

// takeSnapshots takes snapshots of vm through libvirt directly (hvctl refuses internal snapshots
// of a UEFI VM, which libvirt's test driver takes as metadata only).
func takeSnapshots(t *testing.T, c *virt.Conn, vm string, names ...string) {
	t.Helper()
	d, err := c.Raw().LookupDomainByName(vm)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	for _, n := range names {
		s, err := d.CreateSnapshotXML("<domainsnapshot><name>"+n+"</name></domainsnapshot>", 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Free()
	}
}
