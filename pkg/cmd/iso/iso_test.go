package iso

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	isopkg "github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func factory(t *testing.T, isos string) *cmdutil.Factory {
	ios, _, _, _ := iostreams.Test()
	env := map[string]string{"HVCTL_URI": "test:///default", "HVCTL_PATHS_ISOS": isos, "HVCTL_PATHS_IMAGES": t.TempDir(),
		"HVCTL_SYSTEM_CONFIG": "/nonexistent", "HOME": t.TempDir()}
	f := &cmdutil.Factory{IO: ios, Getenv: func(k string) string { return env[k] }, Now: time.Now, Prog: "isoctl", Global: &cmdutil.Global{}}
	f.Global.Flags = pflag.NewFlagSet("g", pflag.ContinueOnError)
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
	if err := run(t, f, "rm", "inuse.iso", "--force"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.IO.ErrOut.(*bytes.Buffer).String(), "warning: removing inuse.iso, which user uses") {
		t.Errorf("no warning: %s", f.IO.ErrOut.(*bytes.Buffer).String())
	}
	if _, err := os.Stat(filepath.Join(store, "inuse.iso")); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
}
