package vm

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

// show on a definition in libvirt's test-suite forms: every interface and disk type has its
// type and source, the other devices are listed, and a stopped VM without a balloon shows the
// memory it will start with, as list does.
func TestShowDevices(t *testing.T) {
	c := virttest.Open(t)
	x, err := os.ReadFile("../../../testdata/libvirt/show-devices.xml")
	if err != nil {
		t.Fatal(err)
	}
	// libvirt 9.0's schema predates vhostvdpa disks (9.8): define the rest.
	def := regexp.MustCompile(`(?s)<disk type='vhostvdpa'.*?</disk>`).ReplaceAllString(string(x), "")
	d, err := c.DefineDomain(context.Background(), "devices", def)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	v := showJSON(t, t.TempDir(), "devices")
	if len(v.NICs) != 8 || v.NICs[0].Type != "ethernet" || v.NICs[7].Type != "vdpa" || v.NICs[7].Source != "/dev/vhost-vdpa-1" {
		t.Errorf("nics: %+v", v.NICs)
	}
	if len(v.Graphics) != 1 || v.Graphics[0].Type != "dbus" || v.Graphics[0].Listen != "unix:path=/run/devices-display" {
		t.Errorf("graphics: %+v", v.Graphics)
	}
	if len(v.Disks) != 5 || len(v.TPMs) != 1 || len(v.Hostdevs) != 2 || len(v.Filesystems) != 2 || len(v.Watchdogs) != 1 || len(v.RNGs) != 1 || len(v.SecLabels) != 1 {
		t.Errorf("devices: %+v", v)
	}
	// The table lists each device once (a repeated block once printed TPMs, hostdevs,
	// filesystems, watchdogs, RNGs and labels twice).
	o, out := createFactory(t, t.TempDir())
	if err := runShow(context.Background(), &ShowOptions{F: o.F, Name: "devices"}); err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]int{"TPM:": 1, "Hostdev:": 2, "Filesystem:": 2, "Watchdog:": 1, "RNG:": 1, "Security label:": 1} {
		if got := strings.Count(out.String(), "\n"+label); got != want {
			t.Errorf("%d %q rows in the table, want %d:\n%s", got, label, want, out)
		}
	}
	// QEMU's bulk stats (what list reads) give a stopped VM without a balloon its maximum:
	// it starts with all of it (checked with virsh domstats --balloon on libvirt 9.0).
	if v.MemoryBytes != 1<<30 || v.MaxMemoryBytes != 1<<30 {
		t.Errorf("memory: %d of %d bytes, want all of 1GiB", v.MemoryBytes, v.MaxMemoryBytes)
	}
}

// A stopped VM's volume disks have their sizes, read from the volumes (block info fails for
// inactive type='volume' disks).
func TestShowStoppedVolumeSizes(t *testing.T) {
	virttest.Open(t)
	dir := profiles(t)
	o, _ := createFactory(t, dir)
	o.Profile = "small"
	if err := runCreate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	v := showJSON(t, dir, "small")
	for _, d := range v.Disks {
		if d.CapacityBytes == nil || d.AllocationBytes == nil {
			t.Errorf("disk %s (%s) has no size", d.Target, d.Source)
		} else if d.Target == "vda" && *d.CapacityBytes != 1<<30 {
			t.Errorf("vda: %d bytes", *d.CapacityBytes)
		}
	}
}

func TestNewCmdShow(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr bool
	}{
		{args: []string{"web01"}},
		{args: []string{"My Windows VM (old)"}},
		{args: []string{"web01", "--json"}},
		{args: nil, wantErr: true},
		{args: []string{"a", "b"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *ShowOptions
			err := parse(t, NewCmdShow(f, func(_ context.Context, o *ShowOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if err == nil || got != nil {
					t.Fatalf("want an error, got %v", err)
				}
				return
			}
			if err != nil || got.Name != tc.args[0] {
				t.Errorf("%v %+v", err, got)
			}
		})
	}
}

func TestNewCmdConsole(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    ConsoleOptions
		wantErr bool
	}{
		{args: []string{"web01"}, want: ConsoleOptions{Name: "web01"}},
		{args: []string{"web01", "--force", "--device", "serial1"}, want: ConsoleOptions{Name: "web01", Force: true, Device: "serial1"}},
		{args: []string{"web01", "--json"}, wantErr: true},
		{args: nil, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *ConsoleOptions
			err := parse(t, NewCmdConsole(f, func(_ context.Context, o *ConsoleOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if err == nil || got != nil {
					t.Fatalf("want an error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want.Name || got.Force != tc.want.Force || got.Device != tc.want.Device {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A NIC's portgroup and a display listening on a network (libvirt's graphics-listen-network
// form) keep their sources in show.
func TestShowNetworkListenAndPortgroup(t *testing.T) {
	c := virttest.Open(t)
	const def = `<domain type='test'><name>lsn</name><memory unit='KiB'>524288</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>
<interface type='network'><mac address='52:54:00:8b:c5:15'/><source network='default' portgroup='engineering'/><model type='virtio'/></interface>
<graphics type='spice' autoport='yes'><listen type='network' network='default'/></graphics>
</devices></domain>`
	d, err := c.DefineDomain(context.Background(), "lsn", def)
	if err != nil {
		t.Fatal(err)
	}
	d.Free()
	v := showJSON(t, t.TempDir(), "lsn")
	if len(v.NICs) != 1 || v.NICs[0].Source != "default (portgroup engineering)" {
		t.Errorf("nics: %+v", v.NICs)
	}
	if len(v.Graphics) != 1 || v.Graphics[0].Listen != "network default" {
		t.Errorf("graphics: %+v", v.Graphics)
	}
}
