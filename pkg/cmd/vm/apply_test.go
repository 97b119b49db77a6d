package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirtxml"
)

func diffRun(t *testing.T, dir string, apply, exitCode bool, profiles ...string) ([]model.Drift, error) {
	t.Helper()
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	var err error
	if apply {
		err = runApply(context.Background(), &ApplyOptions{F: o.F, Profiles: profiles})
	} else {
		err = runDiff(context.Background(), &DiffOptions{F: o.F, Profiles: profiles, ExitCode: exitCode})
	}
	var rows []model.Drift
	if out.Len() > 0 {
		// apply may have printed create's result first; the drift table is the last document.
		docs := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
		if jerr := json.Unmarshal(docs[len(docs)-1], &rows); jerr != nil {
			t.Fatalf("%v: %s", jerr, out.String())
		}
	}
	return rows, err
}

func TestDiffAndApply(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	// apply on a missing VM creates it.
	rows, err := diffRun(t, dir, true, false, "small")
	if err != nil || len(rows) != 1 || rows[0].Action != "created" {
		t.Fatalf("apply (create): %+v %v", rows, err)
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	// Right after, nothing drifted.
	rows, err = diffRun(t, dir, false, true, "small")
	if err != nil || len(rows) != 0 {
		t.Fatalf("fresh VM drifts: %+v %v", rows, err)
	}
	// Edit the profile: memory and vCPUs now differ.
	p := filepath.Join(dir, "small.toml")
	if err := os.WriteFile(p, []byte("name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"768MiB\"\nvcpus = 2\n[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err = diffRun(t, dir, false, true, "small")
	if err != errDrift {
		t.Errorf("--exit-code: %v", err)
	}
	keys := map[string]model.Drift{}
	for _, r := range rows {
		keys[r.Key] = r
	}
	// No vCPU ceiling was set, so more vCPUs mean a new ceiling: a restart.
	if len(rows) != 4 || keys["vcpus"].Live != "1" || keys["vcpus"].Desired != "2" || keys["memory.current"].Desired != "786432KiB" ||
		!keys["vcpus"].Restart || !keys["vcpus.max"].Restart || keys["memory.current"].Restart {
		t.Errorf("drift: %+v", rows)
	}
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	rows, err = diffRun(t, dir, false, true, "small")
	if err != nil || len(rows) != 0 {
		t.Errorf("after apply: %+v %v", rows, err)
	}
}

// With a ceiling (max_vcpus), apply plugs vCPUs into the running VM: no restart.
func TestApplyHotPlugsVCPUs(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	write := func(vcpus int) {
		body := fmt.Sprintf("name = \"hot\"\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\nvcpus = %d\nmax_vcpus = 4\n[disk]\nsize = \"1GiB\"\n", vcpus)
		if err := os.WriteFile(filepath.Join(dir, "hot.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	if _, err := diffRun(t, dir, true, false, "hot"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Domain(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	write(3)
	rows, _ := diffRun(t, dir, false, false, "hot")
	if len(rows) != 1 || rows[0].Key != "vcpus" || rows[0].Live != "1" || rows[0].Desired != "3" || rows[0].Restart {
		t.Fatalf("drift: %+v", rows)
	}
	if _, err := diffRun(t, dir, true, false, "hot"); err != nil {
		t.Fatal(err)
	}
	if n, err := d.LiveVCPUs(ctx); err != nil || n != 3 {
		t.Errorf("running VM has %d vCPUs (%v), want 3", n, err)
	}
	if rows, _ := diffRun(t, dir, false, false, "hot"); len(rows) != 0 {
		t.Errorf("after apply: %+v", rows)
	}
	// Beyond the ceiling is a profile error, caught before libvirt.
	write(5)
	if _, err := diffRun(t, dir, true, false, "hot"); err == nil || !strings.Contains(err.Error(), "max_vcpus: 4 is less than vcpus (5)") {
		t.Errorf("over the ceiling: %v", err)
	}
}

// A larger disk size in the profile is drift, planned as a growth; a smaller one is not drift:
// sizes are floors and disks are never shrunk. (The test driver cannot resize volumes: the
// growth itself, stopped and running, is exercised on real QEMU in pkg/e2e.)
func TestDiskGrowthIsPlanned(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	write := func(size string) {
		body := "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\n[disk]\nsize = \"" + size + "\"\n[[extra_disks]]\nsize = \"2GiB\"\n"
		if err := os.WriteFile(filepath.Join(dir, "small.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("3GiB")
	rows, err := diffRun(t, dir, false, true, "small")
	if err != errDrift || len(rows) != 1 || rows[0].Key != "disk.vda.size" || rows[0].Live != "1GiB" || rows[0].Desired != "3GiB" || rows[0].Restart {
		t.Fatalf("drift: %+v %v", rows, err)
	}
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	if err := runApply(ctx, &ApplyOptions{F: o.F, Profiles: []string{"small"}, DryRun: true}); err != nil || !strings.Contains(out.String(), `"action":"would_grow"`) {
		t.Errorf("dry run: %v %s", err, out.String())
	}
	write("512MiB")
	if rows, err := diffRun(t, dir, false, true, "small"); err != nil || len(rows) != 0 {
		t.Errorf("a smaller size is drift: %+v %v", rows, err)
	}
	if err := c.GrowVolume(ctx, "default-pool", "small.qcow2", 1<<20); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "not shrinking") {
		t.Errorf("shrinking: %v", err)
	}
}

// handEdit changes small's persistent definition as `virsh edit` would.
func handEdit(t *testing.T, c *virt.Conn, name string, edit func(d *libvirtxml.Domain)) {
	t.Helper()
	ctx := context.Background()
	d, err := c.Domain(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	def, err := d.Definition(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	edit(def)
	x, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	nd, err := c.DefineDomain(ctx, name, x)
	if err != nil {
		t.Fatal(err)
	}
	nd.Free()
}

func byKey(rows []model.Drift) map[string]model.Drift {
	m := map[string]model.Drift{}
	for _, r := range rows {
		m[r.Key] = r
	}
	return m
}

// Hand edits are drift, and apply's plan lists what the redefinition drops before it drops it.
func TestDiffSeesHandEditsAndApplyListsDrops(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	handEdit(t, c, "small", func(d *libvirtxml.Domain) {
		d.OnCrash = "preserve"
		d.Devices.Watchdogs = append(d.Devices.Watchdogs, libvirtxml.DomainWatchdog{Model: "i6300esb", Action: "reset"})
		d.Devices.Disks[0].Driver.Cache = "writeback"
	})
	rows, err := diffRun(t, dir, false, true, "small")
	if err != errDrift {
		t.Errorf("--exit-code: %v", err)
	}
	got := byKey(rows)
	want := map[string]model.Drift{
		"on_crash":                       {VM: "small", Key: "on_crash", Live: "preserve", Desired: "destroy", Restart: true, Change: "changed"},
		"devices.watchdog[0]":            {VM: "small", Key: "devices.watchdog[0]", Live: "i6300esb", Restart: true, Change: "added"},
		"devices.disk[vda].driver.cache": {VM: "small", Key: "devices.disk[vda].driver.cache", Live: "writeback", Restart: true, Change: "added"},
	}
	if len(got) != len(want) {
		t.Errorf("rows: %+v", rows)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got %+v\nwant %+v", k, got[k], w)
		}
	}
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	if err := runApply(context.Background(), &ApplyOptions{F: o.F, Profiles: []string{"small"}, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	var plan []model.Drift
	if err := json.Unmarshal(out.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	if a := byKey(plan)["devices.watchdog[0]"].Action; a != "would_drop" {
		t.Errorf("plan for the watchdog: %q", a)
	}
	if a := byKey(plan)["on_crash"].Action; a != "would_redefine" {
		t.Errorf("plan for on_crash: %q", a)
	}
	if rows, err := diffRun(t, dir, true, false, "small"); err != nil || byKey(rows)["devices.watchdog[0]"].Action != "dropped" {
		t.Fatalf("apply: %+v %v", rows, err)
	}
	if rows, err := diffRun(t, dir, false, true, "small"); err != nil || len(rows) != 0 {
		t.Errorf("after apply: %+v %v", rows, err)
	}
}

// Taking autostart out of a profile is drift, and apply clears hvctl's autostart: show then
// says no, as `autostart run` then does.
func TestApplyClearsAutostart(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	write := func(extra string) {
		body := "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\n" + extra + "[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n"
		if err := os.WriteFile(filepath.Join(dir, "small.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("autostart = true\nautostart_group = \"apps\"\n")
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	if v := showJSON(t, dir, "small"); !v.Autostart || v.AutostartOrder != "group apps, priority 50" {
		t.Errorf("show with autostart: %v %q", v.Autostart, v.AutostartOrder)
	}
	if !listJSON(t, dir, "small").Autostart {
		t.Error("list does not show hvctl's autostart")
	}
	write("")
	rows, _ := diffRun(t, dir, false, false, "small")
	if r := byKey(rows)["metadata.autostart"]; len(rows) != 1 || r.Live != "group apps, priority 50" || r.Change != "added" || r.Restart {
		t.Fatalf("drift: %+v", rows)
	}
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	if v := showJSON(t, dir, "small"); v.Autostart || v.AutostartOrder != "" {
		t.Errorf("show after apply: %v %q", v.Autostart, v.AutostartOrder)
	}
	if listJSON(t, dir, "small").Autostart {
		t.Error("list still shows autostart after apply")
	}
	d, _ := c.Domain(context.Background(), "small")
	defer d.Free()
	x, _ := d.Metadata(context.Background(), domainxml.Namespace)
	if strings.Contains(x, "autostart") {
		t.Errorf("metadata still has autostart: %s", x)
	}
}

// listJSON is name's row of `vmctl list --json`.
func listJSON(t *testing.T, dir, name string) model.VM {
	t.Helper()
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	if err := runList(context.Background(), &ListOptions{F: o.F}); err != nil {
		t.Fatal(err)
	}
	var vms []model.VM
	if err := json.Unmarshal(out.Bytes(), &vms); err != nil {
		t.Fatal(err)
	}
	for _, v := range vms {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("%s not listed", name)
	return model.VM{}
}

func showJSON(t *testing.T, dir, name string) model.VMDetail {
	t.Helper()
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	if err := runShow(context.Background(), &ShowOptions{F: o.F, Name: name}); err != nil {
		t.Fatal(err)
	}
	var v model.VMDetail
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A profile that fails its checks stops apply before the first change, for every VM; a VM
// whose disk cannot grow gets its old definition back. Either way the table says what was
// (not) done.
func TestApplyIsAllOrNothing(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name+".toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("small", "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"768MiB\"\n[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n")
	write("broken", "name = \"broken\"\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\n[[network]]\nzone = \"nowhere\"\n")
	if _, err := diffRun(t, dir, true, false, "small", "broken"); err == nil {
		t.Fatal("apply with a broken profile succeeded")
	}
	if rows, _ := diffRun(t, dir, false, false, "small"); byKey(rows)["memory.current"].Live != "524288KiB" {
		t.Errorf("small was changed before broken was checked: %+v", rows)
	}
	// The test driver cannot resize volumes: the growth fails after the redefinition.
	write("small", "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"768MiB\"\n[disk]\nsize = \"3GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n")
	rows, err := diffRun(t, dir, true, false, "small")
	if err == nil {
		t.Fatal("growth on the test driver succeeded")
	}
	if r := byKey(rows)["memory.current"]; r.Action != "not_applied" {
		t.Errorf("rows after a failure: %+v", rows)
	}
	d, _ := c.Domain(context.Background(), "small")
	defer d.Free()
	if def, _ := d.Definition(context.Background(), true); def.CurrentMemory.Value != 524288 {
		t.Errorf("the old definition was not put back: %d KiB", def.CurrentMemory.Value)
	}
}

// On a running VM, more memory than it was started with needs a restart, and says so; the
// description changes live; show flags the restart as pending until there is one.
func TestApplyTellsWhatNeedsARestart(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	write := func(mem, desc string) {
		body := "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"" + mem + "\"\ndescription = \"" + desc + "\"\n[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n"
		if err := os.WriteFile(filepath.Join(dir, "small.toml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("512MiB", "one")
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Domain(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	write("512MiB", "two")
	rows, err := diffRun(t, dir, true, false, "small")
	if r := byKey(rows)["description"]; err != nil || r.Restart || r.Action != "redefined" {
		t.Fatalf("description: %+v %v", rows, err)
	}
	if live, _ := d.Definition(ctx, false); live.Description != "two" {
		t.Errorf("running description: %q", live.Description)
	}
	if showJSON(t, dir, "small").PendingRestart {
		t.Error("a description change left a restart pending")
	}
	write("768MiB", "two")
	rows, err = diffRun(t, dir, true, false, "small")
	r := byKey(rows)["memory.current"]
	if err != nil || !r.Restart || !strings.HasPrefix(r.Note, "restart needed: above the running maximum of 512MiB") {
		t.Fatalf("memory: %+v %v", rows, err)
	}
	if !showJSON(t, dir, "small").PendingRestart || !listJSON(t, dir, "small").PendingRestart {
		t.Error("show or list does not flag the pending restart")
	}
	if _, err := d.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if showJSON(t, dir, "small").PendingRestart || listJSON(t, dir, "small").PendingRestart {
		t.Error("still pending after a restart")
	}
}

// Other applications' metadata is not drift, and a redefinition keeps it: apply changing the
// title must not take another tool's element with it.
func TestApplyKeepsOtherApplicationsMetadata(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	const foreign = `<backup:policy xmlns:backup="http://example.org/backup/1" keep="7"><backup:target>nas</backup:target></backup:policy>`
	handEdit(t, c, "small", func(d *libvirtxml.Domain) {
		d.Title = "by hand"
		d.Metadata.XML += foreign
	})
	rows, err := diffRun(t, dir, false, true, "small")
	if err != errDrift || len(rows) != 1 || rows[0].Key != "title" {
		t.Fatalf("diff: %+v %v", rows, err)
	}
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	def, err := d.Definition(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if def.Title != "" || def.Metadata == nil || !strings.Contains(def.Metadata.XML, `keep="7"`) || !strings.Contains(def.Metadata.XML, "<backup:target>nas</backup:target>") {
		t.Errorf("after apply: title %q, metadata %+v", def.Title, def.Metadata)
	}
	if info := hvctlProfileOf(t, def); info != "small" {
		t.Errorf("hvctl's metadata after apply: profile %q", info)
	}
	if rows, err := diffRun(t, dir, false, true, "small"); err != nil || len(rows) != 0 {
		t.Errorf("after apply: %+v %v", rows, err)
	}
}

func hvctlProfileOf(t *testing.T, d *libvirtxml.Domain) string {
	t.Helper()
	x, err := domainxml.MetadataElement(d)
	if err != nil {
		t.Fatal(err)
	}
	info, err := domainxml.ParseMetadata(x)
	if err != nil {
		t.Fatal(err)
	}
	return info.Profile
}

// A VNC password set by hand is not the profile's to drop: diff does not report it (a read-only
// connection cannot see it), and apply's redefinition keeps it.
func TestApplyKeepsDisplayPassword(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	handEdit(t, c, "small", func(d *libvirtxml.Domain) {
		d.Title = "by hand"
		d.Devices.Graphics[0].VNC.Passwd = "s3cret"
	})
	rows, err := diffRun(t, dir, false, true, "small")
	if err != errDrift || len(rows) != 1 || rows[0].Key != "title" {
		t.Fatalf("diff: %+v %v", rows, err)
	}
	if rows, err := diffRun(t, dir, true, false, "small"); err != nil || len(rows) != 1 || rows[0].Key != "title" {
		t.Fatalf("apply: %+v %v", rows, err)
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	x, err := d.SecureXML(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x, "passwd='s3cret'") || strings.Contains(x, "<title>") {
		t.Errorf("after apply:\n%s", x)
	}
}

// A profile named twice is one VM's plan; two profiles for one VM are refused before anything
// is changed (apply would define it twice, the second undoing the first).
func TestApplyOneProfilePerVM(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	rows, err := diffRun(t, dir, true, false, "small", "small", filepath.Join(dir, "small.toml"))
	if err != nil || len(rows) != 1 || rows[0].Action != "created" {
		t.Fatalf("apply small twice: %+v %v", rows, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.toml"), []byte("name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"768MiB\"\n[disk]\nsize = \"1GiB\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, apply := range []bool{false, true} {
		_, err := diffRun(t, dir, apply, false, "small", "other")
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "both define VM small") {
			t.Errorf("apply=%v, two profiles for one VM: %v", apply, err)
		}
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if def, err := d.Definition(context.Background(), true); err != nil || def.Memory.Value != 512<<10 {
		t.Errorf("after the refused apply: %+v %v", def.Memory, err)
	}
}

// A VM of the profile's name that hvctl did not make is not apply's to redefine: refused
// (exit 4) before anything changes, dry run included; diff still compares it.
func TestApplyRefusesAVMItDidNotMake(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	if _, err := diffRun(t, dir, true, false, "small"); err != nil {
		t.Fatal(err)
	}
	handEdit(t, c, "small", func(d *libvirtxml.Domain) { d.Metadata = nil })
	if rows, err := diffRun(t, dir, false, true, "small"); err != errDrift || byKey(rows)["metadata.profile"].Change != domainxml.Removed {
		t.Errorf("diff: %+v %v", rows, err)
	}
	handEdit(t, c, "small", func(d *libvirtxml.Domain) { d.Devices.Disks[0].Driver.Cache = "none" })
	o, _ := createFactory(t, dir)
	for _, dry := range []bool{true, false} {
		err := runApply(context.Background(), &ApplyOptions{F: o.F, Profiles: []string{"small"}, DryRun: dry})
		if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "hvctl did not make it") {
			t.Errorf("dry-run %v: %v", dry, err)
		}
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if def, err := d.Definition(context.Background(), true); err != nil || def.Devices.Disks[0].Driver.Cache != "none" {
		t.Errorf("the VM was changed: %v", err)
	}
}
