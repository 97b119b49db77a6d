package vm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

func TestNewCmdMigrate(t *testing.T) {
	runFlagCases(t, "migrate", func(f *cmdutil.Factory, r func(context.Context, *MigrateOptions) error) *cobra.Command {
		return NewCmdMigrate(f, r)
	},
		func(o *MigrateOptions) string {
			return fmt.Sprintf("%s to=%s live=%v offline=%v copy=%s keep=%v transient=%v bw=%d unsafe=%v",
				o.Name, o.To, o.Live, o.Offline, o.CopyStorage, o.KeepSource, o.Transient, o.BandwidthMiB, o.Unsafe)
		}, []flagCase{
			{argv: []string{"web", "--to", "h2"}, want: "web to=h2 live=false offline=false copy= keep=false transient=false bw=0 unsafe=false"},
			{argv: []string{"web", "--to", "h2", "--copy-storage", "inc", "--bandwidth", "100", "--keep-source"}, want: "web to=h2 live=false offline=false copy=inc keep=true transient=false bw=100 unsafe=false"},
			{argv: []string{"web", "--to", "h2", "--offline", "--unsafe"}, want: "web to=h2 live=false offline=true copy= keep=false transient=false bw=0 unsafe=true"},
			{argv: []string{"web"}, err: errs.Usage},
			{argv: []string{"--to", "h2"}, err: errs.Usage},
			{argv: []string{"web", "--to", "h2", "--live", "--offline"}, err: errs.Usage},
			{argv: []string{"web", "--to", "h2", "--offline", "--copy-storage", "all"}, err: errs.Usage},
			{argv: []string{"web", "--to", "h2", "--offline", "--transient"}, err: errs.Usage},
			{argv: []string{"web", "--to", "h2", "--copy-storage", "some"}, err: errs.Usage},
		})
}

// The test driver's default host has the domain "test", the network "default" and the pool
// "default-pool" (directory /default-pool): the preflight must name every problem of a
// definition against it, and none of one it can take.
func TestMigrationPreflight(t *testing.T) {
	dst := virttest.Open(t)
	ctx := context.Background()
	def := func(name, network, pool, cache string) *libvirtxml.Domain {
		return &libvirtxml.Domain{
			Type: "qemu", Name: name, UUID: "0d8b3a8a-8f43-4d6a-9b7e-6d1f4f0c2a11",
			Devices: &libvirtxml.DomainDeviceList{
				Disks: []libvirtxml.DomainDisk{
					{Device: "disk", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: cache},
						Source: &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: pool, Volume: "web.qcow2"}},
						Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"}},
					{Device: "cdrom", ReadOnly: &libvirtxml.DomainDiskReadOnly{},
						Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/default-pool/missing.iso"}},
						Target: &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "sata"}},
				},
				Interfaces: []libvirtxml.DomainInterface{{Source: &libvirtxml.DomainInterfaceSource{
					Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: network}}}},
			},
		}
	}
	problems, _, err := virt.MigrationPreflight(ctx, dst, def("test", "lan9", "vmpool", ""), true, virt.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := virt.JoinProblems(problems)
	for _, want := range []string{
		"a domain named test already exists there",
		"network lan9 does not exist there",
		"disk vda: storage pool vmpool does not exist there",
		"disk vda uses cache mode the default",
		"disk sda: /default-pool/missing.iso is not there",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("preflight misses %q:\n%s", want, got)
		}
	}
	if problems[0].Kind != errs.Conflict {
		t.Errorf("a taken name is a conflict, got %v", problems[0].Kind)
	}

	// --copy-storage moves the writable disk (no volume needed there, no cache concern); the
	// read-only ISO must still be there.
	problems, _, err = virt.MigrationPreflight(ctx, dst, def("t-new", "default", "default-pool", "none"), true, virt.MigrateOptions{CopyStorage: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if got := virt.JoinProblems(problems); got != "disk sda: /default-pool/missing.iso is not there (no such volume in pool default-pool; refresh it if the storage is shared, or use --copy-storage)" {
		t.Errorf("with --copy-storage: %q", got)
	}
	// An offline move checks no cache mode.
	problems, _, _ = virt.MigrationPreflight(ctx, dst, def("t-new", "default", "default-pool", "writeback"), false, virt.MigrateOptions{CopyStorage: "all"})
	if strings.Contains(virt.JoinProblems(problems), "cache") {
		t.Errorf("offline: %v", problems)
	}
}
