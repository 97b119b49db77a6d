package vm

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

func TestAppendTableKeepsTheText(t *testing.T) {
	text := "# web servers\nname = \"web\" # the VM\n\n[disk]\nsize = \"20GiB\"  # a floor\n"
	got := appendTable(text, "extra_disks", [][2]string{{"size", tomlString("50GiB")}, {"bus", tomlString("scsi")}})
	want := text + "\n# added by vmctl disk attach --update-profile\n[[extra_disks]]\nsize = \"50GiB\"\nbus = \"scsi\"\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A file without a final newline gets one before the new table.
	if got := appendTable("name = \"x\"", "network", [][2]string{{"network", tomlString("lab")}}); !strings.HasPrefix(got, "name = \"x\"\n\n# added by vmctl nic attach") {
		t.Errorf("no final newline: %q", got)
	}
}

// --update-profile on a VM made from a profile: the disk attached is the one the updated
// profile renders (so diff finds the VM in sync), and when the attach fails the profile stays
// byte for byte and no volume or temporary file is left.
func TestDiskAttachUpdateProfile(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	small := filepath.Join(dir, "small.toml")
	commented := "# a small VM\n" + mustRead(t, small) + "# end\n"
	if err := os.WriteFile(small, []byte(commented), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "child.toml"), []byte("name = \"child\"\nextends = \"small\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HVCTL_PATHS_PROFILES": dir, "HVCTL_VM_DEFAULTS_POOL": "default-pool"}
	for _, vm := range []string{"small", "child"} {
		o, _ := createFactory(t, dir)
		o.Profile = vm
		if err := runCreate(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	volsBefore := virttest.Volumes(t, c, "default-pool")
	attach := func(vm string) (string, error) {
		_, stderr, err := runDevice(t, env, runDiskAttach, &DiskAttachOptions{VM: vm, Size: 3 << 30, sizeGiven: "3GiB", Bus: "virtio", Update: true},
			func(o *DiskAttachOptions, f *cmdutil.Factory) { o.F = f })
		return stderr, err
	}

	// What the attach would plug in: the profile's third disk, vdc on small-data2.qcow2, and
	// with it in the VM's definition the updated profile has nothing to report.
	d, err := c.Domain(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(env))
	edit, disk, err := profileDisk(ctx, &DiskAttachOptions{F: f, VM: "small", Size: 3 << 30, sizeGiven: "3GiB", Bus: "virtio"}, d, "small")
	if err != nil {
		t.Fatal(err)
	}
	if disk.Target.Dev != "vdc" || disk.Source.Volume.Volume != "small-data2.qcow2" || disk.Source.Volume.Pool != "default-pool" {
		t.Errorf("rendered disk: %+v %+v", disk.Target, disk.Source.Volume)
	}
	live, err := d.Definition(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	live.Devices.Disks = append(live.Devices.Disks, disk)
	desired, err := edit.render(ctx, f, c)
	edit.discard()
	if err != nil {
		t.Fatal(err)
	}
	domainxml.MACsFrom(desired, live)
	if changes, err := domainxml.Compare(desired, live); err != nil || len(changes) > 0 {
		t.Errorf("diff after the attach: %+v %v", changes, err)
	}

	// The test driver cannot attach: everything is undone.
	stderr, err := attach("small")
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("attach: %v", err)
	}
	if got := mustRead(t, small); got != commented {
		t.Errorf("the failed attach changed the profile:\n%s", got)
	}
	if !strings.Contains(stderr, "removed /default-pool/small-data2.qcow2") {
		t.Errorf("stderr: %q", stderr)
	}

	// child inherits its extra disks from small: a [[extra_disks]] of its own would replace them.
	if _, err := attach("child"); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "would replace") {
		t.Errorf("inherited list: %v", err)
	}
	// test was not made from a profile.
	if _, err := attach("test"); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "not made from a profile") {
		t.Errorf("no profile: %v", err)
	}
	if left := virttest.Volumes(t, c, "default-pool"); !slices.Equal(left, volsBefore) {
		t.Errorf("volumes %v, want %v", left, volsBefore)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("files left in the profiles directory: %v", entries)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNICAttachUpdateProfile(t *testing.T) {
	c := virttest.Open(t)
	ctx := context.Background()
	dir := profiles(t)
	netProfile := filepath.Join(dir, "net.toml")
	text := "name = \"net\" # with its NIC written out\ndomain_type = \"qemu\"\nmemory = \"512MiB\"\n[disk]\nsize = \"1GiB\"\n[[network]]\nnetwork = \"default\"\n"
	if err := os.WriteFile(netProfile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HVCTL_PATHS_PROFILES": dir, "HVCTL_VM_DEFAULTS_POOL": "default-pool"}
	for _, vm := range []string{"net", "small"} {
		o, _ := createFactory(t, dir)
		o.Profile = vm
		if err := runCreate(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.Domain(ctx, "net")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(env))
	opts := &NICAttachOptions{F: f, VM: "net", Network: "default", Model: "e1000e", MAC: "52:54:00:00:aa:01", Filter: "clean-traffic"}
	edit, nic, err := profileNIC(ctx, opts, d, "net")
	if err != nil {
		t.Fatal(err)
	}
	if nic.MAC == nil || nic.MAC.Address != "52:54:00:00:aa:01" || nic.Model.Type != "e1000e" || nic.FilterRef == nil || nic.FilterRef.Filter != "clean-traffic" {
		t.Errorf("rendered NIC: %+v", nic)
	}
	live, err := d.Definition(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	live.Devices.Interfaces = append(live.Devices.Interfaces, nic)
	desired, err := edit.render(ctx, f, c)
	edit.discard()
	if err != nil {
		t.Fatal(err)
	}
	domainxml.MACsFrom(desired, live)
	if changes, err := domainxml.Compare(desired, live); err != nil || len(changes) > 0 {
		t.Errorf("diff after the attach: %+v %v", changes, err)
	}

	run := func(o NICAttachOptions) error {
		_, _, err := runDevice(t, env, runNICAttach, &o, func(o *NICAttachOptions, f *cmdutil.Factory) { o.F = f })
		return err
	}
	if err := run(NICAttachOptions{VM: "net", Network: "default", Model: "virtio", Filter: "none", filterSet: true, Update: true}); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "puts filter clean-traffic") {
		t.Errorf("--filter against the profile's: %v", err)
	}
	if err := run(NICAttachOptions{VM: "net", Network: "default", Model: "virtio", Filter: "clean-traffic", Update: true}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("attach: %v", err)
	}
	if got := mustRead(t, netProfile); got != text {
		t.Errorf("the failed attach changed the profile:\n%s", got)
	}
	// small's NIC is the configured default, not written in the file: a [[network]] would replace it.
	if err := run(NICAttachOptions{VM: "small", Network: "default", Model: "virtio", Filter: "clean-traffic", Update: true}); errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "would replace") {
		t.Errorf("defaulted NIC: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("files left in the profiles directory: %v", entries)
	}
}
