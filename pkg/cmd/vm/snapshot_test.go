package vm

import (
	"context"
	"encoding/json"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

const snapVM = `<domain type='test'><name>snappy</name><memory>65536</memory><os><type>hvm</type></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/guest/snappy.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`

// run executes `snapshot ARGS` against test:///default and returns stdout.
func runSnap(t *testing.T, now time.Time, args ...string) (string, error) {
	t.Helper()
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Now = func() time.Time { return now }
	f.Global.JSON = true
	root := &cobra.Command{Use: "vmctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(NewCmdSnapshot(f))
	root.SetArgs(append([]string{"snapshot"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestSnapshotLifecycle(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, snapVM)
	now := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	if _, err := runSnap(t, now, "create", "snappy"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"two", "three"} {
		if _, err := runSnap(t, now, "create", "snappy", n, "--description", "the "+n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runSnap(t, now, "create", "snappy", "two"); errs.KindOf(err) != errs.Conflict {
		t.Errorf("duplicate name: %v", err)
	}
	out, err := runSnap(t, now, "list", "snappy")
	if err != nil {
		t.Fatal(err)
	}
	var list []model.Snapshot
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "20261126-143000" || list[1].Parent != list[0].Name || list[2].Depth != 2 || !list[2].Current || list[2].Description != "the three" {
		t.Errorf("tree: %+v", list)
	}
	// The VM's state when snapshotted, in the contract's words (libvirt's XML says "shutoff").
	if list[0].State != "shut_off" {
		t.Errorf("state of a snapshot of a shut-off VM: %q, want shut_off as vmctl list says", list[0].State)
	}
	// Destructive verbs need --yes without a terminal, and do nothing without it.
	for _, args := range [][]string{{"revert", "snappy", "two"}, {"delete", "snappy", "two"}, {"prune", "snappy", "--keep-last", "1"}} {
		if _, err := runSnap(t, now, args...); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not confirmed") {
			t.Errorf("%v without --yes: %v", args, err)
		}
	}
	if out, _ := runSnap(t, now, "list", "snappy"); strings.Count(out, `"name"`) != 3 {
		t.Errorf("unconfirmed verbs changed snapshots: %s", out)
	}
	out, err = runSnap(t, now, "revert", "snappy", "two", "--yes")
	var reverted model.SnapshotResult
	if err != nil || json.Unmarshal([]byte(out), &reverted) != nil || reverted != (model.SnapshotResult{VM: "snappy", Snapshot: "two", Action: "reverted", State: "shut_off"}) {
		t.Errorf("revert: %v %s", err, out)
	}
	if _, err := runSnap(t, now, "revert", "snappy", "nope", "--yes"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("revert to a missing snapshot: %v", err)
	}
	out, err = runSnap(t, now, "prune", "snappy", "--keep-last", "1", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, `"would_delete"`) != 2 || strings.Count(out, `"kept"`) != 1 {
		t.Errorf("dry run: %s", out)
	}
	if _, err := runSnap(t, now, "prune", "snappy"); errs.KindOf(err) != errs.Usage {
		t.Errorf("prune without rules: %v", err)
	}
	if _, err := runSnap(t, now, "delete", "snappy", "two", "--yes"); err != nil {
		t.Errorf("delete: %v", err)
	}
	out, _ = runSnap(t, now, "list", "snappy")
	if strings.Contains(out, `"name":"two"`) || !strings.Contains(out, `"name":"three"`) {
		t.Errorf("after delete: %s", out)
	}
	if _, err := runSnap(t, now, "prune", "snappy", "--keep-last", "1", "--yes"); err != nil {
		t.Errorf("prune: %v", err)
	}
	out, _ = runSnap(t, now, "list", "snappy")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Errorf("after prune: %s", out)
	}
}

func TestSnapshotRefusesUEFI(t *testing.T) {
	c := virttest.Open(t)
	uefi := strings.Replace(strings.Replace(snapVM, "snappy", "uefi", 1), "<type>hvm</type>", "<type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>", 1)
	virttest.Define(t, c, uefi)
	_, err := runSnap(t, time.Now(), "create", "uefi", "x")
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "UEFI") {
		t.Errorf("uefi: %v", err)
	}
}

// A missing VM or snapshot is "not found" (exit 3) with or without --yes: the confirmation
// names what exists, so it comes after the lookup. Nothing is deleted when one name of several
// is missing.
func TestSnapshotVerbsFindBeforeAsking(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, snapVM)
	now := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	if _, err := runSnap(t, now, "create", "snappy", "one"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"delete", "nope", "one"}, {"revert", "nope", "one"},
		{"delete", "snappy", "gone"}, {"revert", "snappy", "gone"},
		{"delete", "snappy", "one", "gone", "--yes"},
	} {
		_, err := runSnap(t, now, args...)
		if errs.KindOf(err) != errs.NotFound || strings.Contains(err.Error(), "confirm") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if out, _ := runSnap(t, now, "list", "snappy"); strings.Count(out, `"name"`) != 1 {
		t.Errorf("snapshots after refused verbs: %s", out)
	}
	if _, err := runSnap(t, now, "delete", "snappy", "one"); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("an existing snapshot without --yes: %v", err)
	}
}
