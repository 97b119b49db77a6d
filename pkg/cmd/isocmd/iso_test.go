package isocmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	isopkg "github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

func factory(t *testing.T, isos string) *cmdutil.Factory {
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_ISOS": isos, "HVCTL_PATHS_IMAGES": t.TempDir()}))
	f.Prog = "isoctl"
	return f
}

func run(t *testing.T, f *cmdutil.Factory, args ...string) error {
	root := &cobra.Command{Use: "isoctl", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(NewCmdISO(f))
	root.SetArgs(append([]string{"iso"}, args...))
	return root.ExecuteContext(context.Background())
}

// rm refuses an image a VM uses, and removes it with --force (with a warning).
func TestRmRefusesAnImageInUse(t *testing.T) {
	store := t.TempDir()
	src := filepath.Join(t.TempDir(), "inuse.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(context.Background(), src, store, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := virt.Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dom, err := conn.Raw().DomainDefineXML(`<domain type='test'><name>user</name><memory>65536</memory><os><type>hvm</type></os>
<devices><disk type='file' device='cdrom'><source file='` + filepath.Join(store, "inuse.iso") + `'/><target dev='sda' bus='sata'/><readonly/></disk></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dom.Undefine(); _ = dom.Free() }()

	f := factory(t, store)
	err = run(t, f, "rm", "inuse.iso")
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "used by user") {
		t.Fatalf("rm of an image in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, "inuse.iso")); err != nil {
		t.Fatal("the image went anyway")
	}
	if err := run(t, f, "rm", "inuse.iso", "--force", "--yes"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.IO.ErrOut.(*bytes.Buffer).String(), "warning: removing inuse.iso, which user uses") {
		t.Errorf("no warning: %s", f.IO.ErrOut.(*bytes.Buffer).String())
	}
	if _, err := os.Stat(filepath.Join(store, "inuse.iso")); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
}

func defineVM(t *testing.T, conn *virt.Conn, name, disk string) {
	t.Helper()
	dom, err := conn.Raw().DomainDefineXML(`<domain type='test'><name>` + name + `</name><memory>65536</memory><os><type>hvm</type></os><devices>` + disk + `</devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dom.Undefine(); _ = dom.Free() })
}

// qcow2Overlay writes the header of a qcow2 overlay standing on backing.
func qcow2Overlay(t *testing.T, path, backing string) {
	t.Helper()
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb")
	binary.BigEndian.PutUint32(hdr[4:8], 3)
	binary.BigEndian.PutUint64(hdr[8:16], 112)
	binary.BigEndian.PutUint32(hdr[16:20], uint32(len(backing)))
	copy(hdr[112:], backing)
	if err := os.WriteFile(path, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
}

// rm refuses a base image that backs stopped VMs' overlays, naming every one of them.
func TestRmRefusesABackingImage(t *testing.T) {
	ctx := context.Background()
	f := factory(t, t.TempDir())
	images := f.Getenv("HVCTL_PATHS_IMAGES")
	src := filepath.Join(t.TempDir(), "base.qcow2")
	if err := os.WriteFile(src, []byte("base"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(ctx, src, images, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := virt.Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pool := t.TempDir()
	for _, vm := range []string{"t-iso-web1", "t-iso-web2"} {
		overlay := filepath.Join(pool, vm+".qcow2")
		qcow2Overlay(t, overlay, filepath.Join(images, "base.qcow2"))
		defineVM(t, conn, vm, `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='`+overlay+`'/><target dev='vda' bus='virtio'/></disk>`)
	}
	err = run(t, f, "rm", "base.qcow2")
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "used by t-iso-web1, t-iso-web2") {
		t.Fatalf("rm of a backing image: %v (kind %s)", err, errs.KindOf(err))
	}
	if _, err := os.Stat(filepath.Join(images, "base.qcow2")); err != nil {
		t.Fatal("the base went anyway")
	}
}

// rm refuses when the in-use scan cannot read some VM: not knowing is not "unused".
func TestRmFailsClosed(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir()
	src := filepath.Join(t.TempDir(), "other.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(ctx, src, store, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := virt.Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defineVM(t, conn, "t-iso-lost", `<disk type='volume' device='cdrom'><source pool='t-iso-gone' volume='other.iso'/><target dev='sda' bus='sata'/><readonly/></disk>`)
	f := factory(t, store)
	err = run(t, f, "rm", "other.iso")
	if err == nil || !strings.Contains(err.Error(), "cannot tell whether a VM uses it") || !strings.Contains(err.Error(), "t-iso-lost") {
		t.Fatalf("rm with an unreadable VM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, "other.iso")); err != nil {
		t.Fatal("the image went anyway")
	}
}

// Two configurations with their own stores get a pool each, in every code path, and stores
// are created 0711 (QEMU traverses them, nobody lists them).
func TestStoresOfTwoConfigurationsDoNotCollide(t *testing.T) {
	ctx := context.Background()
	conn, err := virt.Open(ctx, "test:///default", false) // keeps the test driver's state between commands
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	src := filepath.Join(t.TempDir(), "medium.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := 0; i < 2; i++ {
		dir := filepath.Join(t.TempDir(), "isos")
		f := factory(t, dir)
		if err := run(t, f, "import", src); err != nil {
			t.Fatal(err)
		}
		if stderr := f.IO.ErrOut.(*bytes.Buffer).String(); stderr != "" {
			t.Errorf("configuration %d: %s", i, stderr)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o711 {
			t.Errorf("store %s: %v, mode %v", dir, err, fi.Mode().Perm())
		}
		dirs = append(dirs, dir)
	}
	pools := map[string]bool{}
	for _, dir := range dirs {
		name, ok, err := conn.PoolServing(ctx, dir)
		if err != nil || !ok {
			t.Fatalf("no pool serves %s: %v", dir, err)
		}
		pools[name] = true
		t.Cleanup(func() {
			if p, err := conn.Raw().LookupStoragePoolByName(name); err == nil {
				_ = p.Destroy()
				_ = p.Undefine()
				_ = p.Free()
			}
		})
	}
	if len(pools) != 2 {
		t.Errorf("pools: %v", pools)
	}
	if got := poolName("isos", "/var/lib/hvctl/isos/", "/var/lib/hvctl/isos"); got != "hvctl-isos" {
		t.Errorf("the default store's pool: %s", got)
	}
}

// parse runs argv through a NewCmdX with a capturing runF: flag parsing and the checks made
// before any work, without libvirt or a store. It returns the options runF received.
func parse[O any](t *testing.T, build func(*cmdutil.Factory, func(context.Context, *O) error) *cobra.Command, argv ...string) (*O, error) {
	t.Helper()
	var got *O
	cmd := build(factory(t, t.TempDir()), func(_ context.Context, o *O) error { got = o; return nil })
	cmd.SetArgs(argv)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	return got, err
}

// parseCase is one row of a TestNewCmdX table: argv and either the options (F left out) or
// the usage error wanted.
type parseCase[O any] struct {
	argv    string
	want    O
	wantErr string // a usage error containing this; "" for success
}

func runParseCases[O any](t *testing.T, build func(*cmdutil.Factory, func(context.Context, *O) error) *cobra.Command, clearF func(*O), cases []parseCase[O]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.argv, func(t *testing.T) {
			got, err := parse(t, build, strings.Fields(c.argv)...)
			if c.wantErr != "" {
				// cobra's own flag errors are untyped; the root classifies them (exit 2).
				cobraFlag := err != nil && strings.HasPrefix(err.Error(), "unknown flag")
				if errs.KindOf(err) != errs.Usage && !cobraFlag || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v (kind %s), want a usage error with %q", err, errs.KindOf(err), c.wantErr)
				}
				if got != nil {
					t.Errorf("runF ran after a usage error: %+v", *got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("runF did not run")
			}
			clearF(got)
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("options\n got %+v\nwant %+v", *got, c.want)
			}
		})
	}
}

// partials --clear --yes removes unfinished downloads, and only the named ones when named.
func TestPartialsClear(t *testing.T) {
	store := t.TempDir()
	for _, n := range []string{"a.iso", "b.iso"} {
		if err := os.WriteFile(filepath.Join(store, "."+n+".partial"), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := factory(t, store)
	if err := run(t, f, "partials", "--clear", "--yes", "b.iso"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, ".b.iso.partial")); !os.IsNotExist(err) {
		t.Errorf("b.iso's partial stayed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, ".a.iso.partial")); err != nil {
		t.Errorf("a.iso's partial went without being named: %v", err)
	}
	if err := run(t, factory(t, store), "partials", "--clear", "--yes", "b.iso"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("clearing a partial that is not there: %v", err)
	}
	if err := run(t, factory(t, store), "partials", "--clear", "--yes"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, ".a.iso.partial")); !os.IsNotExist(err) {
		t.Errorf("a.iso's partial stayed: %v", err)
	}
}

// rm sees a VM that names the image by another path to the same file: through a symlinked
// directory, or by its real path when the store itself is reached through a symlink. Matching
// path strings would call the image unused and remove it under the VM.
func TestRmSeesAUserThroughASymlink(t *testing.T) {
	ctx := context.Background()
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "isos")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "linked.iso")
	if err := os.WriteFile(src, []byte("medium"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := isopkg.ImportFile(ctx, src, real, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := virt.Open(ctx, "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, c := range []struct{ store, named string }{
		{real, filepath.Join(link, "linked.iso")}, // the VM names it through the link
		{link, filepath.Join(real, "linked.iso")}, // the store is the link; the VM names the file
	} {
		t.Run(c.named, func(t *testing.T) {
			defineVM(t, conn, "t-iso-linked", `<disk type='file' device='cdrom'><source file='`+c.named+`'/><target dev='sda' bus='sata'/><readonly/></disk>`)
			f := factory(t, c.store)
			err := run(t, f, "rm", "linked.iso", "--yes")
			if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "used by t-iso-linked") {
				t.Fatalf("rm of an image a VM names as %s: %v", c.named, err)
			}
			if _, err := os.Stat(filepath.Join(real, "linked.iso")); err != nil {
				t.Fatal("the image went anyway")
			}
			f = factory(t, c.store)
			if err := run(t, f, "list", "--json"); err != nil {
				t.Fatal(err)
			}
			if out := f.IO.Out.(*bytes.Buffer).String(); !strings.Contains(out, `"t-iso-linked"`) {
				t.Errorf("list leaves the user out: %s", out)
			}
		})
	}
}
