package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// vmFindings runs the given controls over one VM definition and returns its findings by ID.
func vmFindings(t *testing.T, inv *Inventory, xml string, ids ...string) map[string]model.Finding {
	t.Helper()
	def := domain(t, xml)
	inv.Domains = append(inv.Domains, Domain{Name: def.Name, UUID: def.UUID, Def: def, Secure: true})
	out := map[string]model.Finding{}
	found := Run(inv, only(ids...), nil)
	actionable(t, found)
	for _, f := range found {
		if f.Target == def.Name {
			out[f.ID] = f
		}
	}
	return out
}

// virt-install and virt-manager store every autoport display as <listen type='address'/>
// without an address: QEMU then listens on qemu.conf's vnc_listen/spice_listen, 127.0.0.1
// unless set. Not a critical finding on a clean host; one when qemu.conf opens it.
func TestDisplayWithoutAddressUsesQEMUConf(t *testing.T) {
	const xml = `<domain type="kvm"><name>vi</name><devices>
<graphics type="spice" autoport="yes"><listen type="address"/></graphics>
<graphics type="vnc" port="-1" autoport="yes"/>
</devices></domain>`
	f := vmFindings(t, &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "")}, xml, "VM-007", "VM-008")
	if f["VM-007"].Status != "pass" || f["VM-008"].Status != "pass" || !strings.Contains(f["VM-007"].Detail, "spice on 127.0.0.1") {
		t.Errorf("default listen: %+v / %+v", f["VM-007"], f["VM-008"])
	}
	f = vmFindings(t, &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "spice_listen = '0.0.0.0'\n")}, xml, "VM-007")
	if g := f["VM-007"]; g.Status != "fail" || g.Severity != "critical" || !strings.Contains(g.Detail, "spice on 0.0.0.0 without a password") ||
		g.Location == nil || g.Location.Device != "graphics spice" || g.Location.VM != "vi" {
		t.Errorf("spice_listen 0.0.0.0: %+v", g)
	}
}

// A <listen type='network'> display listens on the network's address; a socket display with a
// world-writable socket is open to every local user.
func TestDisplayOnNetworkOrSocket(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"srv/vnc.sock": ""})
	if err := os.Chmod(filepath.Join(root, "srv/vnc.sock"), 0o777); err != nil {
		t.Fatal(err)
	}
	inv := &Inventory{Root: root, Local: true, QEMUConf: conf(t, "qemu.conf", ""), Networks: []*libvirtxml.Network{
		{Name: "lan", IPs: []libvirtxml.NetworkIP{{Address: "192.168.50.1", Prefix: 24}}},
		{Name: "local", IPs: []libvirtxml.NetworkIP{{Address: "127.0.0.1", Prefix: 8}}},
	}}
	f := vmFindings(t, inv, `<domain type="kvm"><name>n</name><devices>
<graphics type="vnc" autoport="yes"><listen type="network" network="local"/></graphics>
<graphics type="vnc" autoport="yes"><listen type="network" network="lan"/></graphics>
</devices></domain>`, "VM-007")
	if g := f["VM-007"]; g.Status != "fail" || !strings.Contains(g.Detail, "vnc on 192.168.50.1 without a password") {
		t.Errorf("network listen: %+v", g)
	}
	f = vmFindings(t, inv, `<domain type="kvm"><name>s</name><devices>
<graphics type="vnc"><listen type="socket" socket="/srv/vnc.sock"/></graphics></devices></domain>`, "VM-007")
	if g := f["VM-007"]; g.Status != "fail" || g.Severity != "high" || g.Location.Path != "/srv/vnc.sock" {
		t.Errorf("world-writable socket: %+v", g)
	}
	f = vmFindings(t, inv, `<domain type="kvm"><name>u</name><devices>
<graphics type="vnc" autoport="yes"><listen type="network" network="gone"/></graphics></devices></domain>`, "VM-007")
	if g := f["VM-007"]; g.Status != "error" {
		t.Errorf("a listen on a missing network is unknown, not safe: %+v", g)
	}
}

// The older <auth> placement directly under <disk> (OpenStack writes it) authenticates too.
func TestNetworkDiskAuthUnderDisk(t *testing.T) {
	f := vmFindings(t, &Inventory{}, `<domain type="kvm"><name>os</name><devices>
<disk type="network" device="disk"><driver name="qemu" type="raw"/>
 <auth username="cinder"><secret type="ceph" uuid="0f0f0f0f-0f0f-0f0f-0f0f-0f0f0f0f0f0f"/></auth>
 <source protocol="rbd" name="volumes/v1"><host name="10.0.0.1" port="6789"/></source><target dev="vda"/></disk>
<disk type="network" device="disk"><driver name="qemu" type="raw"/>
 <source protocol="rbd" name="volumes/v2"><host name="10.0.0.1" port="6789"/></source><target dev="vdb"/></disk>
</devices></domain>`, "VM-029")
	if g := f["VM-029"]; g.Status != "fail" || strings.Contains(g.Detail, "v1") || g.Location.Device != "disk vdb" {
		t.Errorf("VM-029: %+v", g)
	}
}

// Definition conditions the controls used to miss.
func TestDefinitionEvasions(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"dev/sdb": "", "dev/sdb1": "", "sys/class/block/sdb/size": "", "sys/class/block/sdb1/partition": "1"})
	for _, l := range [][2]string{{"dev/disk/by-id/ata-DISK", "../../sdb"}, {"dev/block/8:16", "../sdb"}, {"dev/disk/by-id/ata-DISK-part1", "../../sdb1"}} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(root, l[0])), 0o755)
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, id, devices, extra, sev, device string
	}{
		{"parallel", "VM-011", `<parallel type="tcp"><source mode="bind" host="0.0.0.0" service="2445"/></parallel>`, "", "critical", "parallel 0"},
		{"redirdev-tcp", "VM-011", `<controller type="usb" model="qemu-xhci"/><redirdev bus="usb" type="tcp"><source mode="bind" host="0.0.0.0" service="4000"/></redirdev>`, "", "critical", "redirdev 0"},
		{"smartcard-tcp", "VM-011", `<smartcard mode="passthrough" type="tcp"><source mode="bind" host="::" service="2001"/><protocol type="raw"/></smartcard>`, "", "critical", "smartcard 0"},
		{"rng-egd-tcp", "VM-011", `<rng model="virtio"><backend model="egd" type="tcp"><source mode="bind" host="10.0.0.5" service="708"/><protocol type="raw"/></backend></rng>`, "", "critical", "rng 0"},
		{"rng-egd-udp", "VM-011", `<rng model="virtio"><backend model="egd" type="udp"><source mode="bind" host="0.0.0.0" service="709"/><source mode="connect" host="10.0.0.2" service="710"/></backend></rng>`, "", "critical", "rng 0"},
		{"dac-uid0", "VM-003", "", `<seclabel type="static" model="dac" relabel="yes"><label>+0:+107</label></seclabel>`, "critical", "seclabel dac"},
		{"dac-gid0", "VM-003", "", `<seclabel type="static" model="dac" relabel="yes"><label>+107:+0</label></seclabel>`, "high", "seclabel dac"},
		{"qemu-caps", "VM-006", "", `<qemu:capabilities xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><qemu:del capability="seccomp-sandbox"/></qemu:capabilities>`, "high", "qemu:capabilities"},
		{"qemu-override", "VM-006", "", `<qemu:override xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><qemu:device alias="ua-x"><qemu:frontend><qemu:property name="p" type="string" value="v"/></qemu:frontend></qemu:device></qemu:override>`, "high", "qemu:override"},
		{"disk-relabel", "VM-004", `<disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/pool/a.qcow2"><seclabel model="selinux" relabel="no"/></source><target dev="vda"/></disk>`, "", "medium", "disk vda"},
		{"nic-hostdev", "VM-014", `<interface type="hostdev" managed="yes"><mac address="52:54:00:00:00:01"/><source><address type="pci" domain="0x0000" bus="0x03" slot="0x00" function="0x1"/></source></interface>`, "", "", "interface 52:54:00:00:00:01"},
		{"scsi-hostdev", "VM-016", `<hostdev mode="subsystem" type="scsi"><source><adapter name="scsi_host0"/><address bus="0" target="0" unit="0"/></source></hostdev>`, "", "medium", "hostdev 0"},
		{"by-id", "VM-017", `<disk type="block" device="disk"><driver name="qemu" type="raw"/><source dev="/dev/disk/by-id/ata-DISK-part1"/><target dev="vda"/></disk>
<disk type="block" device="disk"><driver name="qemu" type="raw"/><source dev="/dev/disk/by-id/ata-DISK"/><target dev="vdb"/></disk>`, "", "medium", "disk vdb"},
		{"dev-block", "VM-017", `<disk type="block" device="disk"><driver name="qemu" type="raw"/><source dev="/dev/block/8:16"/><target dev="vdc"/></disk>`, "", "medium", "disk vdc"},
		{"enrolled-keys", "VM-022", "", `<os firmware="efi"><type arch="x86_64">hvm</type><firmware><feature enabled="yes" name="secure-boot"/><feature enabled="no" name="enrolled-keys"/></firmware></os>`, "medium", "os firmware"},
		// Every device is evaluated: the worse one, later, sets the severity and the location.
		{"usb-then-redir", "VM-015", `<hostdev mode="subsystem" type="usb"><source><vendor id="0x1"/><product id="0x2"/></source></hostdev><redirdev bus="usb" type="spicevmc"/>`, "", "medium", "redirdev 0"},
		{"share-then-etc", "VM-018", `<filesystem type="mount"><source dir="/srv/data"/><target dir="data"/></filesystem><filesystem type="mount"><source dir="/etc"/><target dir="etc"/></filesystem>`, "", "high", "filesystem /etc"},
		{"pty-then-tcp", "VM-011", `<serial type="pty"/><serial type="tcp"><source mode="bind" host="127.0.0.1" service="1"/></serial><serial type="udp"><source mode="bind" host="0.0.0.0" service="2"/><source mode="connect" host="10.0.0.2" service="3"/></serial>`, "", "critical", "serial 2"},
	}
	for _, c := range cases {
		xml := `<domain type="kvm"><name>` + c.name + `</name>` + c.extra + `<devices>` + c.devices + `</devices></domain>`
		f := vmFindings(t, &Inventory{Root: root, Local: true, QEMUConf: conf(t, "qemu.conf", "")}, xml, c.id)[c.id]
		want := c.sev
		if want == "" {
			want = "high" // VM-014 with no IOMMU groups under the fixture root
		}
		if f.Status != "fail" || f.Severity != want || f.Location == nil || f.Location.Device != c.device || f.Location.VM != c.name {
			t.Errorf("%s: %s %s %s at %+v: %s", c.name, c.id, f.Status, f.Severity, f.Location, f.Detail)
		}
	}
}

// VM-016 names the attributes a disk sets, not an empty one it lacks.
func TestRawSCSIDiskDetail(t *testing.T) {
	xml := `<domain type="kvm"><name>lun</name><devices><disk type="block" device="lun" rawio="yes"><source dev="/dev/sdb"/><target dev="sda" bus="scsi"/></disk></devices></domain>`
	f := vmFindings(t, &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "")}, xml, "VM-016")["VM-016"]
	if f.Status != "fail" || f.Detail != `disk sda with rawio="yes" (QEMU gets CAP_SYS_RAWIO)` {
		t.Errorf("VM-016: %s %q", f.Status, f.Detail)
	}
}

// A VM whose definition could not be read is an error row of every VM control, never
// skipped or silently absent; a failed filter listing is an error of VM-025.
func TestUnreadableDefinitionIsError(t *testing.T) {
	inv := &Inventory{Domains: []Domain{{Name: "gone", Err: errors.New("virDomainGetXMLDesc: internal error")}}, FiltersErr: errors.New("nwfilter driver failed")}
	for _, f := range Run(inv, All(), []string{"vm"}) {
		if f.ID == "VM-005" || f.ID == "VM-024" || f.ID == "VM-031" { // running VMs only; KSM on only; local host only
			continue
		}
		if f.Status != "error" {
			t.Errorf("%s: %s %s", f.ID, f.Status, f.Detail)
		}
		if f.ID != "VM-025" && !strings.Contains(f.Detail, "internal error") {
			t.Errorf("%s detail %q", f.ID, f.Detail)
		}
	}
}

// Every passing row says what was found, not the control's title.
func TestPassesSayWhatWasFound(t *testing.T) {
	inv := &Inventory{QEMUConf: conf(t, "qemu.conf", ""), Filters: map[string]*libvirtxml.NWFilter{}}
	for _, name := range []string{"base", "web", "workstation"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/golden", name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		inv.Domains = append(inv.Domains, Domain{Name: name, Def: domain(t, string(b)), Secure: true})
	}
	for _, f := range Run(inv, All(), nil) {
		if f.Status == "pass" && (f.Detail == "" || f.Detail == f.Title) {
			t.Errorf("%s %s passes with detail %q", f.ID, f.Target, f.Detail)
		}
	}
}

// The information controls: the graphics inventory lists every display with its ports and
// resolved listen; a host-passthrough CPU and a guest agent are noted at info.
func TestVMInventoryControls(t *testing.T) {
	f := vmFindings(t, &Inventory{Local: true, QEMUConf: conf(t, "qemu.conf", "")}, `<domain type="kvm"><name>i</name><cpu mode="host-passthrough"/><devices>
<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0"/></channel>
<graphics type="vnc" port="5907" autoport="no" websocket="5707"><listen type="address"/></graphics></devices></domain>`, "VM-010", "VM-013", "VM-028")
	if g := f["VM-010"]; g.Status != "pass" || g.Detail != "vnc port 5907 autoport no websocket 5707; vnc listens on 127.0.0.1" {
		t.Errorf("VM-010: %+v", g)
	}
	for _, id := range []string{"VM-013", "VM-028"} {
		if g := f[id]; g.Status != "fail" || g.Severity != "info" || g.Location == nil {
			t.Errorf("%s: %+v", id, g)
		}
	}
}

// A UEFI guest with a TPM 1.2 emulator has no TPM 2.0 for measured boot.
func TestUEFIWithTPM12(t *testing.T) {
	f := vmFindings(t, &Inventory{}, `<domain type="kvm"><name>old</name><os firmware="efi"><type arch="x86_64">hvm</type></os><devices>
<tpm model="tpm-tis"><backend type="emulator" version="1.2"/></tpm></devices></domain>`, "VM-033")
	if g := f["VM-033"]; g.Status != "fail" || !strings.Contains(g.Detail, "TPM 1.2") {
		t.Errorf("VM-033: %+v", g)
	}
}

// On a remote host neither its qemu.conf nor its /dev, /sys or sockets can be read from here:
// what depends on them is never a pass (nor judged by this machine's files), while what the
// definitions say still is.
func TestRemoteHostIsNotJudgedByThisMachine(t *testing.T) {
	const display = `<domain type="kvm"><name>d</name><devices><graphics type="vnc" autoport="yes" websocket="5701"><listen type="address"/></graphics></devices></domain>`
	f := vmFindings(t, &Inventory{}, display, "VM-007", "VM-008", "VM-009")
	for _, id := range []string{"VM-007", "VM-008", "VM-009"} {
		if g := f[id]; g.Status != "error" || !strings.Contains(g.Detail, "qemu.conf's vnc_listen says, which cannot be read on a remote host") {
			t.Errorf("stopped VM, address from a remote qemu.conf: %s %+v", id, g)
		}
	}
	// Running, libvirt says where it listens: that is judged.
	for live, want := range map[string]string{"0.0.0.0": "fail", "127.0.0.1": "pass"} {
		def := domain(t, display)
		running := domain(t, strings.Replace(display, `<listen type="address"/>`, `<listen type="address" address="`+live+`"/>`, 1))
		found := Run(&Inventory{Domains: []Domain{{Name: "d", Def: def, Live: running, Secure: true}}}, only("VM-007"), nil)
		if len(found) != 1 || found[0].Status != want {
			t.Errorf("running on %s: %+v, want %s", live, found, want)
		}
	}
	f = vmFindings(t, &Inventory{}, `<domain type="kvm"><name>s</name><devices>
<graphics type="vnc"><listen type="socket" socket="/srv/vnc.sock"/></graphics></devices></domain>`, "VM-007")
	if g := f["VM-007"]; g.Status != "error" || !strings.Contains(g.Detail, "its mode cannot be read on a remote host") {
		t.Errorf("socket on a remote host: %+v", g)
	}
	disk := func(dev string) string {
		return `<domain type="kvm"><name>b</name><devices><disk type="block" device="disk"><source dev="` + dev + `"/><target dev="vda" bus="virtio"/></disk></devices></domain>`
	}
	// This machine's sdb is a partition (say): that says nothing of the remote host's.
	here := t.TempDir()
	write(t, here, map[string]string{"sys/class/block/sdb/partition": "1"})
	for dev, want := range map[string]string{"/dev/sdb": "fail", "/dev/sdb1": "pass", "/dev/disk/by-id/wwn-0x5000": "error"} {
		if g := vmFindings(t, &Inventory{Root: here}, disk(dev), "VM-017")["VM-017"]; g.Status != want {
			t.Errorf("VM-017 of %s on a remote host: %+v, want %s", dev, g, want)
		}
	}
}
