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
		"disk vda uses the default cache mode (QEMU's writeback)",
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

// A network or pool the target has but does not run refuses a live move as a conflict (exit 4),
// not as missing; an offline move needs no running network.
func TestMigrationPreflightInactive(t *testing.T) {
	dst := virttest.Open(t)
	ctx := context.Background()
	raw := dst.Raw()
	n, err := raw.NetworkDefineXML(`<network><name>t-idle</name><bridge name='hvbr-tidle'/></network>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Undefine(); _ = n.Free() })
	p, err := raw.StoragePoolDefineXML(`<pool type='dir'><name>t-cold</name><target><path>/t-cold</path></target></pool>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Undefine(); _ = p.Free() })
	def := &libvirtxml.Domain{
		Type: "qemu", Name: "t-new", UUID: "0d8b3a8a-8f43-4d6a-9b7e-6d1f4f0c2a12",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{Device: "disk", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: "none"},
				Source: &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: "t-cold", Volume: "v.qcow2"}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"}}},
			Interfaces: []libvirtxml.DomainInterface{{Source: &libvirtxml.DomainInterfaceSource{
				Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: "t-idle"}}}},
		},
	}
	problems, _, err := virt.MigrationPreflight(ctx, dst, def, true, virt.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := virt.JoinProblems(problems); got != "network t-idle is not active there; disk vda: storage pool t-cold is not active there" {
		t.Errorf("inactive network and pool: %q", got)
	}
	for _, p := range problems {
		if p.Kind != errs.Conflict {
			t.Errorf("%q: kind %v, want conflict", p.Reason, p.Kind)
		}
	}
	problems, _, _ = virt.MigrationPreflight(ctx, dst, def, false, virt.MigrateOptions{})
	if got := virt.JoinProblems(problems); got != "disk vda: storage pool t-cold is not active there" {
		t.Errorf("offline: %q", got)
	}
}

// PostcopyDue switches when pre-copy cannot converge: never during the first pass, at once
// when the guest dirties memory as fast as the stream moves it, else after the allowed passes.
func TestPostcopyDue(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name   string
		p      virt.MigrationProgress
		passes uint64
		want   string
	}{
		{"first pass, however fast the guest dirties", virt.MigrationProgress{Iteration: 1, DirtyPagesPerSecond: 100000, PageSize: 4096, MemoryBps: mib}, 0, ""},
		{"no statistics yet", virt.MigrationProgress{}, 0, ""},
		{"second pass, dirtying slower than the stream", virt.MigrationProgress{Iteration: 2, DirtyPagesPerSecond: 100, PageSize: 4096, MemoryBps: 8 * mib}, 0, ""},
		{"second pass, dirtying as fast as the stream", virt.MigrationProgress{Iteration: 2, DirtyPagesPerSecond: 2048, PageSize: 4096, MemoryBps: 8 * mib},
			0, "the guest dirties memory at 8MiB/s, as fast as the stream moves it (8MiB/s), after pass 1"},
		{"rate unknown (no bandwidth measured yet)", virt.MigrationProgress{Iteration: 2, DirtyPagesPerSecond: 2048, PageSize: 4096}, 0, ""},
		{"default: third pass", virt.MigrationProgress{Iteration: 3, DirtyPagesPerSecond: 1, PageSize: 4096, MemoryBps: 8 * mib}, 0, "pre-copy did not finish in 2 passes over memory"},
		{"--postcopy-after 1: second pass", virt.MigrationProgress{Iteration: 2, PageSize: 4096, MemoryBps: 8 * mib}, 1, "pre-copy did not finish in 1 pass over memory"},
		{"--postcopy-after 5: fourth pass", virt.MigrationProgress{Iteration: 4, PageSize: 4096, MemoryBps: 8 * mib}, 5, ""},
	} {
		due, why := virt.PostcopyDue(c.p, c.passes)
		if due != (c.want != "") || why != c.want {
			t.Errorf("%s: %v %q, want %q", c.name, due, why, c.want)
		}
	}
}

// MissingDiskCopies names the writable disks a --copy-storage all move would create on the
// target (not those there already, nor read-only media); RemoveDiskCopy takes such a copy
// away again, and says when there was none.
func TestMissingDiskCopies(t *testing.T) {
	dst := virttest.Open(t)
	ctx := context.Background()
	pool, err := dst.Raw().LookupStoragePoolByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Free()
	vol, err := pool.StorageVolCreateXML(`<volume><name>there.qcow2</name><capacity>1048576</capacity></volume>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = vol.Free()
	disk := func(dev string, src libvirtxml.DomainDiskSource, ro bool) libvirtxml.DomainDisk {
		d := libvirtxml.DomainDisk{Device: "disk", Source: &src, Target: &libvirtxml.DomainDiskTarget{Dev: dev}}
		if ro {
			d.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
		}
		return d
	}
	def := &libvirtxml.Domain{Name: "t-copy", Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{
		disk("vda", libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: "default-pool", Volume: "new.qcow2"}}, false),
		disk("vdb", libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: "default-pool", Volume: "there.qcow2"}}, false),
		disk("vdc", libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/default-pool/new-file.qcow2"}}, false),
		disk("vdd", libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/default-pool/there.qcow2"}}, false),
		disk("sda", libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: "/default-pool/media.iso"}}, true),
	}}}
	copies, err := virt.MissingDiskCopies(ctx, dst, def)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range copies {
		got = append(got, c.Dev+"="+c.String())
	}
	if strings.Join(got, " ") != "vda=default-pool/new.qcow2 vdc=/default-pool/new-file.qcow2" {
		t.Errorf("missing copies: %v", got)
	}
	// As if the move had created the first and failed.
	vol, err = pool.StorageVolCreateXML(`<volume><name>new.qcow2</name><capacity>1048576</capacity></volume>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = vol.Free()
	for i, want := range []bool{true, false} {
		removed, err := dst.RemoveDiskCopy(ctx, copies[i])
		if err != nil || removed != want {
			t.Errorf("remove %s: %v %v, want %v", copies[i], removed, err, want)
		}
	}
	if v, err := pool.LookupStorageVolByName("new.qcow2"); err == nil {
		_ = v.Free()
		t.Errorf("the copy is still there")
	}
	if v, err := pool.LookupStorageVolByName("there.qcow2"); err != nil {
		t.Errorf("a disk that was there before is gone: %v", err)
	} else {
		_ = v.Free()
	}
}
