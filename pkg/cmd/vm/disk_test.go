package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdDiskAttach(t *testing.T) {
	runFlagCases(t, "disk attach", func(f *cmdutil.Factory, r func(context.Context, *DiskAttachOptions) error) *cobra.Command {
		return NewCmdDiskAttach(f, r)
	}, func(o *DiskAttachOptions) string {
		return fmt.Sprintf("%s size=%d pool=%s volume=%s image=%s bus=%s target=%s live=%v config=%v",
			o.VM, o.Size, o.Pool, o.Volume, o.Image, o.Bus, o.Target, o.Scope.Live, o.Scope.Config)
	}, []flagCase{
		{argv: []string{"web", "--size", "20GiB"}, want: "web size=21474836480 pool= volume= image= bus=virtio target= live=false config=false"},
		{argv: []string{"web", "--size", "1G", "--pool", "fast", "--bus", "scsi", "--target", "sdc", "--live"}, want: "web size=1073741824 pool=fast volume= image= bus=scsi target=sdc live=true config=false"},
		{argv: []string{"web", "--volume", "default/x.qcow2", "--config"}, want: "web size=0 pool= volume=default/x.qcow2 image= bus=virtio target= live=false config=true"},
		{argv: []string{"web", "--image", "/srv/a.raw", "--live", "--config"}, want: "web size=0 pool= volume= image=/srv/a.raw bus=virtio target= live=true config=true"},
		{argv: []string{"web"}, err: errs.Usage},                                    // no source
		{argv: []string{"web", "--size", "1G", "--image", "/a"}, err: errs.Usage},   // two sources
		{argv: []string{"web", "--size", "lots"}, err: errs.Usage},                  // bad size
		{argv: []string{"web", "--size", "0"}, err: errs.Usage},                     // empty disk
		{argv: []string{"web", "--volume", "x.qcow2"}, err: errs.Usage},             // no pool
		{argv: []string{"web", "--volume", "a/b/c"}, err: errs.Usage},               // not POOL/VOL
		{argv: []string{"web", "--image", "/a", "--pool", "p"}, err: errs.Usage},    // --pool without --size
		{argv: []string{"web", "--size", "1G", "--target", "sdb"}, err: errs.Usage}, // target off its bus
		{argv: []string{"web", "--size", "1G", "--target", "vd1"}, err: errs.Usage}, // no target name
		{argv: []string{"web", "--size", "1G", "--bus", "ide"}, err: errs.Usage},    // unknown bus
		{argv: []string{"a", "b", "--size", "1G"}, err: errs.Usage},                 // two VMs
		{argv: []string{"a/b", "--size", "1G"}, err: errs.Usage},                    // not a VM name
		{argv: []string{"web", "--size", "1G", "--json", "--output", "bogus"}, want: "web size=1073741824 pool= volume= image= bus=virtio target= live=false config=false"}, // checked at run time
	})
}

func TestNewCmdDiskDetach(t *testing.T) {
	runFlagCases(t, "disk detach", func(f *cmdutil.Factory, r func(context.Context, *DiskDetachOptions) error) *cobra.Command {
		return NewCmdDiskDetach(f, r)
	}, func(o *DiskDetachOptions) string {
		return fmt.Sprintf("%s %s remove=%v yes=%v live=%v config=%v wait=%s", o.VM, o.Target, o.RemoveStorage, o.Yes, o.Scope.Live, o.Scope.Config, o.Wait)
	}, []flagCase{
		{argv: []string{"web", "vdb"}, want: "web vdb remove=false yes=false live=false config=false wait=30s"},
		{argv: []string{"web", "vdc", "--remove-storage", "-y", "--timeout", "2m"}, want: "web vdc remove=true yes=true live=false config=false wait=2m0s"},
		{argv: []string{"web", "vdb", "--live"}, want: "web vdb remove=false yes=false live=true config=false wait=30s"},
		{argv: []string{"web"}, err: errs.Usage},
		{argv: []string{"web", "vdb", "vdc"}, err: errs.Usage},
	})
}

func TestNewCmdDiskResize(t *testing.T) {
	runFlagCases(t, "disk resize", func(f *cmdutil.Factory, r func(context.Context, *DiskResizeOptions) error) *cobra.Command {
		return NewCmdDiskResize(f, r)
	}, func(o *DiskResizeOptions) string { return fmt.Sprintf("%s %s %d", o.VM, o.Target, o.Size) }, []flagCase{
		{argv: []string{"web", "vdb", "40GiB"}, want: "web vdb 42949672960"},
		{argv: []string{"web", "vda", "1.5G"}, want: "web vda 1610612736"},
		{argv: []string{"web", "vdb"}, err: errs.Usage},
		{argv: []string{"web", "vdb", "big"}, err: errs.Usage},
		{argv: []string{"web", "vdb", "0"}, err: errs.Usage},
	})
}

func TestNewCmdDiskList(t *testing.T) {
	runFlagCases(t, "disk list", func(f *cmdutil.Factory, r func(context.Context, *DiskListOptions) error) *cobra.Command {
		return NewCmdDiskList(f, r)
	}, func(o *DiskListOptions) string { return o.VM }, []flagCase{
		{argv: []string{"web"}, want: "web"},
		{argv: []string{"web", "-o", "wide"}, want: "web"},
		{argv: []string{}, err: errs.Usage},
		{argv: []string{"a", "b"}, err: errs.Usage},
	})
}

func TestNextTarget(t *testing.T) {
	taken := map[string]bool{"vda": true, "vdb": true, "vdd": true, "sda": true}
	for _, tc := range []struct{ prefix, want string }{{"vd", "vdc"}, {"sd", "sdb"}, {"hd", "hda"}} {
		if got := nextTarget(tc.prefix, taken); got != tc.want {
			t.Errorf("nextTarget(%s) = %s, want %s", tc.prefix, got, tc.want)
		}
	}
	for i, want := range map[int]string{0: "a", 25: "z", 26: "aa", 27: "ab", 51: "az", 52: "ba", 701: "zz", 702: "aaa"} {
		if got := targetSuffix(i); got != want {
			t.Errorf("targetSuffix(%d) = %s, want %s", i, got, want)
		}
	}
	all := map[string]bool{}
	for i := range 26 {
		all["vd"+targetSuffix(i)] = true
	}
	if got := nextTarget("vd", all); got != "vdaa" {
		t.Errorf("after vdz: %s, want vdaa", got)
	}
}

func TestScopeResolve(t *testing.T) {
	for _, tc := range []struct {
		flags   scopeFlags
		running bool
		want    virt.Scope
		err     errs.Kind
	}{
		{scopeFlags{}, true, virt.Scope{Live: true, Config: true}, 0},
		{scopeFlags{}, false, virt.Scope{Config: true}, 0},
		{scopeFlags{Live: true}, true, virt.Scope{Live: true}, 0},
		{scopeFlags{Config: true}, true, virt.Scope{Config: true}, 0},
		{scopeFlags{Config: true}, false, virt.Scope{Config: true}, 0},
		{scopeFlags{Live: true, Config: true}, true, virt.Scope{Live: true, Config: true}, 0},
		{scopeFlags{Live: true}, false, virt.Scope{}, errs.Conflict},
	} {
		got, err := tc.flags.resolve("web", tc.running)
		if tc.err != 0 {
			if errs.KindOf(err) != tc.err {
				t.Errorf("%+v running=%v: %v, want a %v error", tc.flags, tc.running, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v running=%v: %+v %v, want %+v", tc.flags, tc.running, got, err, tc.want)
		}
	}
}

// runDevice runs a device command's run function against the test driver with JSON output and
// returns what it printed and its error.
func runDevice[T any](t *testing.T, env map[string]string, run func(context.Context, *T) error, o *T, set func(*T, *cmdutil.Factory)) (string, string, error) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(env))
	f.Global.OutputFlags.JSON = true
	set(o, f)
	err := run(context.Background(), o)
	return out.String(), errOut.String(), err
}

func TestDiskListOnTestDriver(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "stopped-data1.qcow2", Format: "qcow2", Capacity: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, `<domain type='test'><name>stopped</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='default-pool' volume='stopped-data1.qcow2'/><target dev='vdb' bus='virtio'/></disk>
<disk type='file' device='cdrom'><source file='/isos/x.iso'/><target dev='sda' bus='sata'/><readonly/></disk></devices></domain>`)
	out, _, err := runDevice(t, nil, runDiskList, &DiskListOptions{VM: "stopped"}, func(o *DiskListOptions, f *cmdutil.Factory) { o.F = f })
	if err != nil {
		t.Fatal(err)
	}
	var got []model.VMDisk
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("disks: %s", out)
	}
	// Sorted by target: sda, then vdb; a stopped VM's disks are in its definition only.
	sda, vdb := got[0], got[1]
	if sda.Target != "sda" || sda.Device != "cdrom" || !sda.ReadOnly || sda.Definition != "config" || sda.Source != "/isos/x.iso" {
		t.Errorf("sda: %+v", sda)
	}
	if vdb.Target != "vdb" || vdb.Source != "default-pool/stopped-data1.qcow2" || vdb.Format != "qcow2" || vdb.Definition != "config" ||
		vdb.CapacityBytes == nil || *vdb.CapacityBytes != 3<<20 || vdb.Backing == nil || vdb.VM != "stopped" {
		t.Errorf("vdb: %+v", vdb)
	}
	// The running test domain: its disk is in both definitions.
	out, _, err = runDevice(t, nil, runDiskList, &DiskListOptions{VM: "test"}, func(o *DiskListOptions, f *cmdutil.Factory) { o.F = f })
	if err != nil || !strings.Contains(out, `"target":"vda"`) || !strings.Contains(out, `"definition":"both"`) {
		t.Errorf("test: %v %s", err, out)
	}
	if _, _, err := runDevice(t, nil, runDiskList, &DiskListOptions{VM: "nope"}, func(o *DiskListOptions, f *cmdutil.Factory) { o.F = f }); errs.KindOf(err) != errs.NotFound {
		t.Errorf("missing VM: %v", err)
	}
}

// An attach that fails after making its volume removes the volume again: the test driver
// makes volumes but cannot attach devices, which is exactly that failure.
func TestDiskAttachRollsBackItsVolume(t *testing.T) {
	c := virttest.Open(t)
	_, stderr, err := runDevice(t, nil, runDiskAttach, &DiskAttachOptions{VM: "test", Size: 1 << 30, Pool: "default-pool", Bus: "virtio"},
		func(o *DiskAttachOptions, f *cmdutil.Factory) { o.F = f })
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("attach on the test driver: %v", err)
	}
	if left := virttest.Volumes(t, c, "default-pool"); len(left) != 0 {
		t.Errorf("the failed attach left %v", left)
	}
	if !strings.Contains(stderr, "removed /default-pool/test-data1.qcow2, made for the failed attach") {
		t.Errorf("stderr: %q", stderr)
	}
}

// Refusals come before anything is made: a taken target, a volume another VM uses, a file
// that is not there, --live on a stopped VM.
func TestDiskAttachRefusals(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "shared.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	base, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "base.qcow2", Format: "qcow2", Capacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "overlay.qcow2", Format: "qcow2", Capacity: 1 << 20, Backing: base}); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	stored := filepath.Join(store, "debian.qcow2")
	if err := os.WriteFile(stored, []byte("raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, `<domain type='test'><name>user</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='shared.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
		`<domain type='test'><name>off</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	for _, tc := range []struct {
		o    DiskAttachOptions
		kind errs.Kind
		msg  string
	}{
		{DiskAttachOptions{VM: "test", Size: 1 << 20, Pool: "default-pool", Bus: "virtio", Target: "vda"}, errs.Conflict, "target vda is taken"},
		{DiskAttachOptions{VM: "test", Volume: "default-pool/shared.qcow2", Bus: "virtio"}, errs.Conflict, "in use by user"},
		{DiskAttachOptions{VM: "test", Volume: "default-pool/none.qcow2", Bus: "virtio"}, errs.NotFound, "none.qcow2"},
		{DiskAttachOptions{VM: "test", Volume: "default-pool/base.qcow2", Bus: "virtio"}, errs.Conflict, "backing file of /default-pool/overlay.qcow2"},
		{DiskAttachOptions{VM: "test", Image: stored, Bus: "virtio"}, errs.Conflict, "in the image store"},
		{DiskAttachOptions{VM: "test", Image: filepath.Join(t.TempDir(), "none.img"), Bus: "virtio"}, errs.NotFound, "no such file"},
		{DiskAttachOptions{VM: "off", Size: 1 << 20, Pool: "default-pool", Bus: "virtio", Scope: scopeFlags{Live: true}}, errs.Conflict, "not running"},
		{DiskAttachOptions{VM: "test", Size: 1 << 20, Pool: "no-pool", Bus: "virtio"}, errs.NotFound, "pool"},
	} {
		o := tc.o
		_, _, err := runDevice(t, map[string]string{"HVCTL_PATHS_IMAGES": store}, runDiskAttach, &o, func(o *DiskAttachOptions, f *cmdutil.Factory) { o.F = f })
		if errs.KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want a %v error with %q", tc.o, err, tc.kind, tc.msg)
		}
	}
	if left, want := virttest.Volumes(t, c, "default-pool"), []string{"base.qcow2", "overlay.qcow2", "shared.qcow2"}; !slices.Equal(left, want) {
		t.Errorf("refused attaches left volumes: %v", left)
	}
}

// The format of --image comes from the file, never from its name.
func TestImageFormat(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.qcow2") // named qcow2, raw inside
	if err := os.WriteFile(raw, bytes.Repeat([]byte{0}, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	qcow := filepath.Join(dir, "disk.raw") // named raw, a qcow2 header inside
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb\x00\x00\x00\x03")
	if err := os.WriteFile(qcow, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	c := virttest.Open(t)
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	for path, want := range map[string]string{raw: "raw", qcow: "qcow2"} {
		got, _, err := imageFormat(context.Background(), &DiskAttachOptions{F: f, Image: path}, c)
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", filepath.Base(path), got, err, want)
		}
	}
}

func TestDiskDetachRefusals(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	for _, n := range []string{"other.qcow2", "off-data1.qcow2"} {
		if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: n, Format: "qcow2", Capacity: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	virttest.Define(t, c, `<domain type='test'><name>off</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='other.qcow2'/><target dev='vdb' bus='virtio'/></disk>
<disk type='volume' device='disk'><source pool='default-pool' volume='off-data1.qcow2'/><target dev='vdc' bus='virtio'/></disk></devices></domain>`,
		`<domain type='test'><name>user</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='off-data1.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`)
	for _, tc := range []struct {
		o    DiskDetachOptions
		kind errs.Kind
		msg  string
	}{
		{DiskDetachOptions{VM: "test", Target: "vdz"}, errs.NotFound, "test has no disk vdz"},
		{DiskDetachOptions{VM: "off", Target: "vdb", Scope: scopeFlags{Live: true}}, errs.Conflict, "not running"},
		{DiskDetachOptions{VM: "test", Target: "vda", RemoveStorage: true, Yes: true}, errs.Conflict, "not in a libvirt storage pool"},
		{DiskDetachOptions{VM: "off", Target: "vdb", RemoveStorage: true, Yes: true}, errs.Conflict, "was not made for off"},
		{DiskDetachOptions{VM: "off", Target: "vdc", RemoveStorage: true, Yes: true}, errs.Conflict, "used by user"},
		// Off a terminal, deleting a volume needs --yes; the refusal comes after the checks.
		{DiskDetachOptions{VM: "off", Target: "vdb", RemoveStorage: true}, errs.Conflict, "was not made for off"},
	} {
		o := tc.o
		_, _, err := runDevice(t, nil, runDiskDetach, &o, func(o *DiskDetachOptions, f *cmdutil.Factory) { o.F, o.Wait = f, time.Second })
		if errs.KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v, want a %v error with %q", tc.o, err, tc.kind, tc.msg)
		}
	}
	if left := virttest.Volumes(t, c, "default-pool"); len(left) != 2 {
		t.Errorf("refused detaches removed volumes: %v left", left)
	}
}

// With a removable volume, --remove-storage off a terminal without --yes is refused (exit 2)
// and changes nothing.
func TestDiskDetachRemoveStorageNeedsConfirmation(t *testing.T) {
	c := virttest.Open(t)
	if _, err := c.CreateVolume(context.Background(), virt.NewVolume{Pool: "default-pool", Name: "off-data1.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, `<domain type='test'><name>off</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='off-data1.qcow2'/><target dev='vdb' bus='virtio'/></disk></devices></domain>`)
	_, _, err := runDevice(t, nil, runDiskDetach, &DiskDetachOptions{VM: "off", Target: "vdb", RemoveStorage: true},
		func(o *DiskDetachOptions, f *cmdutil.Factory) { o.F, o.Wait = f, time.Second })
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("unconfirmed: %v", err)
	}
	if left := virttest.Volumes(t, c, "default-pool"); len(left) != 1 {
		t.Errorf("volumes: %v", left)
	}
	// Confirmed, it gets as far as libvirt, which the test driver cannot detach with.
	_, _, err = runDevice(t, nil, runDiskDetach, &DiskDetachOptions{VM: "off", Target: "vdb", RemoveStorage: true, Yes: true},
		func(o *DiskDetachOptions, f *cmdutil.Factory) { o.F, o.Wait = f, time.Second })
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("confirmed: %v", err)
	}
	if left := virttest.Volumes(t, c, "default-pool"); len(left) != 1 {
		t.Errorf("a failed detach removed the volume: %v", left)
	}
}

func TestDiskResizeOnTestDriver(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "off-data1.qcow2", Format: "qcow2", Capacity: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, `<domain type='test'><name>off</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='off-data1.qcow2'/><target dev='vdb' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/nowhere.img'/><target dev='vdc' bus='virtio'/></disk></devices></domain>`)
	resize := func(vm, target string, size uint64) (model.DeviceChange, error) {
		out, _, err := runDevice(t, nil, runDiskResize, &DiskResizeOptions{VM: vm, Target: target, Size: size},
			func(o *DiskResizeOptions, f *cmdutil.Factory) { o.F = f })
		var ch model.DeviceChange
		if err == nil {
			if jerr := json.Unmarshal([]byte(out), &ch); jerr != nil {
				t.Fatalf("%v: %s", jerr, out)
			}
		}
		return ch, err
	}
	// Stopped: the volume's size decides (the test driver cannot resize volumes: growing one
	// is the end-to-end test's).
	if ch, err := resize("off", "vdb", 4<<20); err != nil || ch.Action != "none" || ch.Live || !ch.Config {
		t.Errorf("same size: %+v %v", ch, err)
	}
	if _, err := resize("off", "vdb", 8<<20); err == nil || !strings.Contains(err.Error(), "virStorageVolResize") {
		t.Errorf("grow reaches libvirt: %v", err)
	}
	if _, err := resize("off", "vdb", 1<<20); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "not shrinking") {
		t.Errorf("shrink: %v", err)
	}
	if _, err := resize("off", "vdc", 1<<30); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "no volume of a storage pool") {
		t.Errorf("file outside pools: %v", err)
	}
	if _, err := resize("off", "vdq", 1<<30); errs.KindOf(err) != errs.NotFound {
		t.Errorf("no such disk: %v", err)
	}
	// Running: the size libvirt reports live decides; the same size is no change.
	have, err := func() (uint64, error) {
		d, err := c.Domain(ctx, "test")
		if err != nil {
			return 0, err
		}
		defer d.Free()
		return d.DiskCapacity(ctx, "vda")
	}()
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := resize("test", "vda", have); err != nil || ch.Action != "none" || !ch.Live {
		t.Errorf("running, same size: %+v %v", ch, err)
	}
	if _, err := resize("test", "vda", have-1); errs.KindOf(err) != errs.Conflict {
		t.Errorf("running, shrink: %v", err)
	}
}

// A note says what stays where, and only when something does: a disk attached live only and
// then detached is gone everywhere (the note once claimed the definition kept it).
func TestDeviceNotes(t *testing.T) {
	for _, tc := range []struct {
		note func(f *cmdutil.Factory)
		want string
	}{
		{func(f *cmdutil.Factory) { noteAttach(f, "web", "vdb", virt.Scope{Live: true}, true) }, "goes away when the VM shuts down"},
		{func(f *cmdutil.Factory) { noteAttach(f, "web", "vdb", virt.Scope{Config: true}, true) }, "gets it at its next start"},
		{func(f *cmdutil.Factory) { noteAttach(f, "web", "vdb", virt.Scope{Config: true}, false) }, ""},
		{func(f *cmdutil.Factory) { noteAttach(f, "web", "vdb", virt.Scope{Live: true, Config: true}, true) }, ""},
		{func(f *cmdutil.Factory) { noteDetach(f, "web", "vdb", false, true) }, "its definition keeps it"},
		{func(f *cmdutil.Factory) { noteDetach(f, "web", "vdb", true, false) }, "the running VM keeps it"},
		{func(f *cmdutil.Factory) { noteDetach(f, "web", "vdb", false, false) }, ""},
	} {
		f, _, errOut := cmdutiltest.NewFactory(t, nil)
		tc.note(f)
		if got := errOut.String(); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("note %q, want %q", got, tc.want)
		}
	}
}

// A detach the guest does not complete says what is attached still and what the definition
// holds: gone already, still there, or never there (a live-only device).
func TestStillAttached(t *testing.T) {
	timeout := errs.New(errs.Timeout, "timed out")
	for _, tc := range []struct {
		scope    virt.Scope
		inConfig bool
		volume   string
		err      error
		kind     errs.Kind
		want     string
	}{
		{virt.Scope{Live: true, Config: true}, true, "", timeout, errs.Timeout, "vdb is still attached to web: the guest did not release it within 30s; it is gone from the definition already"},
		{virt.Scope{Live: true}, true, "", timeout, errs.Timeout, "its definition still has it"},
		{virt.Scope{Live: true}, false, "", timeout, errs.Timeout, "its definition never had it"},
		{virt.Scope{Live: true, Config: true}, true, "/p/web-data1.qcow2", timeout, errs.Timeout, "; its volume is kept"},
		{virt.Scope{Live: true, Config: true}, true, "", virt.ErrRemovalRefused, errs.Conflict, "the guest refused to release it"},
	} {
		err := stillAttached(tc.err, "web", "vdb", 30*time.Second, tc.scope, tc.inConfig, tc.volume)
		if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v in config %v: %v, want a %v error with %q", tc.scope, tc.inConfig, err, tc.kind, tc.want)
		}
	}
}
