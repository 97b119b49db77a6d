package domainxml

import (
	"os"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// definition reads a domain as libvirt wrote it back.
func definition(t *testing.T, file string) *libvirtxml.Domain {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(string(b)); err != nil {
		t.Fatal(err)
	}
	return &d
}

func built(t *testing.T, profileFile, name string) *libvirtxml.Domain {
	t.Helper()
	var d libvirtxml.Domain
	if err := d.Unmarshal(render(t, profileFile)); err != nil {
		t.Fatal(err)
	}
	d.Name = name
	return &d
}

// testdata/drift/*.libvirt9.xml are the golden domains as libvirt 9.0's QEMU driver stored them
// after `virsh define` (it added addresses, controllers, PS/2 inputs, audio, an expanded machine,
// MACs, a clock, migratable, serial targets, video RAM sizes): none of that is drift.
func TestCompareSetsAsideWhatLibvirtAdds(t *testing.T) {
	for _, c := range []struct {
		profile, live, name string
		host                func(*libvirtxml.Domain)
	}{
		{"base", "base", "t-drift-base", nil},
		{"web", "web", "t-drift-web01", nil},
		// Defined on a host without KVM or swtpm: as a qemu domain, without its TPM.
		{"workstation", "workstation", "drift-ws01", func(d *libvirtxml.Domain) { d.Type, d.Devices.TPMs = "qemu", nil }},
	} {
		t.Run(c.profile, func(t *testing.T) {
			desired := built(t, profiles+"/"+c.profile+".toml", c.name)
			if c.host != nil {
				c.host(desired)
			}
			live := definition(t, "../../testdata/drift/"+c.live+".libvirt9.xml")
			MACsFrom(desired, live)
			changes, err := Compare(desired, live)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range changes {
				t.Errorf("%s %s: live %q, profile %q", ch.Key, ch.Kind, ch.Live, ch.Desired)
			}
		})
	}
}

// Hand edits of every kind are reported, each as its own path; libvirt's own additions around
// them (the PCI bridges it added for the watchdog, addresses) are not.
func TestCompareReportsHandEdits(t *testing.T) {
	desired := built(t, profiles+"/web.toml", "t-drift-web01")
	live := definition(t, "../../testdata/drift/web.handedited.xml")
	MACsFrom(desired, live)
	changes, err := Compare(desired, live)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Key] = c
	}
	want := []Change{
		{Key: "description", Kind: Changed, Live: "edited by hand; front web server", Desired: "front web server", Restart: false},
		{Key: "on_reboot", Kind: Changed, Live: "destroy", Desired: "restart", Restart: true},
		{Key: "on_crash", Kind: Changed, Live: "coredump-restart", Desired: "destroy", Restart: true},
		{Key: "clock", Kind: Added, Live: "<clock offset='localtime'><timer name='hpet' present='no'/></clock>", Restart: true},
		{Key: "features.vmport", Kind: Added, Live: "<vmport state='off'/>", Restart: true},
		{Key: "features.hyperv", Kind: Added, Live: "<hyperv mode='custom'><relaxed state='on'/></hyperv>", Restart: true},
		{Key: "devices.disk[vda].driver.cache", Kind: Added, Live: "none", Restart: true},
		{Key: "devices.disk[vda].driver.io", Kind: Added, Live: "native", Restart: true},
		{Key: "devices.disk[vdb].boot", Kind: Added, Live: "<boot order='3'/>", Restart: true},
		{Key: "devices.controller[0]", Kind: Added, Live: "scsi virtio-scsi", Restart: true},
		{Key: "devices.filesystem[0]", Kind: Added, Live: "mount /srv/share -> share", Restart: true},
		{Key: "devices.serial[1]", Kind: Added, Live: "file /var/log/web01-serial.log", Restart: true},
		{Key: "devices.channel[2]", Kind: Added, Live: "pty -> org.example.debug", Restart: true},
		{Key: "devices.hostdev[0]", Kind: Added, Live: "usb 046d:c52b", Restart: true},
		{Key: "devices.watchdog[0]", Kind: Added, Live: "i6300esb", Restart: true},
		{Key: "seclabel", Kind: Added, Live: "none apparmor", Restart: true},
	}
	for _, w := range want {
		if g, ok := got[w.Key]; !ok {
			t.Errorf("%s: not reported", w.Key)
		} else if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", w.Key, g, w)
		}
		delete(got, w.Key)
	}
	for k, g := range got {
		t.Errorf("unexpected %s: %+v", k, g)
	}
}

// Firmware auto-selection fills in the loader (path, type, read-only) and the NVRAM of a
// Secure Boot VM whose profile only asks for secure='yes': not drift.
func TestCompareSetsAsideChosenFirmware(t *testing.T) {
	desired := built(t, profiles+"/workstation.toml", "ws01")
	live := built(t, profiles+"/workstation.toml", "ws01")
	live.OS.Loader = &libvirtxml.DomainLoader{Path: "/usr/share/OVMF/OVMF_CODE.secboot.fd", Readonly: "yes", Secure: "yes", Type: "pflash"}
	live.OS.NVRam = &libvirtxml.DomainNVRam{NVRam: "/var/lib/libvirt/qemu/nvram/ws01_VARS.fd", Template: "/usr/share/OVMF/OVMF_VARS.secboot.fd"}
	changes, err := Compare(desired, live)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		t.Errorf("%s %s: live %q, profile %q", c.Key, c.Kind, c.Live, c.Desired)
	}
	live.OS.Loader.Secure = "no"
	if changes, _ := Compare(desired, live); len(changes) != 1 || changes[0].Key != "os.loader.secure" {
		t.Errorf("secure boot turned off by hand: %+v", changes)
	}
}

// A balloon attribute libvirt does not fill in is drift when set by hand; its default value
// stated on one side only is not.
func TestCompareBalloonOptions(t *testing.T) {
	desired := built(t, profiles+"/web.toml", "t-drift-web01")
	live := built(t, profiles+"/web.toml", "t-drift-web01")
	live.Devices.MemBalloon.FreePageReporting = "off"
	if changes, _ := Compare(desired, live); len(changes) != 0 {
		t.Errorf("the default stated: %+v", changes)
	}
	live.Devices.MemBalloon.AutoDeflate = "on"
	changes, _ := Compare(desired, live)
	if len(changes) != 1 || changes[0].Key != "devices.memballoon[0].autodeflate" || changes[0].Live != "on" || changes[0].Kind != Added {
		t.Errorf("autodeflate set by hand: %+v", changes)
	}
}

// Queues set by hand on a NIC whose profile renders a driver (vhost) are drift; libvirt does
// not fill them in, and a single queue is what none means.
func TestCompareNICQueues(t *testing.T) {
	desired := built(t, profiles+"/workstation.toml", "ws01")
	live := built(t, profiles+"/workstation.toml", "ws01")
	live.Devices.Interfaces[0].Driver.Queues = 1
	if changes, _ := Compare(desired, live); len(changes) != 0 {
		t.Errorf("one queue stated: %+v", changes)
	}
	live.Devices.Interfaces[0].Driver.Queues = 4
	changes, _ := Compare(desired, live)
	if len(changes) != 1 || changes[0].Key != "devices.interface[0].driver.queues" || changes[0].Live != "4" || changes[0].Kind != Added {
		t.Errorf("queues set by hand: %+v", changes)
	}
}

// rulesDomain is a small definition around the XML given for the top level and for <devices>.
func rulesDomain(t *testing.T, top, devices string) *libvirtxml.Domain {
	t.Helper()
	x := "<domain type='qemu'><name>t-drift-rules</name><memory unit='KiB'>131072</memory>" +
		"<vcpu placement='static'>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>" +
		top + "<devices>" + devices + "</devices></domain>"
	var d libvirtxml.Domain
	if err := d.Unmarshal(x); err != nil {
		t.Fatalf("%v\n%s", err, x)
	}
	return &d
}

// fillIn is one check of a rule in libvirtDefaults: desired is what a profile renders, live the
// definition libvirt keeps; key is the one change expected, "" for none.
type fillIn struct {
	rule          string
	desired, live side
	key           string
}

type side struct{ top, devices string }

func checkFillIns(t *testing.T, cases []fillIn) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			desired := rulesDomain(t, c.desired.top, c.desired.devices)
			live := rulesDomain(t, c.live.top, c.live.devices)
			changes, err := Compare(desired, live)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, ch := range changes {
				keys = append(keys, ch.Key+" "+ch.Kind+" "+ch.Live)
			}
			switch {
			case c.key == "" && len(changes) != 0:
				t.Errorf("libvirt's own fill-in taken for drift: %v", keys)
			case c.key != "" && (len(changes) != 1 || changes[0].Key != c.key):
				t.Errorf("want %s only, got %v", c.key, keys)
			}
		})
	}
}

// What libvirt 9.0 does not write into a definition on its own (`virsh define` of a domain
// without it, read back with INACTIVE|SECURE) is drift when it appears: a person put it there.
func TestCompareLibvirtFillsNothing(t *testing.T) {
	checkFillIns(t, []fillIn{
		{"channel state", side{devices: agentChannel("")}, side{devices: agentChannel("<target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>")}, "devices.channel[0].target.state"},
		{"channel source", side{devices: agentChannel("")}, side{devices: agentChannel("<source mode='bind' path='/run/agent.sock'/>")}, "devices.channel[0].source"},
		{"channel source path", side{devices: agentChannel("<source mode='bind'/>")}, side{devices: agentChannel("<source mode='bind' path='/run/agent.sock'/>")}, "devices.channel[0].source.path"},
		{"interface portgroup", side{devices: "<interface type='network'><source network='lan'/><model type='virtio'/></interface>"},
			side{devices: "<interface type='network'><source network='lan' portgroup='admin'/><model type='virtio'/></interface>"}, "devices.interface[0].source.portgroup"},
		{"interface target", side{devices: "<interface type='network'><source network='lan'/><model type='virtio'/></interface>"},
			side{devices: "<interface type='network'><source network='lan'/><target dev='tap-web'/><model type='virtio'/></interface>"}, "devices.interface[0].target"},
		{"interface target named by libvirt", side{devices: "<interface type='network'><source network='lan'/><model type='virtio'/></interface>"},
			side{devices: "<interface type='network'><source network='lan'/><target dev='vnet3'/><model type='virtio'/></interface>"}, ""},
		{"interface target named by the test driver", side{devices: "<interface type='network'><source network='lan'/><model type='virtio'/></interface>"},
			side{devices: "<interface type='network'><source network='lan'/><target dev='testnet0'/><model type='virtio'/></interface>"}, ""},
		{"fs driver", side{devices: mountFS("passthrough")}, side{devices: "<filesystem type='mount' accessmode='passthrough'><driver type='path' wrpolicy='immediate'/><source dir='/srv'/><target dir='share'/></filesystem>"}, "devices.filesystem[0].driver"},
		{"fs driver type", side{devices: "<filesystem type='mount' accessmode='passthrough'><driver wrpolicy='immediate'/><source dir='/srv'/><target dir='share'/></filesystem>"},
			side{devices: "<filesystem type='mount' accessmode='passthrough'><driver type='path' wrpolicy='immediate'/><source dir='/srv'/><target dir='share'/></filesystem>"}, "devices.filesystem[0].driver.type"},
		{"fs binary", side{devices: virtiofs("<binary/>")}, side{devices: virtiofs("<binary path='/opt/virtiofsd'/>")}, "devices.filesystem[0].binary.path"},
		{"hostdev driver", side{devices: pciHostdev("yes")}, side{devices: strings.Replace(pciHostdev("yes"), "<source>", "<driver name='kvm'/><source>", 1)}, "devices.hostdev[0].driver"},
		{"hostdev startupPolicy", side{devices: usbHostdev("")}, side{devices: usbHostdev(" startupPolicy='optional'")}, "devices.hostdev[0].source.startupPolicy"},
		{"sound audio", side{devices: "<sound model='ich9'/>"}, side{devices: "<sound model='ich9'><audio id='1'/></sound>"}, "devices.sound[0].audio"},
		{"listen network", side{devices: "<graphics type='vnc' autoport='yes'><listen type='network'/></graphics>"},
			side{devices: "<graphics type='vnc' autoport='yes'><listen type='network' network='mgmt'/></graphics>"}, "devices.graphics[0].listen.network"},
		{"graphics image", side{devices: spice("")}, side{devices: spice("<image compression='off'/>")}, "devices.graphics[0].image"},
		{"graphics gl", side{devices: spice("")}, side{devices: spice("<gl enable='yes'/>")}, "devices.graphics[0].gl"},
		{"cpu topology", side{top: "<cpu mode='host-passthrough' check='none' migratable='on'/>"},
			side{top: "<cpu mode='host-passthrough' check='none' migratable='on'><topology sockets='1' dies='1' cores='1' threads='1'/></cpu>"}, "cpu.topology"},
	})
}

// Where libvirt 9.0 fills in one fixed value (a domain defined without the attribute, read back
// with INACTIVE|SECURE), that value is what absence means: libvirt's fill-in and the value
// stated are not drift; any other value set by hand is.
func TestCompareLibvirtDefaults(t *testing.T) {
	passthrough := side{top: "<cpu mode='host-passthrough' check='none'/>"}
	vnc := side{devices: "<graphics type='vnc' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>"}
	direct := side{devices: "<interface type='direct'><source dev='eth0'/><model type='virtio'/></interface>"}
	hyperv := side{top: "<features><hyperv><relaxed state='on'/></hyperv></features>"}
	checkFillIns(t, []fillIn{
		{"cpu migratable filled", passthrough, side{top: "<cpu mode='host-passthrough' check='none' migratable='on'/>"}, ""},
		{"cpu migratable off", passthrough, side{top: "<cpu mode='host-passthrough' check='none' migratable='off'/>"}, "cpu.migratable"},
		{"cpu migratable off, maximum", side{top: "<cpu mode='maximum' check='none'/>"}, side{top: "<cpu mode='maximum' check='none' migratable='off'/>"}, "cpu.migratable"},
		{"graphics port filled", vnc, side{devices: "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>"}, ""},
		{"graphics port pinned", vnc, side{devices: "<graphics type='vnc' port='5905' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>"}, "devices.graphics[0].port"},
		{"hostdev managed filled", side{devices: pciHostdev("")}, side{devices: pciHostdev("no")}, ""},
		{"hostdev managed yes", side{devices: pciHostdev("")}, side{devices: pciHostdev("yes")}, "devices.hostdev[0].managed"},
		{"hostdev managed no stated", side{devices: pciHostdev("no")}, side{devices: pciHostdev("")}, ""},
		{"direct mode filled", direct, side{devices: "<interface type='direct'><source dev='eth0' mode='vepa'/><model type='virtio'/></interface>"}, ""},
		{"direct mode bridge", direct, side{devices: "<interface type='direct'><source dev='eth0' mode='bridge'/><model type='virtio'/></interface>"}, "devices.interface[0].source.mode"},
		{"watchdog action filled", side{devices: "<watchdog model='i6300esb'/>"}, side{devices: "<watchdog model='i6300esb' action='reset'/>"}, ""},
		{"watchdog action poweroff", side{devices: "<watchdog model='i6300esb'/>"}, side{devices: "<watchdog model='i6300esb' action='poweroff'/>"}, "devices.watchdog[0].action"},
		{"disk driver filled", side{devices: fileDisk("")}, side{devices: fileDisk("qemu")}, ""},
		{"disk driver other", side{devices: fileDisk("")}, side{devices: fileDisk("tap")}, "devices.disk[vda].driver.name"},
		{"hyperv mode filled", hyperv, side{top: "<features><hyperv mode='custom'><relaxed state='on'/></hyperv></features>"}, ""},
		{"hyperv mode passthrough", hyperv, side{top: "<features><hyperv mode='passthrough'><relaxed state='on'/></hyperv></features>"}, "features.hyperv.mode"},
		{"redirdev bus filled", side{devices: "<redirdev type='spicevmc'/>"}, side{devices: "<redirdev bus='usb' type='spicevmc'/>"}, ""},
		{"fs accessmode filled", side{devices: mountFS("")}, side{devices: mountFS("passthrough")}, ""},
		{"fs accessmode mapped", side{devices: mountFS("")}, side{devices: mountFS("mapped")}, "devices.filesystem[0].accessmode"},
	})
}

func pciHostdev(managed string) string {
	m := ""
	if managed != "" {
		m = " managed='" + managed + "'"
	}
	return "<hostdev mode='subsystem' type='pci'" + m + "><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>"
}

func usbHostdev(policy string) string {
	return "<hostdev mode='subsystem' type='usb' managed='no'><source" + policy + "><vendor id='0x046d'/><product id='0xc52b'/></source></hostdev>"
}

func fileDisk(driver string) string {
	n := ""
	if driver != "" {
		n = " name='" + driver + "'"
	}
	return "<disk type='file' device='disk'><driver" + n + " type='qcow2'/><source file='/var/lib/libvirt/images/a.qcow2'/><target dev='vda' bus='virtio'/></disk>"
}

func mountFS(mode string) string {
	m := ""
	if mode != "" {
		m = " accessmode='" + mode + "'"
	}
	return "<filesystem type='mount'" + m + "><source dir='/srv'/><target dir='share'/></filesystem>"
}

func virtiofs(binary string) string {
	return "<filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/>" + binary + "<source dir='/srv'/><target dir='share'/></filesystem>"
}

func agentChannel(inner string) string {
	if !strings.Contains(inner, "<target") {
		inner += "<target type='virtio' name='org.qemu.guest_agent.0'/>"
	}
	return "<channel type='unix'>" + inner + "</channel>"
}

func spice(inner string) string {
	return "<graphics type='spice' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/>" + inner + "</graphics>"
}
