package vm

import (
	"bytes"
	"context"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

func createFactory(t *testing.T, profiles string) (*CreateOptions, *bytes.Buffer) {
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{
		"HVCTL_PATHS_PROFILES": profiles, "HVCTL_VM_DEFAULTS_POOL": "default-pool",
	}))
	return &CreateOptions{F: f}, out
}

func profiles(t *testing.T) string {
	d := t.TempDir()
	files := map[string]string{
		"small.toml":  "name = \"small\"\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\n[disk]\nsize = \"1GiB\"\n[[extra_disks]]\nsize = \"2GiB\"\n",
		"seeded.toml": "name = \"seeded\"\nextends = \"small\"\n[cloud_init]\nuser = \"ops\"\n",
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(d, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestCreateAndConflicts(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	o, out := createFactory(t, dir)
	o.Profile = "small"
	if err := runCreate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "/default-pool/small.qcow2") || !strings.Contains(out.String(), "/default-pool/small-data1.qcow2") {
		t.Errorf("output: %s", out.String())
	}
	d, err := c.Domain(context.Background(), "small")
	if err != nil {
		t.Fatalf("domain not defined: %v", err)
	}
	def, _ := d.Definition(context.Background(), true)
	d.Free()
	if def.Type != "qemu" || len(def.Devices.Channels) != 1 || len(def.Devices.Disks) != 2 {
		t.Errorf("definition: %+v", def)
	}

	// The same name again: conflict, nothing new.
	before := virttest.Volumes(t, c, "default-pool")
	o2, _ := createFactory(t, dir)
	o2.Profile = "small"
	if err := runCreate(context.Background(), o2); errs.KindOf(err) != errs.Conflict {
		t.Errorf("second create: %v", err)
	}
	// A leftover volume with the new VM's name: conflict, and the volume is not ours to delete.
	if _, err := c.CreateVolume(context.Background(), virt.NewVolume{Pool: "default-pool", Name: "other.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	o3, _ := createFactory(t, dir)
	o3.Profile, o3.Name = "small", "other"
	if err := runCreate(context.Background(), o3); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "volume other.qcow2 exists") {
		t.Errorf("leftover volume: %v", err)
	}
	after := virttest.Volumes(t, c, "default-pool")
	if len(after) != len(before)+1 {
		t.Errorf("volumes before %v after %v", before, after)
	}
}

// A failure half-way (the test driver cannot upload the seed) leaves nothing behind.
func TestFailedCreateLeavesNoOrphans(t *testing.T) {
	c := virttest.Open(t)
	o, _ := createFactory(t, profiles(t))
	o.Profile = "seeded"
	before := virttest.Volumes(t, c, "default-pool")
	err := runCreate(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "create seeded") {
		t.Fatalf("want a failure, got %v", err)
	}
	if after := virttest.Volumes(t, c, "default-pool"); len(after) != len(before) {
		t.Errorf("orphans: before %v, after %v", before, after)
	}
	if _, err := c.Domain(context.Background(), "seeded"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("domain left defined: %v", err)
	}
}

func TestCreateDryRunTouchesNothing(t *testing.T) {
	c := virttest.Open(t)
	o, out := createFactory(t, profiles(t))
	o.Profile, o.DryRun = "small", true
	o.Set = []string{"memory=768MiB"}
	before := virttest.Volumes(t, c, "default-pool")
	if err := runCreate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `<currentMemory unit="KiB">786432</currentMemory>`) {
		t.Errorf("dry-run xml: %s", out.String())
	}
	if after := virttest.Volumes(t, c, "default-pool"); len(after) != len(before) {
		t.Errorf("dry run made volumes: %v", after)
	}
	if _, err := c.Domain(context.Background(), "small"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("dry run defined the domain: %v", err)
	}
}

// create --start --wait shows its steps on a terminal and nothing in a pipe.
func TestCreateShowsStepsOnATerminal(t *testing.T) {
	virttest.Open(t)
	dir := profiles(t)
	for _, tty := range []bool{true, false} {
		f, _, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{
			"HVCTL_PATHS_PROFILES": dir, "HVCTL_VM_DEFAULTS_POOL": "default-pool",
		}))
		f.IO.SetTTY(false, false, tty)
		name := map[bool]string{true: "tty", false: "pipe"}[tty]
		o := &CreateOptions{F: f, Profile: "small", Name: name, Start: true, WaitFor: "running"}
		if err := runCreate(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		got := errOut.String()
		if tty && (!strings.Contains(got, "create tty: creating volume tty.qcow2") || !strings.Contains(got, "create tty: waiting for it to run")) {
			t.Errorf("no steps on a terminal: %q", got)
		}
		if !tty && got != "" {
			t.Errorf("steps in a pipe: %q", got)
		}
	}
}
