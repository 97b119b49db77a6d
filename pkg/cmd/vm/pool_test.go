package vm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdPoolCreate(t *testing.T) {
	runFlagCases(t, "pool create", func(f *cmdutil.Factory, r func(context.Context, *PoolCreateOptions) error) *cobra.Command {
		return NewCmdPoolCreate(f, r)
	},
		func(o *PoolCreateOptions) string {
			return fmt.Sprintf("%s %s path=%s devs=%v vg=%s host=%s export=%s fmt=%s nobuild=%v nostart=%v noauto=%v", o.Name, o.Type, o.Path,
				o.SourceDevs, o.SourceName, o.SourceHost, o.SourcePath, o.SourceFormat, o.NoBuild, o.NoStart, o.NoAutostart)
		}, []flagCase{
			{argv: []string{"vms", "--path", "/srv/vms"}, want: "vms dir path=/srv/vms devs=[] vg= host= export= fmt= nobuild=false nostart=false noauto=false"},
			{argv: []string{"vms", "--path", "/srv/vms", "--no-build", "--no-autostart"}, want: "vms dir path=/srv/vms devs=[] vg= host= export= fmt= nobuild=true nostart=false noauto=true"},
			{argv: []string{"vg0", "--type", "logical", "--source-name", "vg0", "--source-dev", "/dev/sdb", "--source-dev", "/dev/sdc"}, want: "vg0 logical path= devs=[/dev/sdb /dev/sdc] vg=vg0 host= export= fmt= nobuild=false nostart=false noauto=false"},
			{argv: []string{"vg0", "--type", "logical", "--source-name", "vg0"}, want: "vg0 logical path= devs=[] vg=vg0 host= export= fmt= nobuild=false nostart=false noauto=false"},
			{argv: []string{"nas", "--type", "netfs", "--source-host", "nas.lan", "--source-path", "/export", "--path", "/mnt/nas", "--source-format", "cifs", "--no-start"}, want: "nas netfs path=/mnt/nas devs=[] vg= host=nas.lan export=/export fmt=cifs nobuild=false nostart=true noauto=false"},
			{argv: []string{"vms"}, err: errs.Usage},                                                                     // dir needs --path
			{argv: []string{"vms", "--path", "relative"}, err: errs.Usage},                                               // not absolute
			{argv: []string{"vms", "--path", "/"}, err: errs.Usage},                                                      // the root itself
			{argv: []string{"bad/name", "--path", "/srv"}, err: errs.Usage},                                              // name
			{argv: []string{"vms", "--type", "zfs", "--path", "/srv"}, err: errs.Usage},                                  // type
			{argv: []string{"vms", "--path", "/srv", "--source-name", "vg0"}, err: errs.Usage},                           // not dir's
			{argv: []string{"vg0", "--type", "logical"}, err: errs.Usage},                                                // needs the VG
			{argv: []string{"vg0", "--type", "logical", "--source-name", "vg0", "--path", "/x"}, err: errs.Usage},        // not logical's
			{argv: []string{"vg0", "--type", "logical", "--source-name", "vg0", "--source-dev", "sdb"}, err: errs.Usage}, // device path
			{argv: []string{"nas", "--type", "netfs", "--source-path", "/e", "--path", "/mnt"}, err: errs.Usage},         // needs the host
			{argv: []string{"nas", "--type", "netfs", "--source-host", "h", "--path", "/mnt"}, err: errs.Usage},          // needs the export
			{argv: []string{"nas", "--type", "netfs", "--source-host", "h", "--source-path", "/e"}, err: errs.Usage},     // needs the mount point
			{argv: []string{"nas", "--type", "netfs", "--source-host", "h", "--source-path", "/e", "--path", "/m", "--source-format", "ext4"}, err: errs.Usage},
			{argv: []string{"vms", "--path", "/srv", "--source-format", "nfs"}, err: errs.Usage}, // not dir's
			{argv: []string{}, err: errs.Usage},
		})
}

func TestNewCmdPoolVerbs(t *testing.T) {
	runFlagCases(t, "pool list", func(f *cmdutil.Factory, r func(context.Context, *PoolListOptions) error) *cobra.Command {
		return NewCmdPoolList(f, r)
	}, func(o *PoolListOptions) string { return fmt.Sprint(o.Patterns) }, []flagCase{
		{argv: nil, want: "[]"},
		{argv: []string{"vm*"}, want: "[vm*]"},
		{argv: []string{"["}, err: errs.Usage},
	})
	runFlagCases(t, "pool show", func(f *cmdutil.Factory, r func(context.Context, *PoolShowOptions) error) *cobra.Command {
		return NewCmdPoolShow(f, r)
	}, func(o *PoolShowOptions) string { return o.Name }, []flagCase{
		{argv: []string{"vms"}, want: "vms"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"a", "b"}, err: errs.Usage},
	})
	runFlagCases(t, "pool start", func(f *cmdutil.Factory, r func(context.Context, *PoolStartOptions) error) *cobra.Command {
		return NewCmdPoolStart(f, r)
	}, func(o *PoolStartOptions) string { return fmt.Sprintf("%v all=%v", o.Targets, o.Bulk.All) }, []flagCase{
		{argv: []string{"a", "b*"}, want: "[a b*] all=false"},
		{argv: []string{"--all"}, want: "[] all=true"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"a", "--all"}, err: errs.Usage},
	})
	runFlagCases(t, "pool stop", func(f *cmdutil.Factory, r func(context.Context, *PoolStopOptions) error) *cobra.Command {
		return NewCmdPoolStop(f, r)
	}, func(o *PoolStopOptions) string {
		return fmt.Sprintf("%v force=%v yes=%v", o.Targets, o.Force, o.Bulk.Yes)
	}, []flagCase{
		{argv: []string{"a"}, want: "[a] force=false yes=false"},
		{argv: []string{"a", "--force", "-y"}, want: "[a] force=true yes=true"},
		{argv: []string{}, err: errs.Usage},
	})
	runFlagCases(t, "pool autostart", func(f *cmdutil.Factory, r func(context.Context, *PoolAutostartOptions) error) *cobra.Command {
		return NewCmdPoolAutostart(f, r)
	}, func(o *PoolAutostartOptions) string { return fmt.Sprintf("on=%v %v", o.On, o.Targets) }, []flagCase{
		{argv: []string{"on", "a"}, want: "on=true [a]"},
		{argv: []string{"off", "--all"}, want: "on=false []"},
		{argv: []string{"a", "on"}, err: errs.Usage},
		{argv: []string{"on"}, err: errs.Usage},
	})
	runFlagCases(t, "pool delete", func(f *cmdutil.Factory, r func(context.Context, *PoolDeleteOptions) error) *cobra.Command {
		return NewCmdPoolDelete(f, r)
	}, func(o *PoolDeleteOptions) string {
		return fmt.Sprintf("%s data=%v force=%v yes=%v", o.Name, o.DeleteData, o.Force, o.Yes)
	}, []flagCase{
		{argv: []string{"a"}, want: "a data=false force=false yes=false"},
		{argv: []string{"a", "--delete-data", "--yes"}, want: "a data=true force=false yes=true"},
		{argv: []string{"a", "--force"}, want: "a data=false force=true yes=false"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"a", "b"}, err: errs.Usage},
	})
	runFlagCases(t, "pool refresh", func(f *cmdutil.Factory, r func(context.Context, *PoolRefreshOptions) error) *cobra.Command {
		return NewCmdPoolRefresh(f, r)
	}, func(o *PoolRefreshOptions) string { return fmt.Sprint(o.Targets) }, []flagCase{
		{argv: []string{"a"}, want: "[a]"},
		{argv: []string{}, err: errs.Usage},
	})
}

// storageFactory is a factory on test:///default that prints JSON.
func storageFactory(t *testing.T) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Global.OutputFlags.JSON = true
	return f, out, errOut
}

func decode[T any](t *testing.T, out *bytes.Buffer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out.Reset()
	return v
}

const poolVM = `<domain type='test'><name>t-pooluser</name><memory>65536</memory><os><type>hvm</type></os>
<devices><disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='t-vms' volume='disk.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`

// A pool's whole life: create (defined, built, started, autostart), a name that exists (exit
// 4), volumes in it, a VM using one (volume delete, pool stop and pool delete refused, nothing
// changed), then delete without --delete-data (definition gone, data kept and said).
func TestPoolAndVolumeLifecycle(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	f, out, errOut := storageFactory(t)
	create := &PoolCreateOptions{F: f, Name: "t-vms", Type: "dir", Path: "/nonexistent/t-vms"}
	if err := runPoolCreate(ctx, create); err != nil {
		t.Fatal(err)
	}
	p := decode[model.Pool](t, out)
	if p.Name != "t-vms" || !p.Active || !p.Autostart || p.Path != "/nonexistent/t-vms" || p.Type != "dir" {
		t.Errorf("created pool: %+v", p)
	}
	if err := runPoolCreate(ctx, create); errs.KindOf(err) != errs.Conflict {
		t.Errorf("second create: %v, want a conflict", err)
	}
	if _, err := c.Pool(ctx, "t-vms"); err != nil {
		t.Fatalf("a create refused for an existing name removed the pool: %v", err)
	}
	out.Reset()

	for _, n := range []string{"disk.qcow2", "spare.raw"} {
		format := "qcow2"
		if strings.HasSuffix(n, ".raw") {
			format = "raw"
		}
		if err := runVolumeCreate(ctx, &VolumeCreateOptions{F: f, Ref: volumeRef{"t-vms", n}, Size: 1 << 30, Format: format}); err != nil {
			t.Fatal(err)
		}
		if v := decode[model.Volume](t, out); v.Name != n || v.CapacityBytes != 1<<30 || v.Pool != "t-vms" {
			t.Errorf("created volume: %+v", v)
		}
	}
	if err := runVolumeCreate(ctx, &VolumeCreateOptions{F: f, Ref: volumeRef{"t-vms", "disk.qcow2"}, Size: 1 << 30, Format: "qcow2"}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("volume create over an existing one: %v", err)
	}
	if err := runVolumeCreate(ctx, &VolumeCreateOptions{F: f, Ref: volumeRef{"t-none", "x"}, Size: 1 << 30, Format: "qcow2"}); errs.KindOf(err) != errs.NotFound ||
		!strings.Contains(errs.HintOf(err), "vmctl pool create t-none") {
		t.Errorf("volume create in a missing pool: %v (hint %q)", err, errs.HintOf(err))
	}
	out.Reset()

	virttest.Define(t, c, poolVM)
	if err := runVolumeList(ctx, &VolumeListOptions{F: f, Pool: "t-vms"}); err != nil {
		t.Fatal(err)
	}
	vols := decode[[]model.Volume](t, out)
	if len(vols) != 2 || vols[0].Name != "disk.qcow2" || strings.Join(vols[0].UsedBy, ",") != "t-pooluser" || len(vols[1].UsedBy) != 0 {
		t.Errorf("volume list: %+v", vols)
	}

	// One used volume among several: none is deleted.
	del := &VolumeDeleteOptions{F: f, Refs: []volumeRef{{"t-vms", "spare.raw"}, {"t-vms", "disk.qcow2"}}, Yes: true}
	if err := runVolumeDelete(ctx, del); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "t-vms/disk.qcow2 (used by t-pooluser)") {
		t.Errorf("delete of a used volume: %v", err)
	}
	if got := virttest.Volumes(t, c, "t-vms"); len(got) != 2 {
		t.Errorf("volumes after a refused delete: %v", got)
	}
	if err := runVolumeDelete(ctx, &VolumeDeleteOptions{F: f, Refs: []volumeRef{{"t-vms", "spare.raw"}}}); errs.KindOf(err) != errs.Usage {
		t.Errorf("delete without --yes and without a terminal: %v, want not confirmed", err)
	}
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-vms", Yes: true}); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "t-pooluser") {
		t.Errorf("pool delete under a VM: %v", err)
	}
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-vms", Yes: true, Force: true, DeleteData: true}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("pool delete --delete-data --force under a VM: %v", err)
	}
	d, err := c.Domain(ctx, "t-pooluser")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runPoolStop(ctx, &PoolStopOptions{F: f, Targets: []string{"t-vms"}, Bulk: cmdutil.BulkFlags{Parallel: 1, Noun: "pool"}}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("pool stop under a running VM: %v", err)
	}
	if p, _ := c.Pool(ctx, "t-vms"); !p.Active {
		t.Error("pool stopped under a running VM")
	}
	if err := runVolumeResize(ctx, &VolumeResizeOptions{F: f, Ref: volumeRef{"t-vms", "disk.qcow2"}, Size: 2 << 30}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("resize of a running VM's volume: %v", err)
	}
	if _, err := d.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Undefine(ctx, true); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	// Growing is e2e's (the test driver cannot resize); shrinking is refused before libvirt.
	if err := runVolumeResize(ctx, &VolumeResizeOptions{F: f, Ref: volumeRef{"t-vms", "disk.qcow2"}, Size: 1 << 29}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("shrink: %v", err)
	}
	if err := runVolumeDelete(ctx, &VolumeDeleteOptions{F: f, Refs: []volumeRef{{"t-vms", "spare.raw"}}, Yes: true}); err != nil {
		t.Fatal(err)
	}
	if res := decode[[]model.Result](t, out); len(res) != 1 || !res[0].OK || res[0].Action != "deleted" {
		t.Errorf("delete result: %+v", res)
	}
	if got := virttest.Volumes(t, c, "t-vms"); strings.Join(got, ",") != "disk.qcow2" {
		t.Errorf("volumes after delete: %v", got)
	}

	errOut.Reset()
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-vms", Yes: true}); err != nil {
		t.Fatal(err)
	}
	ch := decode[model.PoolChange](t, out)
	if ch.Action != "deleted" || strings.Join(ch.Steps, ",") != "stopped,undefined" || !strings.Contains(ch.Kept, "/nonexistent/t-vms") {
		t.Errorf("pool delete: %+v", ch)
	}
	if !strings.Contains(errOut.String(), "kept the pool's storage at /nonexistent/t-vms (--delete-data removes it)") {
		t.Errorf("pool delete did not say what it kept: %q", errOut)
	}
	if _, err := c.Pool(ctx, "t-vms"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("pool after delete: %v", err)
	}
}

// delete --delete-data lists every volume in its question and removes them, then the storage.
func TestPoolDeleteData(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	f, out, _ := storageFactory(t)
	if err := runPoolCreate(ctx, &PoolCreateOptions{F: f, Name: "t-data", Type: "dir", Path: "/nonexistent/t-data", NoAutostart: true}); err != nil {
		t.Fatal(err)
	}
	if p := decode[model.Pool](t, out); p.Autostart || !p.Active {
		t.Errorf("--no-autostart: %+v", p)
	}
	if err := runVolumeCreate(ctx, &VolumeCreateOptions{F: f, Ref: volumeRef{"t-data", "a.qcow2"}, Size: 1 << 20, Format: "qcow2"}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-data", DeleteData: true})
	if errs.KindOf(err) != errs.Usage || !strings.Contains(errs.HintOf(err), "volume a.qcow2") {
		t.Errorf("--delete-data without --yes: %v (hint %q)", err, errs.HintOf(err))
	}
	if got := virttest.Volumes(t, c, "t-data"); len(got) != 1 {
		t.Errorf("an unconfirmed delete removed volumes: %v", got)
	}
	// An inactive pool is started to list its volumes, and stopped again when not confirmed.
	if _, err := c.StopPool(ctx, "t-data"); err != nil {
		t.Fatal(err)
	}
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-data", DeleteData: true}); errs.KindOf(err) != errs.Usage {
		t.Errorf("--delete-data of an inactive pool without --yes: %v", err)
	}
	if p, _ := c.Pool(ctx, "t-data"); p.Active {
		t.Error("an unconfirmed delete left the inactive pool started")
	}
	if _, err := c.StartPool(ctx, "t-data"); err != nil {
		t.Fatal(err)
	}
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-data", DeleteData: true, Yes: true}); err != nil {
		t.Fatal(err)
	}
	if ch := decode[model.PoolChange](t, out); strings.Join(ch.Steps, ",") != "volumes-deleted,stopped,storage-deleted,undefined" || ch.Kept != "" ||
		!slices.Equal(ch.Removed, []string{"/nonexistent/t-data/a.qcow2", "/nonexistent/t-data"}) {
		t.Errorf("delete --delete-data: %+v", ch)
	}
}

// An interrupt at every libvirt call of pool create, in turn, leaves no pool behind.
func TestPoolCreateInterruptedAtEveryCallLeavesNothing(t *testing.T) {
	c := virttest.Open(t)
	for n := int64(1); ; n++ {
		f, _, _ := storageFactory(t)
		ctx, calls, cancel := interruptAt(n)
		err := runPoolCreate(ctx, &PoolCreateOptions{F: f, Name: "t-int", Type: "dir", Path: "/nonexistent/t-int"})
		cancel()
		if err == nil {
			if n < 4 {
				t.Fatalf("pool create succeeded after %d calls", calls.Load())
			}
			return
		}
		if errs.KindOf(err) != errs.Interrupted {
			t.Fatalf("interrupted at call %d: %v", n, err)
		}
		if _, err := c.Pool(context.Background(), "t-int"); errs.KindOf(err) != errs.NotFound {
			t.Fatalf("interrupted at call %d: the pool is left (%v)", n, err)
		}
	}
}

// create with the configured pool missing says how to make it (it said only libvirt's "storage
// pool not found"), and one inactive how to start it; nothing is made either way.
func TestCreateNamesHowToMakeAMissingPool(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_PROFILES": dir, "HVCTL_VM_DEFAULTS_POOL": "t-missing"}))
	err := runCreate(context.Background(), &CreateOptions{F: f, Profile: "small"})
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(errs.HintOf(err), "vmctl pool create t-missing --type dir --path ") {
		t.Errorf("create with a missing pool: %v (hint %q)", err, errs.HintOf(err))
	}
	sf, _, _ := storageFactory(t)
	if err := runPoolCreate(context.Background(), &PoolCreateOptions{F: sf, Name: "t-missing", Type: "dir", Path: "/nonexistent/t-missing", NoStart: true}); err != nil {
		t.Fatal(err)
	}
	err = runCreate(context.Background(), &CreateOptions{F: f, Profile: "small"})
	if errs.KindOf(err) != errs.Conflict || errs.HintOf(err) != "start it with: vmctl pool start t-missing" {
		t.Errorf("create with an inactive pool: %v (hint %q)", err, errs.HintOf(err))
	}
	if ok, _ := c.Exists(context.Background(), "small"); ok {
		t.Error("create defined the VM anyway")
	}
}

// volume delete refuses a base that an overlay names through a symlinked directory: the
// overlay's backing path differed from the base's as a string, so the base was deleted and
// the overlay left without its data.
func TestVolumeDeleteKeepsBaseNamedThroughSymlink(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "pool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "pool"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolCreateXML("<pool type='dir'><name>linked</name><target><path>"+filepath.Join(dir, "pool")+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = pool.Free()
	base, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "linked", Name: "base.qcow2", Format: "qcow2", Capacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	linked := *base
	linked.Path = filepath.Join(dir, "link", "base.qcow2")
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "linked", Name: "overlay.qcow2", Format: "qcow2", Capacity: 1 << 20, Backing: &linked}); err != nil {
		t.Fatal(err)
	}
	f, _, _ := storageFactory(t)
	err = runVolumeDelete(ctx, &VolumeDeleteOptions{F: f, Refs: []volumeRef{{"linked", "base.qcow2"}}, Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "backing file of") {
		t.Errorf("delete of a base under an overlay: %v", err)
	}
	if got := virttest.Volumes(t, c, "linked"); !slices.Equal(got, []string{"base.qcow2", "overlay.qcow2"}) {
		t.Errorf("volumes left: %v", got)
	}
}

// volume delete refuses a base whose overlay sits in an inactive pool: libvirt lists no volumes
// of a stopped pool, so the overlay was not seen and the base was deleted from under it.
func TestVolumeDeleteKeepsBaseOfOverlayInInactivePool(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	base, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "t-base.qcow2", Format: "qcow2", Capacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb\x00\x00\x00\x03")
	binary.BigEndian.PutUint64(hdr[8:16], 256)
	binary.BigEndian.PutUint32(hdr[16:20], uint32(len(base.Path)))
	copy(hdr[256:], base.Path)
	if err := os.WriteFile(filepath.Join(dir, "template.qcow2"), hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolDefineXML("<pool type='dir'><name>t-parked</name><target><path>"+dir+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = pool.Free()
	f, _, _ := storageFactory(t)
	err = runVolumeDelete(ctx, &VolumeDeleteOptions{F: f, Refs: []volumeRef{{"default-pool", "t-base.qcow2"}}, Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "template.qcow2") {
		t.Errorf("delete of a base under an overlay in an inactive pool: %v", err)
	}
	if got := virttest.Volumes(t, c, "default-pool"); !slices.Contains(got, "t-base.qcow2") {
		t.Errorf("the base was deleted: %v", got)
	}
}

// pool delete --delete-data refuses a pool whose target is a symlink when a VM names its disk
// through the real directory: the paths differed as strings, so no VM seemed to use the pool
// and its data, that VM's disk included, was deleted.
func TestPoolDeleteDataSeesVMThroughSymlinkedTarget(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolDefineXML("<pool type='dir'><name>linked</name><target><path>"+filepath.Join(dir, "link")+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Create(0); err != nil {
		t.Fatal(err)
	}
	_ = pool.Free()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "linked", Name: "disk.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, `<domain type='test'><name>user</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='`+filepath.Join(dir, "real", "disk.qcow2")+`'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`)
	f, _, _ := storageFactory(t)
	err = runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "linked", Yes: true, DeleteData: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "user") {
		t.Errorf("pool delete --delete-data under a VM: %v", err)
	}
	if got := virttest.Volumes(t, c, "linked"); !slices.Equal(got, []string{"disk.qcow2"}) {
		t.Errorf("volumes left: %v", got)
	}
}

// pool delete --delete-data of a pool whose target is a symlink to its directory removes the
// volumes and the real directory, keeps the link (not the pool's) and what is outside, and says
// which: libvirt's own removal, rmdir of the target, fails on a link after the volumes are gone.
func TestPoolDeleteDataThroughSymlinkedTarget(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	real, link, outside := filepath.Join(dir, "real"), filepath.Join(dir, "link"), filepath.Join(dir, "outside")
	for _, d := range []string{real, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolDefineXML("<pool type='dir'><name>linked</name><target><path>"+link+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Create(0); err != nil {
		t.Fatal(err)
	}
	_ = pool.Free()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "linked", Name: "disk.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := storageFactory(t)
	err = runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "linked", DeleteData: true})
	if want := "linked (" + real + ", through the symlink " + link + ", which stays)"; errs.KindOf(err) != errs.Usage || !strings.Contains(errs.HintOf(err), want) {
		t.Errorf("the question does not say %q: %v (hint %q)", want, err, errs.HintOf(err))
	}
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "linked", DeleteData: true, Yes: true}); err != nil {
		t.Fatal(err)
	}
	ch := decode[model.PoolChange](t, out)
	if strings.Join(ch.Steps, ",") != "volumes-deleted,stopped,storage-deleted,undefined" ||
		!slices.Equal(ch.Removed, []string{filepath.Join(real, "disk.qcow2"), real}) || !strings.Contains(ch.Kept, "the symlink "+link) {
		t.Errorf("delete --delete-data: %+v", ch)
	}
	if !strings.Contains(errOut.String(), "kept the symlink "+link+" (it pointed to the pool's directory "+real+", now removed)") {
		t.Errorf("stderr: %s", errOut)
	}
	if _, err := os.Stat(real); !os.IsNotExist(err) {
		t.Errorf("the pool's real directory: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was not kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("a file outside the pool: %v", err)
	}
	if _, err := c.Pool(ctx, "linked"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("pool after delete: %v", err)
	}
}

// A linked target's real directory is removed only when empty: what libvirt does not list as
// a volume stays, and so do the pool's definition and the link.
func TestPoolDeleteDataKeepsANonEmptyLinkedDirectory(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real"), filepath.Join(dir, "link")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test driver lists no files as volumes: this one stands for what libvirt skips.
	if err := os.WriteFile(filepath.Join(real, ".unlisted"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolDefineXML("<pool type='dir'><name>linked2</name><target><path>"+link+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = pool.Free()
	f, _, _ := storageFactory(t)
	err = runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "linked2", DeleteData: true, Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), real+" is not empty") {
		t.Errorf("a non-empty real directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(real, ".unlisted")); err != nil {
		t.Errorf("an unlisted file: %v", err)
	}
	if _, err := c.Pool(ctx, "linked2"); err != nil {
		t.Errorf("the definition: %v", err)
	}
}

// pool delete --delete-data refuses a pool one of whose volumes backs an overlay outside it
// (a VM's disk kept by delete, a template in another pool): volume delete refuses such a base,
// but --delete-data checked only the VMs' disks and deleted the base from under the overlay.
// An overlay inside the same pool goes with its base and does not stop it.
func TestPoolDeleteDataKeepsABaseOfAnOverlayElsewhere(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	f, _, _ := storageFactory(t)
	if err := runPoolCreate(ctx, &PoolCreateOptions{F: f, Name: "t-bases", Type: "dir", Path: "/nonexistent/t-bases", NoAutostart: true}); err != nil {
		t.Fatal(err)
	}
	base, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "t-bases", Name: "debian.qcow2", Format: "qcow2", Capacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "t-bases", Name: "inner.qcow2", Format: "qcow2", Capacity: 1 << 20, Backing: base}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "kept.qcow2", Format: "qcow2", Capacity: 1 << 20, Backing: base}); err != nil {
		t.Fatal(err)
	}
	f, _, _ = storageFactory(t)
	err = runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-bases", DeleteData: true, Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "debian.qcow2") || !strings.Contains(err.Error(), "kept.qcow2") {
		t.Errorf("--delete-data of a pool with a base of an overlay elsewhere: %v", err)
	}
	if got := virttest.Volumes(t, c, "t-bases"); !slices.Equal(got, []string{"debian.qcow2", "inner.qcow2"}) {
		t.Errorf("volumes left: %v", got)
	}
	// Once the overlay elsewhere is gone, the pool goes with both.
	if err := c.DeleteVolumeIn(ctx, "default-pool", "kept.qcow2"); err != nil {
		t.Fatal(err)
	}
	f, _, _ = storageFactory(t)
	if err := runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-bases", DeleteData: true, Yes: true}); err != nil {
		t.Errorf("--delete-data of a pool whose overlays are all inside it: %v", err)
	}
}

// pool create --type logical whose build fails (libvirt refuses devices that hold data, or
// vgcreate finds the volume group's name taken) does not delete the pool's storage on the way
// out: for a logical pool that is vgremove -f of the volume group by name and pvremove of the
// devices, so the rollback of a build that made nothing destroyed an existing volume group.
func TestPoolCreateLogicalFailedBuildDeletesNoStorage(t *testing.T) {
	c := virttest.Open(t)
	var calls []string
	var mu sync.Mutex
	ctx := virt.WithCallHook(context.Background(), func(what string) {
		mu.Lock()
		calls = append(calls, what)
		mu.Unlock()
	})
	f, _, _ := storageFactory(t)
	// The test driver refuses the build (it knows no NO_OVERWRITE), as libvirt refuses a
	// device with a file system or LVM label on it.
	err := runPoolCreate(ctx, &PoolCreateOptions{F: f, Name: "t-lvm", Type: "logical", SourceName: "vg-data", SourceDevs: []string{"/dev/t-in-use"}})
	if err == nil {
		t.Fatal("the build did not fail")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range calls {
		if strings.Contains(w, "delete pool storage") {
			t.Errorf("the pool's storage was deleted after a failed build: %v", calls)
		}
	}
	if _, err := c.Pool(context.Background(), "t-lvm"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("the pool is left: %v", err)
	}
}

// pool delete --delete-data refuses, before deleting anything, a pool holding a directory with
// files in it: libvirt lists it as a volume of type dir but removes only an empty one, so the
// volumes before it were deleted and the command then failed (exit 1) with the pool kept.
func TestPoolDeleteDataRefusesANonEmptyDirectoryVolume(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	target := t.TempDir()
	if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "sub", "keepme"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := c.Raw().StoragePoolDefineXML("<pool type='dir'><name>t-subdir</name><target><path>"+target+"</path></target></pool>", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pool.Destroy(); _ = pool.Undefine(); _ = pool.Free() }()
	if err := pool.Create(0); err != nil {
		t.Fatal(err)
	}
	vol, err := pool.StorageVolCreateXML("<volume type='dir'><name>sub</name><capacity>0</capacity></volume>", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = vol.Free()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "t-subdir", Name: "a.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	f, _, _ := storageFactory(t)
	err = runPoolDelete(ctx, &PoolDeleteOptions{F: f, Name: "t-subdir", DeleteData: true, Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "volume sub") || !strings.Contains(err.Error(), "nothing deleted") {
		t.Errorf("a directory with files in it: %v", err)
	}
	if got := virttest.Volumes(t, c, "t-subdir"); len(got) != 2 {
		t.Errorf("volumes deleted before the refusal: %v left", got)
	}
}
