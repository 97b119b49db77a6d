package vm

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

func TestNewCmdGC(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want GCOptions
		err  errs.Kind
	}{
		{argv: nil, want: GCOptions{}},
		{argv: []string{"web-*", "db01", "--pool", "vms", "--yes"}, want: GCOptions{VMs: []string{"web-*", "db01"}, Pool: "vms", Yes: true}},
		{argv: []string{"--dry-run", "-y"}, want: GCOptions{DryRun: true, Yes: true}},
		{argv: []string{"[bad"}, err: errs.Usage},
	} {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		var got *GCOptions
		cmd := NewCmdGC(f, func(_ context.Context, o *GCOptions) error { got = o; return nil })
		cmd.SetArgs(tc.argv)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if tc.err != 0 {
			if errs.KindOf(err) != tc.err {
				t.Errorf("%v: error %v, want kind %v", tc.argv, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.argv, err)
			continue
		}
		got.F = nil
		if !slices.Equal(got.VMs, tc.want.VMs) || got.Pool != tc.want.Pool || got.Yes != tc.want.Yes || got.DryRun != tc.want.DryRun {
			t.Errorf("%v: options %+v, want %+v", tc.argv, *got, tc.want)
		}
	}
}

// gc finds the volumes of a VM that does not exist (what a killed create leaves) and nothing
// else: not a live VM's volumes, not a volume another VM uses under any name, not a name hvctl
// does not make. Without --yes off a terminal it removes nothing.
func TestGCRemovesOnlyOrphans(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	for _, n := range []string{"dead.qcow2", "dead-data1.qcow2", "dead-cidata.iso", "alive.qcow2", "borrowed.qcow2", "notes.img"} {
		if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: "default-pool", Name: n, Format: "qcow2", Capacity: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	virttest.Define(t, c, `<domain type='test'><name>alive</name><memory>65536</memory><os><type>hvm</type></os></domain>`,
		`<domain type='test'><name>user</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='volume' device='disk'><source pool='default-pool' volume='borrowed.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`)
	run := func(o *GCOptions) ([]model.Orphan, error) {
		f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_VM_DEFAULTS_POOL": "default-pool"}))
		f.Global.OutputFlags.JSON = true
		o.F = f
		err := runGC(ctx, o)
		var got []model.Orphan
		if out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil {
				t.Fatalf("%v: %s", jerr, out)
			}
		}
		return got, err
	}
	names := func(os []model.Orphan) (n []string) {
		for _, o := range os {
			n = append(n, o.Volume+":"+o.Action)
		}
		return n
	}
	got, err := run(&GCOptions{DryRun: true})
	if want := []string{"dead-cidata.iso:none", "dead-data1.qcow2:none", "dead.qcow2:none"}; err != nil || !slices.Equal(names(got), want) {
		t.Errorf("dry run: %v %v, want %v", names(got), err, want)
	}
	if _, err := run(&GCOptions{}); errs.KindOf(err) != errs.Usage {
		t.Errorf("gc without --yes off a terminal: %v", err)
	}
	if n := len(virttest.Volumes(t, c, "default-pool")); n != 6 {
		t.Errorf("unconfirmed gc removed volumes: %d left", n)
	}
	got, err = run(&GCOptions{Yes: true})
	if want := []string{"dead-cidata.iso:removed", "dead-data1.qcow2:removed", "dead.qcow2:removed"}; err != nil || !slices.Equal(names(got), want) {
		t.Errorf("gc: %v %v, want %v", names(got), err, want)
	}
	if left, want := virttest.Volumes(t, c, "default-pool"), []string{"alive.qcow2", "borrowed.qcow2", "notes.img"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
