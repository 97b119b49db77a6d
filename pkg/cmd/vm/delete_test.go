package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

const deleteVM = `<domain type='test'><name>gone</name><memory>65536</memory><os><type>hvm</type></os>
<devices>
<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='default-pool' volume='gone.qcow2'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><source file='/isos/debian.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
</devices></domain>`

func deleteOptions(t *testing.T) (*LifecycleOptions, func() string) {
	o, out := createFactory(t, t.TempDir())
	o.F.Global.OutputFlags.JSON = true
	return &LifecycleOptions{F: o.F, Verb: "delete", Targets: []string{"gone"}, Bulk: cmdutil.BulkFlags{Parallel: 1},
		PerVM: 10e9, Yes: true, Storage: true, Act: deleteOne, prepare: confirmDelete}, out.String
}

// delete --remove-storage with the VM's pool inactive refuses and changes nothing (it said
// "deleted ok" and kept every volume without a word); with the pool active it reports the
// volumes it removed and those it kept, with why, under --json.
func TestDeleteStorageWithInactivePool(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: "gone.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	virttest.Define(t, c, deleteVM)
	pool, err := c.Raw().LookupStoragePoolByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Free()
	if err := pool.Destroy(); err != nil {
		t.Fatal(err)
	}
	o, _ := deleteOptions(t)
	err = runLifecycle(ctx, o)
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "default-pool/gone.qcow2 (pool default-pool is not active)") {
		t.Errorf("delete with the pool inactive: %v", err)
	}
	if ok, _ := c.Exists(ctx, "gone"); !ok {
		t.Error("the VM was deleted though its storage could not be")
	}
	if err := pool.Create(0); err != nil {
		t.Fatal(err)
	}
	o, out := deleteOptions(t)
	if err := runLifecycle(ctx, o); err != nil {
		t.Fatal(err)
	}
	var got []model.Result
	if err := json.Unmarshal([]byte(out()), &got); err != nil {
		t.Fatalf("%v: %s", err, out())
	}
	if len(got) != 1 || len(got[0].Removed) != 1 || !strings.HasSuffix(got[0].Removed[0], "/gone.qcow2") ||
		len(got[0].Kept) != 1 || got[0].Kept[0] != (model.KeptVolume{Path: "/isos/debian.iso", Reason: "install media"}) {
		t.Errorf("delete result: %s", out())
	}
}

// delete --remove-storage keeps a volume another VM names through a symlinked directory: the
// two paths differ as strings, so the VM using it went unseen and its disk was deleted.
func TestDeleteStorageKeepsDiskUsedThroughSymlink(t *testing.T) {
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
	if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "linked", Name: "gone.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	disk := func(vm, path string) string {
		return `<domain type='test'><name>` + vm + `</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='` + path + `'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`
	}
	virttest.Define(t, c, disk("gone", filepath.Join(dir, "pool", "gone.qcow2")), disk("other", filepath.Join(dir, "link", "gone.qcow2")))
	o, out := deleteOptions(t)
	if err := runLifecycle(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got := virttest.Volumes(t, c, "linked"); !slices.Equal(got, []string{"gone.qcow2"}) {
		t.Errorf("volumes left: %v, want the one other uses; output: %s", got, out())
	}
	if !strings.Contains(out(), `"reason":"used by other"`) {
		t.Errorf("delete result: %s", out())
	}
}

// delete keeps an NVRAM file another VM's definition names too (a definition copied by hand
// keeps the path): libvirt's undefine deleted it under that VM. An NVRAM of its own still goes.
func TestDeleteKeepsSharedNVRAM(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	uefi := func(vm, nvram string) string {
		return `<domain type='test'><name>` + vm + `</name><memory>65536</memory><os><type>hvm</type>
<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader><nvram>` + nvram + `</nvram></os></domain>`
	}
	virttest.Define(t, c, uefi("gone", "/var/lib/libvirt/qemu/nvram/orig_VARS.fd"), uefi("orig", "/var/lib/libvirt/qemu/nvram/orig_VARS.fd"))
	o, out := deleteOptions(t)
	o.Storage = false
	if err := runLifecycle(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out(), `"kept":[{"path":"/var/lib/libvirt/qemu/nvram/orig_VARS.fd","reason":"NVRAM also used by orig"}]`) {
		t.Errorf("delete result: %s", out())
	}
	d, err := c.Domain(ctx, "orig")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if kept, err := d.Undefine(ctx, false); err != nil || kept.KeptNVRAM != "" {
		t.Errorf("undefine of the last VM naming the NVRAM: kept %+v, %v", kept, err)
	}
}

// delete asks only about VMs it will delete: off a terminal without --yes, a name that does
// not exist is "not found" (3) and a running VM without --force "in use" (4), as with --yes,
// not "not confirmed" (2); on a terminal the user no longer confirms a delete that then fails.
func TestDeleteAsksOnlyAboutWhatGoes(t *testing.T) {
	virttest.Open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		target string
		force  bool
		kind   errs.Kind
	}{
		{"nope", false, errs.NotFound},
		{"test", false, errs.Conflict},
		{"test", true, errs.Usage},
	} {
		o, _ := deleteOptions(t)
		o.Targets, o.Yes, o.Storage, o.Force = []string{tc.target}, false, false, tc.force
		if err := runLifecycle(ctx, o); errs.KindOf(err) != tc.kind {
			t.Errorf("delete %s (force %v) without --yes: %v, want a %v error", tc.target, tc.force, err, tc.kind)
		}
	}
}

// delete --remove-storage keeps a disk in the image store when the store is configured through
// a symlink (paths.images = /var/lib/hvctl/images -> /srv/images) and the VM names the real
// file, or the other way round: the store was compared as a string, so such a disk, a pool
// volume no other VM used, was deleted from the store.
func TestDeleteStorageKeepsImageStoreReachedThroughSymlink(t *testing.T) {
	for i, viaLink := range []bool{false, true} {
		name := fmt.Sprintf("t-store%d", i)
		c := virttest.Open(t)
		ctx := context.Background()
		dir := t.TempDir()
		real, link := filepath.Join(dir, "srv-images"), filepath.Join(dir, "images")
		if err := os.Mkdir(real, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		pool, err := c.Raw().StoragePoolCreateXML("<pool type='dir'><name>"+name+"</name><target><path>"+real+"</path></target></pool>", 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = pool.Free()
		if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: name, Name: "debian.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
			t.Fatal(err)
		}
		store, named := link, filepath.Join(real, "debian.qcow2")
		if viaLink {
			store, named = real, filepath.Join(link, "debian.qcow2")
		}
		virttest.Define(t, c, `<domain type='test'><name>gone</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='`+named+`'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`)
		f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_IMAGES": store}))
		f.Global.OutputFlags.JSON = true
		o := &LifecycleOptions{F: f, Verb: "delete", Targets: []string{"gone"}, Bulk: cmdutil.BulkFlags{Parallel: 1},
			PerVM: 10e9, Yes: true, Storage: true, Act: deleteOne, prepare: confirmDelete}
		if err := runLifecycle(ctx, o); err != nil {
			t.Fatal(err)
		}
		if got := virttest.Volumes(t, c, name); !slices.Equal(got, []string{"debian.qcow2"}) {
			t.Errorf("store %s, disk %s: the image was deleted from the store (%s)", store, named, out)
		}
		if !strings.Contains(out.String(), `"reason":"in the image store"`) {
			t.Errorf("store %s, disk %s: %s", store, named, out)
		}
	}
}

// delete --remove-storage of a VM with an external (disk-only) snapshot removes the file the VM
// wrote until the snapshot as well as the overlay its definition names: it removed the overlay
// only and left the base, the VM's data up to the snapshot, unreported. A base another VM's
// disk sits on stays, named; a template under a linked clone is not the VM's and stays as before.
func TestDeleteStorageRemovesTheBaseOfItsExternalSnapshot(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	mk := func(name string, backing *virt.Volume) *virt.Volume {
		v, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: name, Format: "qcow2", Capacity: 1 << 20, Backing: backing})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	vm := func(name, disk string) string {
		return `<domain type='test'><name>` + name + `</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='` + disk + `'/><target dev='vda' bus='virtio'/></disk></devices></domain>`
	}
	snapshot := func(name, overlay, base string) {
		d, err := c.Raw().LookupDomainByName(name)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free()
		x := `<domainsnapshot><name>s1</name><state>disk-snapshot</state><creationTime>1700000000</creationTime>
<disks><disk name='vda' snapshot='external' type='file'><source file='` + overlay + `'/></disk></disks>` +
			strings.Replace(vm(name, base), "<domain type='test'>", "<domain type='test'><uuid>"+uuidOf(t, d)+"</uuid>", 1) + `</domainsnapshot>`
		s, err := d.CreateSnapshotXML(x, 1) // REDEFINE: the metadata an external snapshot leaves
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Free()
	}
	// own: base own.qcow2 under its snapshot's overlay own.s1.
	base := mk("own.qcow2", nil)
	over := mk("own.s1", base)
	virttest.Define(t, c, vm("own", over.Path))
	snapshot("own", over.Path, base.Path)
	// kept: its snapshot's base also backs another volume, which stays.
	kbase := mk("kept.qcow2", nil)
	kover := mk("kept.s1", kbase)
	other := mk("other.qcow2", kbase)
	virttest.Define(t, c, vm("kept", kover.Path))
	snapshot("kept", kover.Path, kbase.Path)
	// lc: a linked clone of a template it has no snapshot of.
	tmpl := mk("tmpl.qcow2", nil)
	lc := mk("lc.qcow2", tmpl)
	virttest.Define(t, c, vm("lc", lc.Path))

	o, out := deleteOptions(t)
	o.Targets = []string{"own", "kept", "lc"}
	if err := runLifecycle(ctx, o); err != nil {
		t.Fatal(err, out())
	}
	var res []model.Result
	if err := json.Unmarshal([]byte(out()), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]model.Result{}
	for _, r := range res {
		got[r.Name] = r
	}
	if r := got["own"]; !slices.Equal(r.Removed, []string{over.Path, base.Path}) {
		t.Errorf("own: %+v", r)
	}
	if r := got["kept"]; !slices.Equal(r.Removed, []string{kover.Path}) || len(r.Kept) != 1 || r.Kept[0].Path != kbase.Path || r.Kept[0].Reason != "backing file of "+other.Path {
		t.Errorf("kept: %+v", r)
	}
	if r := got["lc"]; !slices.Equal(r.Removed, []string{lc.Path}) || len(r.Kept) != 0 {
		t.Errorf("lc: %+v", r)
	}
	vols := virttest.Volumes(t, c, "default-pool")
	for _, v := range []string{"kept.qcow2", "other.qcow2", "tmpl.qcow2"} {
		if !slices.Contains(vols, v) {
			t.Errorf("%s was deleted: %v", v, vols)
		}
	}
	for _, v := range []string{"own.qcow2", "own.s1", "kept.s1", "lc.qcow2"} {
		if slices.Contains(vols, v) {
			t.Errorf("%s is left: %v", v, vols)
		}
	}
}

func uuidOf(t *testing.T, d interface{ GetUUIDString() (string, error) }) string {
	t.Helper()
	u, err := d.GetUUIDString()
	if err != nil {
		t.Fatal(err)
	}
	return u
}
