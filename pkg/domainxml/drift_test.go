package domainxml

import (
	"os"
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
