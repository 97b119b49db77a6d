package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

func domain(t *testing.T, x string) *libvirtxml.Domain {
	t.Helper()
	d := &libvirtxml.Domain{}
	if err := d.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	return d
}

// failed lists "ID target severity" of the failures, sorted.
func failed(found []model.Finding) []string {
	var out []string
	for _, f := range found {
		if f.Status == "fail" {
			out = append(out, f.ID+" "+f.Target+" "+f.Severity)
		}
	}
	sort.Strings(out)
	return out
}

// hvctl's own domains (the golden renderings of the test profiles) trip no VM control except
// by what their profiles chose: web boots UEFI without Secure Boot or a vTPM, the workstation assigns
// PCI devices and maps Looking Glass shared memory.
func TestOwnDefinitionsPass(t *testing.T) {
	// The host has libvirt's nwfilter driver and its clean-traffic filter (as shipped).
	ref := func(f string) libvirtxml.NWFilterEntry {
		return libvirtxml.NWFilterEntry{Ref: &libvirtxml.NWFilterRef{Filter: f}}
	}
	inv := &Inventory{Filters: map[string]*libvirtxml.NWFilter{"clean-traffic": {Name: "clean-traffic", Entries: []libvirtxml.NWFilterEntry{
		ref("no-mac-spoofing"), ref("no-ip-spoofing"), ref("no-arp-spoofing"), ref("allow-incoming-ipv4"), ref("no-other-l2-traffic"), ref("qemu-announce-self")}}}}
	want := []string{"VM-014 ws01 medium", "VM-020 ws01 medium", "VM-022 web01 medium", "VM-033 web01 low"}
	for _, name := range []string{"base", "web", "workstation"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/golden", name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		def := domain(t, string(b))
		inv.Domains = append(inv.Domains, Domain{Name: def.Name, Def: def, Secure: true})
		// hvctl's NICs carry clean-traffic unless a profile opts out; a golden rendered
		// before that default fails VM-025, and one rendered after passes.
		if !strings.Contains(string(b), "clean-traffic") {
			want = append(want, "VM-025 "+def.Name+" medium")
		}
	}
	// Info findings (host-passthrough CPU, guest agent, unencrypted disks) never fail a run.
	got := strings.Join(failedAbove(Run(inv, All(), []string{"vm", "storage", "network"}), Low), "\n")
	slices.Sort(want)
	if got != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// failedAbove lists "ID target severity" of the failures at or above min, sorted.
func failedAbove(found []model.Finding, min Severity) []string {
	var out []string
	for _, f := range found {
		if f.Status == "fail" && Rank(f.Severity) >= Rank(string(min)) {
			out = append(out, f.ID+" "+f.Target+" "+f.Severity)
		}
	}
	slices.Sort(out)
	return out
}

const riskyXML = `<domain type="qemu" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><name>risky</name>
<os firmware="efi"><type arch="x86_64">hvm</type></os>
<cpu mode="host-model"><feature policy="disable" name="spec-ctrl"/></cpu>
<devices>
 <disk type="block" device="disk"><source dev="/dev/sdb"/><target dev="vda" bus="virtio"/></disk>
 <graphics type="vnc" port="-1" autoport="yes"><listen type="address" address="0.0.0.0"/></graphics>
 <serial type="tcp"><source mode="bind" host="0.0.0.0" service="4555"/><protocol type="telnet"/></serial>
 <hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0x0000" bus="0x01" slot="0x00" function="0x1"/></source></hostdev>
 <shmem name="shared"><model type="ivshmem-plain"/><size unit="M">4</size></shmem>
</devices>
<seclabel type="none" model="selinux"/>
<seclabel type="static" model="dac" relabel="no"><label>+0:+0</label></seclabel>
<qemu:commandline><qemu:arg value="-s"/></qemu:commandline>
</domain>`

const peerXML = `<domain type="kvm"><name>peer</name><devices><shmem name="shared"><size unit="M">4</size></shmem>
<graphics type="spice" autoport="yes" listen="192.0.2.9"/></devices></domain>`

const risky2XML = `<domain type="kvm"><name>risky2</name><memory dumpCore="on">1048576</memory><on_crash>coredump-restart</on_crash>
<devices>
 <disk type="block" device="lun" rawio="yes"><driver name="qemu" type="raw"/><source dev="/dev/sdc1"/><target dev="sda" bus="scsi"/></disk>
 <disk type="file" device="disk"><driver name="qemu" type="raw"/><source file="/srv/shared.img"/><target dev="vdb"/><shareable/></disk>
 <filesystem type="mount" accessmode="passthrough"><source dir="/etc/"/><target dir="hostetc"/></filesystem>
 <interface type="direct" trustGuestRxFilters="yes"><source dev="eth0" mode="bridge"/><model type="virtio"/></interface>
 <input type="passthrough" bus="virtio"><source evdev="/dev/input/event1"/></input>
 <redirdev bus="usb" type="spicevmc"/>
</devices></domain>`

func TestMoreRiskyDefinition(t *testing.T) {
	inv := &Inventory{Domains: []Domain{{Name: "risky2", Def: domain(t, risky2XML), Secure: true}}}
	got := strings.Join(failed(Run(inv, All(), []string{"vm"})), "\n")
	want := strings.Join([]string{
		"VM-015 risky2 medium", "VM-016 risky2 high", "VM-018 risky2 high", "VM-019 risky2 low", "VM-021 risky2 medium",
		"VM-023 risky2 medium", "VM-026 risky2 medium", "VM-027 risky2 low",
	}, "\n")
	if got != want {
		t.Errorf("failures:\n%s\nwant:\n%s", got, want)
	}
}

func TestRiskyDefinition(t *testing.T) {
	inv := &Inventory{Domains: []Domain{
		{Name: "risky", Def: domain(t, riskyXML), Autostart: true, Secure: true},
		{Name: "peer", Def: domain(t, peerXML)}, // read without secrets: its password state is unknown
	}}
	found := Run(inv, All(), []string{"vm"})
	actionable(t, found)
	got := strings.Join(failed(found), "\n")
	want := strings.Join([]string{
		"VM-001 risky high", "VM-002 risky high", "VM-003 risky critical", "VM-004 risky medium", "VM-006 risky high", "VM-007 risky critical",
		"VM-011 risky critical", "VM-012 risky high", "VM-014 risky medium", "VM-017 risky medium",
		"VM-020 peer high", "VM-020 risky high", "VM-022 risky medium", "VM-030 risky low",
		"VM-032 risky critical", // autostart raises the worst risky failure, capped at critical
		"VM-033 risky low",
	}, "\n")
	if got != want {
		t.Errorf("failures:\n%s\nwant:\n%s", got, want)
	}
	for _, f := range found {
		if f.ID == "VM-007" && f.Target == "peer" && (f.Status != "error" || !strings.Contains(f.Detail, "password state unknown")) {
			t.Errorf("without the secure XML the password is unknown, not absent: %+v", f)
		}
		if f.ID == "VM-011" && f.Target == "risky" && !strings.Contains(f.Detail, "serial 0 on telnet 0.0.0.0:4555") {
			t.Errorf("VM-011 detail: %s", f.Detail)
		}
	}
}

// write makes files under root: path → content.
func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostAndDaemon(t *testing.T) {
	good, bad := t.TempDir(), t.TempDir()
	write(t, good, map[string]string{
		"proc/cpuinfo": "processor : 0\nflags : fpu vmx sse\n", "dev/kvm": "", "dev/net/tun": "", "dev/vhost-net": "",
		"sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids", "sys/firmware/acpi/tables/DMAR": "", "proc/77/comm": "auditd\n",
		"sys/devices/system/cpu/smt/control": "on", "sys/module/kvm_intel/parameters/vmentry_l1d_flush": "cond", "sys/kernel/mm/ksm/run": "0", "sys/kernel/iommu_groups/0/type": "DMA",
		"sys/fs/selinux/enforce": "1", "sys/devices/system/cpu/vulnerabilities/mds": "Mitigation: Clear CPU buffers",
		"proc/sys/kernel/kptr_restrict": "2", "run/libvirt/qemu/vm1.pid": "4242\n", "proc/4242/status": "Name:\tqemu\nUid:\t64055\t64055\t64055\t64055\nSeccomp:\t2\n",
		"proc/sys/kernel/yama/ptrace_scope": "1", "proc/sys/kernel/perf_event_paranoid": "2",
		"etc/libvirt/qemu.conf": "vnc_listen = \"127.0.0.1\"\nsecurity_require_confined = 1\nmigrate_tls_force = 1\nmigration_address = \"10.0.0.1\"\n",
	})
	write(t, bad, map[string]string{
		"proc/cpuinfo": "processor : 0\nflags : fpu sse\n", "sys/module/kvm_intel/parameters/nested": "Y",
		"sys/fs/cgroup/memory/x": "", "sys/devices/system/cpu/smt/control": "on", "sys/kernel/mm/ksm/run": "1",
		"sys/devices/system/cpu/vulnerabilities/l1tf":       "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable",
		"sys/module/kvm_intel/parameters/vmentry_l1d_flush": "never",
		"sys/devices/system/cpu/vulnerabilities/retbleed":   "Vulnerable", "sys/devices/system/cpu/vulnerabilities/mds": "Not affected",
		"proc/sys/kernel/kptr_restrict": "0", "run/libvirt/qemu/vm1.pid": "4242\n", "proc/4242/status": "Name:\tqemu\nUid:\t0\t0\t0\t0\nSeccomp:\t0\n",
		"etc/libvirt/qemu.conf": "user = \"root\"\nsecurity_driver = \"none\"\ndynamic_ownership = 0\nseccomp_sandbox = 0\nvnc_listen = \"0.0.0.0\"\n" +
			"security_default_confined = 0\ndump_guest_core = 1\nstdio_handler = \"file\"\nrelaxed_acs_check = 1\n",
		"etc/libvirt/libvirtd.conf": "listen_tcp = 1\nauth_tcp = \"none\"\ntls_no_verify_certificate = 1\naudit_level = 0\n",
	})
	vm := []Domain{{Name: "vm1", Def: domain(t, `<domain type="kvm"><name>vm1</name></domain>`), Live: &libvirtxml.Domain{Name: "vm1"}}}
	load := func(root string) *Inventory {
		inv := &Inventory{Root: root, Local: true, Domains: vm}
		inv.LoadHost(context.Background())
		return inv
	}
	if got := failedAbove(Run(load(good), All(), []string{"host", "daemon"}), Low); len(got) != 0 {
		t.Errorf("a hardened host fails: %v", got)
	}
	badFound := Run(load(bad), All(), []string{"host", "daemon"})
	actionable(t, badFound)
	got := strings.Join(failed(badFound), "\n")
	want := strings.Join([]string{
		// listen_tcp = 1 with nothing listening: latent, not critical.
		"DAEMON-001 libvirtd.conf low", "DAEMON-002 libvirtd.conf high", "DAEMON-004 libvirtd.conf high", "DAEMON-011 libvirtd.conf info", "DAEMON-013 qemu.conf critical", "DAEMON-014 qemu.conf high",
		"DAEMON-015 qemu.conf low", "DAEMON-016 qemu.conf critical", "DAEMON-017 qemu.conf medium", "DAEMON-018 qemu.conf high", "DAEMON-019 qemu.conf critical",
		"DAEMON-020 libvirtd.conf medium", "DAEMON-021 qemu.conf low", "DAEMON-022 qemu.conf low",
		"DAEMON-023 qemu.conf medium", "DAEMON-024 qemu.conf low", "DAEMON-025 qemu.conf medium", "DAEMON-026 qemu.conf info",
		"HOST-001 host medium", "HOST-002 host medium", "HOST-004 host low", "HOST-005 host info", "HOST-006 host medium",
		// No IOMMU in the firmware: HOST-007 says so, HOST-008 does not say it again.
		"HOST-007 host medium", "HOST-009 host info", "HOST-010 host high", "HOST-013 vm1 critical",
		"HOST-014 vm1 high", "HOST-016 host high", "HOST-017 host medium", "HOST-018 host medium", "HOST-019 host low",
		"HOST-020 host low", "HOST-021 host low", "HOST-023 host medium",
	}, "\n")
	if got != want {
		t.Errorf("failures:\n%s\nwant:\n%s", got, want)
	}
	// A remote host: host and daemon controls are skipped, never passed.
	for _, f := range Run(&Inventory{Domains: vm}, All(), []string{"host", "daemon"}) {
		if f.Status != "skipped" && f.ID != "HOST-026" { // the versions come from libvirt, wherever it is
			t.Errorf("remote: %+v", f)
		}
	}
	// An unreadable qemu.conf is an error, not a pass.
	inv := load(good)
	inv.QEMUConf = &Conf{Name: "qemu.conf", Path: "/etc/libvirt/qemu.conf", Err: errors.New("cannot read /etc/libvirt/qemu.conf: permission denied")}
	errors := 0
	for _, f := range Run(inv, All(), []string{"daemon"}) {
		switch {
		case f.Target == "qemu.conf" && f.Status == "error":
			errors++
		case f.Target == "qemu.conf" || f.Status == "pass" && f.Target != "libvirtd.conf" && f.Target != "libvirt.conf":
			t.Errorf("unreadable config: %+v", f)
		}
	}
	if errors != 13 {
		t.Errorf("%d qemu.conf controls reported the unreadable file", errors)
	}
}

func TestStoragePermissions(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"pool/a.qcow2": "", "pool/b.qcow2": "", "pool/c.iso": ""})
	_ = os.Chmod(filepath.Join(root, "pool"), 0o777)
	_ = os.Chmod(filepath.Join(root, "pool/a.qcow2"), 0o600)
	_ = os.Chmod(filepath.Join(root, "pool/b.qcow2"), 0o644)
	def := domain(t, `<domain type="kvm"><name>v</name><devices>
<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/a.qcow2"/><target dev="vda"/></disk>
<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/b.qcow2"/><target dev="vdb"/></disk>
<disk type="file" device="cdrom"><source file="/pool/c.iso"/><target dev="sda"/><readonly/></disk></devices></domain>`)
	inv := &Inventory{Root: root, Local: true, Domains: []Domain{{Name: "v", Def: def}},
		Pools: []*libvirtxml.StoragePool{{Type: "dir", Name: "p", Target: &libvirtxml.StoragePoolTarget{Path: "/pool"}}}}
	got := strings.Join(failed(Run(inv, All(), []string{"storage"})), "\n")
	if got != "STOR-001 /pool high\nSTOR-002 /pool/b.qcow2 high\nSTOR-008 v info" {
		t.Errorf("failures:\n%s", got)
	}
}

func TestListenersAndFiles(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		// 0.0.0.0:16509 and 127.0.0.1:5900 listening, 10.0.0.5:5901 listening, one established.
		"proc/net/tcp": "  sl  local_address rem_address   st\n" +
			"   0: 00000000:407D 00000000:0000 0A\n   1: 0100007F:170C 00000000:0000 0A\n" +
			"   2: 0500000A:170D 00000000:0000 0A\n   3: 0500000A:170E 0600000A:D431 01\n",
		"proc/sys/net/ipv4/ip_forward":            "1",
		"proc/sys/net/ipv4/conf/all/rp_filter":    "1",
		"var/lib/libvirt/qemu/save/vm.save":       "ram",
		"etc/libvirt/qemu.conf":                   "",
		"etc/libvirt/libvirt.conf":                "",
		"etc/libvirt/qemu/vm.xml":                 "<domain/>",
		"var/lib/libvirt/qemu/snapshot/vm/s1.xml": "",
	})
	_ = os.Chmod(filepath.Join(root, "etc/libvirt/qemu.conf"), 0o600)
	_ = os.Chmod(filepath.Join(root, "var/lib/libvirt/qemu/snapshot/vm/s1.xml"), 0o600)
	inv := &Inventory{Root: root, Local: true, RemoteConf: conf(t, "libvirtd.conf", `auth_tcp = "none"`)}
	var got []string
	for _, f := range Run(inv, only("HOST-024", "STOR-004", "STOR-005", "NET-006"), nil) {
		got = append(got, f.ID+" "+f.Status+" "+f.Severity+" "+f.Detail)
	}
	want := []string{
		// 10.0.0.5:5901 has no QEMU process behind it: not a display.
		"HOST-024 fail critical plain libvirt TCP on 0.0.0.0:16509: reachable from the network",
		"STOR-004 fail high world-readable guest memory: /var/lib/libvirt/qemu/save/vm.save",
		"STOR-005 fail medium /etc/libvirt/qemu/vm.xml is world-readable (0644)",
		"NET-006 fail low ip_forward=1 though no running libvirt network routes or NATs: the host forwards packets nothing here needs",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfinementBatch(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"sys/fs/selinux/enforce": "1", "run/libvirt/qemu/a.pid": "10", "run/libvirt/qemu/b.pid": "11",
		"proc/10/attr/current": "system_u:system_r:unconfined_t:s0", "proc/11/attr/current": "system_u:system_r:svirt_t:s0:c1,c2",
		"run/libvirt/libvirt-sock": "", "run/libvirt/libvirt-admin-sock": "",
	})
	for _, l := range [][2]string{{"proc/1/ns/mnt", "mnt:[1]"}, {"proc/10/ns/mnt", "mnt:[1]"}, {"proc/11/ns/mnt", "mnt:[2]"}} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(root, l[0])), 0o755)
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(filepath.Join(root, "run/libvirt/libvirt-sock"), 0o666)
	_ = os.Chmod(filepath.Join(root, "run/libvirt/libvirt-admin-sock"), 0o755)
	label := func(l string) []libvirtxml.DomainSecLabel {
		return []libvirtxml.DomainSecLabel{{Type: "dynamic", Model: "selinux", Label: l}}
	}
	graphics := `<domain type="kvm"><name>g</name><devices>
<graphics type="vnc" passwd="secret" websocket="5700"><listen type="address" address="0.0.0.0"/></graphics>
<disk type="network" device="disk"><driver name="qemu" type="raw"/><source protocol="rbd" name="pool/img"/><target dev="vda"/></disk>
<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/g.qcow2"/>
 <backingStore type="file"><format type="qcow2"/><source file="/tmp/base.qcow2"/></backingStore><target dev="vdb"/></disk>
</devices></domain>`
	inv := &Inventory{Root: root, Local: true, QEMUConf: conf(t, "qemu.conf", ""),
		RemoteConf: conf(t, "libvirtd.conf", `auth_unix_rw = "none"`),
		Caps:       &libvirtxml.Caps{Host: libvirtxml.CapsHost{SecModel: []libvirtxml.CapsHostSecModel{{Name: "dac"}}}},
		Domains: []Domain{
			{Name: "a", Def: domain(t, `<domain type="kvm"><name>a</name></domain>`), Live: &libvirtxml.Domain{Name: "a", SecLabel: label("s0:c1,c2")}},
			{Name: "b", Def: domain(t, `<domain type="kvm"><name>b</name></domain>`), Live: &libvirtxml.Domain{Name: "b", SecLabel: label("s0:c1,c2")}},
			{Name: "g", Def: domain(t, graphics), Secure: true},
		},
		Pools: []*libvirtxml.StoragePool{{Type: "dir", Name: "p", Target: &libvirtxml.StoragePoolTarget{Path: "/pool"}}},
		Filters: map[string]*libvirtxml.NWFilter{"clean-traffic": {Name: "clean-traffic", Entries: []libvirtxml.NWFilterEntry{
			{Ref: &libvirtxml.NWFilterRef{Filter: "no-mac-spoofing"}}, {Ref: &libvirtxml.NWFilterRef{Filter: "no-ip-spoofing"}}}}},
		Secrets: []*libvirtxml.Secret{{UUID: "0f0f", Private: "no", Usage: &libvirtxml.SecretUsage{Type: "ceph", Name: "client.admin"}}},
	}
	got := strings.Join(failed(Run(inv, only("DAEMON-008", "DAEMON-009", "HOST-011", "HOST-012", "HOST-015", "HOST-026", "NET-005", "STOR-006", "STOR-009", "VM-004", "VM-005", "VM-008", "VM-009", "VM-029"), nil)), "\n")
	want := strings.Join([]string{
		"DAEMON-008 /run/libvirt/libvirt-sock critical", "DAEMON-009 /run/libvirt/libvirt-admin-sock high",
		"HOST-011 host high", "HOST-012 a high", "HOST-015 a medium",
		"NET-005 clean-traffic medium", "STOR-006 client.admin medium", "STOR-009 g medium",
		"VM-005 a high", "VM-005 b high", "VM-008 g high", "VM-009 g high", "VM-029 g medium",
	}, "\n")
	if got != want {
		t.Errorf("failures:\n%s\nwant:\n%s", got, want)
	}
}

// Every SRG mapping names a control that exists (a typo would silently tag nothing).
func TestReferencesNameControls(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range All() {
		ids[c.ID] = true
	}
	for id := range srg {
		if !ids[id] {
			t.Errorf("SRG mapping for unknown control %s", id)
		}
	}
}

// conf parses a configuration file's text as /etc/libvirt/NAME.
func conf(t *testing.T, name, text string) *Conf {
	t.Helper()
	c, err := ParseConf("/etc/libvirt/"+name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// only is the controls of these IDs.
func only(ids ...string) []Control {
	var out []Control
	for _, c := range All() {
		if slices.Contains(ids, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// actionable checks that every failure says how to fix it and where it is.
func actionable(t *testing.T, found []model.Finding) {
	t.Helper()
	for _, f := range found {
		if f.Status != "fail" {
			continue
		}
		if f.Remediation == "" || f.Location == nil || *f.Location == (model.FindingLocation{}) {
			t.Errorf("%s %s: remediation %q, location %+v", f.ID, f.Target, f.Remediation, f.Location)
		}
	}
}
