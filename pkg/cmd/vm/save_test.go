package vm

import (
	"context"
	"fmt"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdSaveRestore(t *testing.T) {
	runFlagCases(t, "save", func(f *cmdutil.Factory, r func(context.Context, *LifecycleOptions) error) *cobra.Command {
		return NewCmdSave(f, r)
	}, func(o *LifecycleOptions) string {
		return fmt.Sprintf("%s %v all=%v yes=%v perVM=%s", o.Verb, o.Targets, o.Bulk.All, o.Yes, o.PerVM)
	}, []flagCase{
		{argv: []string{"web01"}, want: "save [web01] all=false yes=false perVM=5m0s"},
		{argv: []string{"web-*", "--discard", "-y", "--timeout", "1m"}, want: "save [web-*] all=false yes=true perVM=1m0s"},
		{argv: []string{"--all"}, want: "save [] all=true yes=false perVM=5m0s"},
		{argv: []string{}, err: errs.Usage},
	})
	runFlagCases(t, "restore", func(f *cmdutil.Factory, r func(context.Context, *LifecycleOptions) error) *cobra.Command {
		return NewCmdRestore(f, r)
	}, func(o *LifecycleOptions) string { return fmt.Sprintf("%s %v perVM=%s", o.Verb, o.Targets, o.PerVM) }, []flagCase{
		{argv: []string{"web01", "--paused"}, want: "restore [web01] perVM=2m0s"},
		{argv: []string{}, err: errs.Usage},
	})
}

const saveVM = `<domain type='test'><name>t-saved</name><memory>65536</memory><os><type>hvm</type></os></domain>`

// save → list shows it saved (state shut_off, saved true; --state saved selects it) → start
// says restored → save → restore → save --discard asks, then discards; restore without saved
// state refuses rather than boot.
func TestSaveRestoreCycle(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	virttest.Define(t, c, saveVM)
	d, err := c.Domain(ctx, "t-saved")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	if _, err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f, out, _ := storageFactory(t)
	verb := func(build func(*cmdutil.Factory, func(context.Context, *LifecycleOptions) error) *cobra.Command, argv ...string) ([]model.Result, error) {
		t.Helper()
		var opts *LifecycleOptions
		if err := parse(t, build(f, func(_ context.Context, o *LifecycleOptions) error { opts = o; return nil }), f, argv...); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		err := runLifecycle(ctx, opts)
		if out.Len() == 0 {
			return nil, err
		}
		return decode[[]model.Result](t, out), err
	}
	action := func(res []model.Result) string {
		if len(res) != 1 {
			return fmt.Sprint(res)
		}
		return res[0].Action
	}
	if res, err := verb(NewCmdSave, "t-saved"); err != nil || action(res) != "saved" {
		t.Fatalf("save: %v %+v", err, res)
	}
	if res, err := verb(NewCmdSave, "t-saved"); err != nil || action(res) != "none" {
		t.Errorf("save of a saved VM: %v %+v", err, res)
	}
	if err := runList(ctx, &ListOptions{F: f, States: []string{"saved"}}); err != nil {
		t.Fatal(err)
	}
	if vms := decode[[]model.VM](t, out); len(vms) != 1 || vms[0].Name != "t-saved" || !vms[0].Saved || vms[0].State != "shut_off" {
		t.Errorf("list --state saved: %+v", vms)
	}
	if err := runList(ctx, &ListOptions{F: f, States: []string{"running"}}); err != nil {
		t.Fatal(err)
	}
	for _, v := range decode[[]model.VM](t, out) {
		if v.Saved {
			t.Errorf("a running VM listed as saved: %+v", v)
		}
	}
	if res, err := verb(NewCmdStart, "t-saved"); err != nil || action(res) != "restored" {
		t.Errorf("start of a saved VM: %v %+v", err, res)
	}
	if _, err := verb(NewCmdSave, "t-saved"); err != nil {
		t.Fatal(err)
	}
	if res, err := verb(NewCmdRestore, "t-saved"); err != nil || action(res) != "restored" {
		t.Errorf("restore: %v %+v", err, res)
	}
	if res, err := verb(NewCmdRestore, "t-saved"); err != nil || action(res) != "none" {
		t.Errorf("restore of a running VM: %v %+v", err, res)
	}
	if _, err := verb(NewCmdSave, "t-saved"); err != nil {
		t.Fatal(err)
	}
	if _, err := verb(NewCmdSave, "t-saved", "--discard"); errs.KindOf(err) != errs.Usage {
		t.Errorf("--discard without --yes off a terminal: %v", err)
	}
	if saved, _ := d.HasSavedState(ctx); !saved {
		t.Fatal("an unconfirmed --discard discarded")
	}
	if res, err := verb(NewCmdSave, "t-saved", "--discard", "--yes"); err != nil || action(res) != "discarded" {
		t.Errorf("save --discard: %v %+v", err, res)
	}
	if res, err := verb(NewCmdRestore, "t-saved"); errs.KindOf(err) != errs.Conflict || len(res) != 1 || res[0].Code != "conflict" {
		t.Errorf("restore without saved state: %v %+v", err, res)
	}
	if st, _, _ := d.State(ctx); st != "shut_off" {
		t.Errorf("restore without saved state booted the VM: %s", st)
	}
	if res, err := verb(NewCmdSave, "t-saved"); errs.KindOf(err) != errs.Conflict {
		t.Errorf("save of a stopped VM: %v %+v", err, res)
	}
}
