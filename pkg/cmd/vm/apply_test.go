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

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

func diffRun(t *testing.T, dir string, apply, exitCode bool, profiles ...string) ([]model.Drift, error) {
	t.Helper()
	o, out := createFactory(t, dir)
	o.F.Global.JSON = true
	err := runDiff(context.Background(), &DiffOptions{F: o.F, Profiles: profiles, ExitCode: exitCode}, apply)
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
	if err := runDiff(ctx, &DiffOptions{F: o.F, Profiles: []string{"small"}, DryRun: true}, true); err != nil || !strings.Contains(out.String(), `"action":"would_grow"`) {
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
