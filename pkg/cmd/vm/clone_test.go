package vm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

const cloneSrc = `<domain type='test'><name>src</name><memory>65536</memory><os><type>hvm</type></os>
<devices>
<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='default-pool' volume='src.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><source file='/isos/debian.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
<interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/></interface>
</devices></domain>`

func cloneOpts(t *testing.T, src, name string, linked bool) *CloneOptions {
	o, _ := createFactory(t, t.TempDir())
	return &CloneOptions{F: o.F, Source: src, Name: name, Linked: linked}
}

func TestClone(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "src.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, cloneSrc)
	if err := runClone(ctx, cloneOpts(t, "src", "dst", false)); err != nil {
		t.Fatal(err)
	}
	d, err := c.Domain(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	def, _ := d.Definition(ctx, true)
	d.Free()
	if def.Devices.Disks[0].Source.Volume.Volume != "dst.qcow2" || def.Devices.Disks[1].Source.File.File != "/isos/debian.iso" {
		t.Errorf("disks: %+v %+v", def.Devices.Disks[0].Source, def.Devices.Disks[1].Source)
	}
	if m := def.Devices.Interfaces[0].MAC; m != nil && m.Address == "52:54:00:aa:bb:cc" {
		t.Error("the clone kept the source's MAC")
	}
	if names := strings.Join(virttest.Volumes(t, c, "default-pool"), " "); names != "dst.qcow2 src.qcow2" && names != "src.qcow2 dst.qcow2" {
		t.Errorf("volumes: %s", names)
	}

	// Again: the name is taken.
	if err := runClone(ctx, cloneOpts(t, "src", "dst", false)); errs.KindOf(err) != errs.Conflict {
		t.Errorf("clone onto an existing VM: %v", err)
	}
	// A running source is refused without --stop-source.
	s, _ := c.Domain(ctx, "src")
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.Free()
	if err := runClone(ctx, cloneOpts(t, "src", "other", false)); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "source is running") {
		t.Errorf("running source: %v", err)
	}
	if err := runClone(ctx, cloneOpts(t, "nope", "x", false)); errs.KindOf(err) != errs.NotFound {
		t.Errorf("missing source: %v", err)
	}
}

// A linked clone makes its source a template: starting the source is refused without --force
// while the clone overlays it, show lists the clone, and once the clone is gone the source
// starts again.
func TestLinkedCloneProtectsItsTemplate(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "src.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, cloneSrc)
	if err := runClone(ctx, cloneOpts(t, "src", "lc", true)); err != nil {
		t.Fatal(err)
	}
	src, err := c.Domain(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Free()
	if deps, err := src.LinkedClones(ctx); err != nil || !slices.Equal(deps, []string{"lc"}) {
		t.Fatalf("linked clones of src: %v %v", deps, err)
	}
	if v, err := src.Detail(ctx); err != nil || !slices.Equal(v.LinkedClones, []string{"lc"}) {
		t.Errorf("show src: %v %+v", err, v)
	}
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	if err := parse(t, NewCmdShow(f, nil), f, "src"); err != nil || !strings.Contains(out.String(), "Template of:") || !strings.Contains(out.String(), "lc (linked clones)") {
		t.Errorf("show src: %v\n%s", err, out)
	}
	f, out, _ = cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	if err := parse(t, NewCmdShow(f, nil), f, "lc"); err != nil || !strings.Contains(out.String(), "backed by ") || !strings.Contains(out.String(), "src.qcow2") {
		t.Errorf("show lc: %v\n%s", err, out)
	}
	start := func(args ...string) error {
		f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		return parse(t, NewCmdStart(f, nil), f, args...)
	}
	if err := start("src"); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "template of linked clones lc") {
		t.Errorf("start of a template: %v", err)
	}
	if s, _, _ := src.State(ctx); s != virt.StateShutOff {
		t.Errorf("the template was started: %s", s)
	}
	lc, err := c.Domain(ctx, "lc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Undefine(ctx, true); err != nil {
		t.Fatal(err)
	}
	lc.Free()
	if err := start("src"); err != nil {
		t.Errorf("start once the clone is gone: %v", err)
	}
}

// Reverting the template of a linked clone is refused without --force.
func TestSnapshotRevertOfTemplateNeedsForce(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "src.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, cloneSrc)
	if err := runClone(ctx, cloneOpts(t, "src", "lc", true)); err != nil {
		t.Fatal(err)
	}
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	err := runSnapshotRevert(ctx, &SnapshotRevertOptions{F: f, VM: "src", Name: "any", Yes: true})
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "template of linked clones lc") {
		t.Errorf("revert of a template: %v", err)
	}
	// With --force the template check passes and the revert itself is tried (no such snapshot).
	err = runSnapshotRevert(ctx, &SnapshotRevertOptions{F: f, VM: "src", Name: "any", Yes: true, Force: true})
	if errs.KindOf(err) != errs.NotFound {
		t.Errorf("forced revert: %v", err)
	}
}

// apply of a drifted template of linked clones is refused without --force, before anything
// changes.
func TestApplyOfTemplateNeedsForce(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	o, _ := createFactory(t, dir)
	o.Profile = "small"
	if err := runCreate(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := runClone(ctx, cloneOpts(t, "small", "lc", true)); err != nil {
		t.Fatal(err)
	}
	body := "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"768MiB\"\n[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n"
	if err := os.WriteFile(filepath.Join(dir, "small.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	apply := func(force bool) error {
		o, _ := createFactory(t, dir)
		return runApply(ctx, &ApplyOptions{F: o.F, Profiles: []string{"small"}, Force: force})
	}
	if err := apply(false); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "template of linked clones lc") {
		t.Errorf("apply to a template: %v", err)
	}
	d, _ := c.Domain(ctx, "small")
	def, _ := d.Definition(ctx, true)
	d.Free()
	if def.Memory.Value != 512<<10 {
		t.Errorf("the refused apply changed the memory: %+v", def.Memory)
	}
	if err := apply(true); err != nil {
		t.Errorf("forced apply: %v", err)
	}
}

// A clone never writes its NVRAM over a file already there: after `delete` kept a shared NVRAM
// file (another VM names it), a clone taking the deleted VM's name replaced that VM's UEFI
// variables with the source's, and a failed clone then removed the file. It is refused (exit 4)
// before anything is made.
func TestCloneKeepsAnNVRAMFileAlreadyThere(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "src.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "src_VARS.fd"), []byte("source vars"), 0o600); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(dir, "dst_VARS.fd")
	if err := os.WriteFile(theirs, []byte("another VM's vars"), 0o600); err != nil {
		t.Fatal(err)
	}
	x := strings.Replace(cloneSrc, "<os><type>hvm</type></os>", "<os><type>hvm</type><loader readonly='yes' type='pflash'>/nonexistent/CODE.fd</loader><nvram>"+dir+"/src_VARS.fd</nvram></os>", 1)
	virttest.Define(t, c, x)
	err := runClone(ctx, cloneOpts(t, "src", "dst", false))
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), theirs) {
		t.Errorf("clone onto an NVRAM file already there: %v", err)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "another VM's vars" {
		t.Errorf("the NVRAM file already there was overwritten: %q", b)
	}
	if exists, _ := c.Exists(ctx, "dst"); exists {
		t.Error("the clone was defined")
	}
	if names := strings.Join(virttest.Volumes(t, c, "default-pool"), " "); names != "src.qcow2" {
		t.Errorf("volumes left: %s", names)
	}
}
