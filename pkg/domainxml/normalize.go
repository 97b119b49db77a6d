package domainxml

import (
	"strconv"
	"strings"
)

// Normalizer sets aside what libvirt writes into a definition on its own, so that comparing a
// profile's rendered domain with the persistent definition libvirt keeps shows only what a
// person (or another tool) changed. It knows four classes of libvirt additions:
//
//   - generated elements: device addresses and aliases, the emulator, the controllers and
//     implicit PS/2 inputs libvirt adds for the machine type, audio backends chosen to match
//     the graphics, default (dynamic, unlabelled) security labels, the default UTC clock, the
//     resource partition, empty backing-store markers. They are removed from both sides.
//   - canonical forms: sizes in any unit become KiB, expanded machine names (pc-q35-7.2) their
//     family (q35), an absent vCPU "current" the vCPU count, duplicated listen attributes go.
//   - filled-in values: attributes and child elements libvirt fills in where the profile left
//     them out, with a value that depends on the machine, the host or the rest of the
//     definition (a serial port's target, a UEFI loader and NVRAM chosen by firmware
//     auto-selection, video RAM sizes by video model). They are ignored only when the rendered
//     side leaves them out; when it says something, it must match. A display password counts
//     among them although libvirt fills none: no profile sets one, apply keeps it
//     (KeepDisplayPasswords), and a read-only connection cannot see it.
//   - defaults: attributes whose absence means one known value (a hostdev's managed='no', a
//     watchdog's action='reset'): libvirt's fill-in and that value stated are not drift, any
//     other value is.
//
// Anything else that differs is drift. The tables below are the whole of that knowledge; each
// entry was checked against what libvirt 9.0 writes back for a domain defined without it.
type Normalizer struct {
	// generated says whether an element at path (names from the root, "/"-separated, the
	// root itself left out) is one libvirt makes itself.
	generated func(path string, n, parent *node) bool
	// filledAttrs lists, per element path, the attributes libvirt fills in ("*": all).
	filledAttrs map[string][]string
	// filledKids lists, per element path, the child elements libvirt fills in.
	filledKids map[string][]string
	// defaultAttrs lists, per element path, attributes whose absence means a known value: the
	// side that leaves one out agrees with a side that states that value, and with no other
	// (a balloon's autodeflate="on" set by hand is drift; "off" is what absent means).
	defaultAttrs map[string]map[string]string
	// filledText lists the elements whose text libvirt fills in (firmware auto-selection
	// writes the loader's and the NVRAM's paths).
	filledText []string
}

// libvirtDefaults is the normaliser for what libvirt 9 and later write.
var libvirtDefaults = Normalizer{
	generated: generatedByLibvirt,
	// Each rule below is kept because the value libvirt 9.0 fills in depends on context (what
	// it wrote for a domain defined without it is in the comment). What libvirt does not fill
	// has no place here, display passwords aside (see above); what it fills with one fixed
	// value belongs in defaultAttrs.
	filledAttrs: map[string][]string{
		// Firmware auto-selection: what the host's firmware descriptors offer (nothing where
		// there are none).
		"os/loader": {"*"},
		"os/nvram":  {"*"},
		// check: none for host-passthrough, maximum and (TCG) custom; partial for host-model.
		"cpu": {"check"},
		// placement: static, or auto when <numatune> places memory automatically.
		"vcpu": {"placement"},
		// autoport: yes for VNC without a port, no with one, nothing for SPICE; listen: a copy
		// of the first <listen> address. Passwords are not filled: see KeepDisplayPasswords.
		"devices/graphics": {"autoport", "listen", "passwd", "passwdValidTo"},
		// primary='yes' on the first video only; RAM sizes by model (qxl ram/vram 65536,
		// vgamem 16384; vga, cirrus, bochs vram 16384; virtio none).
		"devices/video/model": {"primary", "vram", "ram", "vgamem"},
		// port: the console's or serial port's index; type and model: by architecture
		// (isa-serial on x86, others elsewhere).
		"devices/console/target":      {"port"},
		"devices/serial/target":       {"port", "type"},
		"devices/serial/target/model": {"*"},
		// version: by model in 9.0 (tpm-crb 2.0, tpm-tis and no model 1.2).
		"devices/tpm/backend": {"version"},
		// bus: by input type and architecture (x86: tablet usb, mouse and keyboard ps2).
		"devices/input": {"bus"},
		// PCI topology: a root port's chassis and port follow its index and slot.
		"devices/controller/target": {"*"},
		// model: by machine (isa on x86, pseries, s390).
		"devices/panic": {"model"},
	},
	defaultAttrs: map[string]map[string]string{
		"devices/memballoon":       {"autodeflate": "off", "freePageReporting": "off"},
		"devices/interface/driver": {"queues": "1"},
		// What libvirt 9.0 writes when the attribute is left out, whatever the machine or host.
		// migratable: written for host-passthrough; for maximum nothing is written, and QEMU's
		// host and max CPUs are migratable unless told otherwise.
		"cpu": {"migratable": "on"},
		// port: -1 (automatic) for VNC, which canonical removes; SPICE gets none.
		"devices/graphics":         {"port": "-1"},
		"devices/hostdev":          {"managed": "no"},
		"devices/interface/source": {"mode": "vepa"}, // direct (macvtap) NICs; no other type has a mode to fill
		"devices/watchdog":         {"action": "reset"},
		"devices/disk/driver":      {"name": "qemu"},
		"features/hyperv":          {"mode": "custom"},
		"devices/redirdev":         {"bus": "usb"},
		"devices/filesystem":       {"accessmode": "passthrough"}, // 9p and virtiofs alike
	},
	filledText: []string{"os/loader", "os/nvram"},
	filledKids: map[string][]string{
		// loader and nvram: firmware auto-selection; boot: <boot dev='hd'/> only when no
		// device has a boot order.
		"os": {"loader", "nvram", "boot"},
		// model: written only when <cpu> is absent, by domain type (qemu64 for TCG).
		"cpu": {"model"},
		// target and its model: by architecture and index, as for the attributes above.
		"devices/serial":        {"target"},
		"devices/console":       {"target"},
		"devices/serial/target": {"model"},
		// model: by architecture (rtl8139 on x86).
		"devices/interface": {"model"},
		// listen: <listen type='address'/> for VNC, type='none' for SPICE without autoport.
		"devices/graphics": {"listen"},
	},
}

// generatedByLibvirt is the first class above: elements libvirt adds wherever they are.
func generatedByLibvirt(path string, n, parent *node) bool {
	switch path {
	case "uuid", "metadata", "devices/emulator", "genid":
		return true
	case "resource":
		p := n.child("partition")
		return len(n.kids) == 1 && p != nil && p.text == "/machine"
	case "clock":
		return n.attrs["offset"] == "utc" && len(n.kids) == 0 && len(n.attrs) == 1
	case "seclabel":
		// A dynamic label with nothing pinned is what the security driver writes by default.
		return n.attrs["type"] == "dynamic" && n.child("label") == nil && n.child("baselabel") == nil &&
			n.attrs["relabel"] != "no"
	case "devices/controller":
		return generatedController(n)
	case "devices/input":
		// x86 machines always have a PS/2 mouse and keyboard; libvirt lists them.
		return n.attrs["bus"] == "ps2" && (n.attrs["type"] == "mouse" || n.attrs["type"] == "keyboard")
	case "devices/audio":
		// The backend libvirt picks for the display; one a person sets has more than an id.
		t := n.attrs["type"]
		return len(n.kids) == 0 && (t == "none" || t == "spice")
	case "devices/disk/backingStore":
		return len(n.kids) == 0 && len(n.attrs) == 0
	case "devices/interface/target":
		// A tap named by libvirt: vnetN, macvtapN, macvlanN (the QEMU driver drops these names
		// on define, so only a running domain's live XML has them) or the test driver's
		// testnetN (kept in its definitions). A name a person chose is drift.
		dev := n.attrs["dev"]
		return len(n.attrs) == 1 && len(n.kids) == 0 && (strings.HasPrefix(dev, "vnet") ||
			strings.HasPrefix(dev, "macvtap") || strings.HasPrefix(dev, "macvlan") || strings.HasPrefix(dev, "testnet"))
	}
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch last {
	case "alias":
		return true
	case "address":
		// A device's own address in the guest, not a hostdev's source address.
		return strings.Count(path, "/") == 2 && strings.HasPrefix(path, "devices/")
	}
	return false
}

// generatedController is a controller libvirt adds for the machine or for the devices on it:
// the PCI(e) topology, and the first controller of each bus hvctl's devices need. A controller
// with an index above 0 (other than PCI) or a USB controller turned off was configured.
func generatedController(n *node) bool {
	t, idx := n.attrs["type"], n.attrs["index"]
	switch t {
	case "pci":
		return true
	case "usb":
		return idx == "0" && n.attrs["model"] != "none" && n.attrs["ports"] == ""
	case "scsi":
		// libvirt's own choice for x86 when a SCSI disk needs one; virtio-scsi is chosen by hand.
		m := n.attrs["model"]
		return idx == "0" && (m == "" || m == "lsilogic") && len(n.kids) == 0
	case "sata", "ide", "fdc", "virtio-serial", "ccid":
		return idx == "0" && len(n.attrs) <= 3 && len(n.kids) == 0
	}
	return false
}

// canonical rewrites n in place into the form both sides share (the second class above).
func (nz Normalizer) canonical(path string, n, parent *node) {
	if u, ok := n.attrs["unit"]; ok {
		if v, err := strconv.ParseUint(n.text, 10, 64); err == nil {
			n.text = strconv.FormatUint(KiB(uint(v), u), 10) + "KiB"
			delete(n.attrs, "unit")
		}
	}
	switch path {
	case "os/type":
		if m, ok := n.attrs["machine"]; ok {
			n.attrs["machine"] = machineFamily(m)
		}
	case "vcpu":
		if n.attrs["current"] == "" {
			n.attrs["current"] = n.text
		}
	case "devices/graphics":
		if n.attrs["port"] == "-1" {
			delete(n.attrs, "port")
		}
		// libvirt copies the first listen address into an attribute.
		if l := n.child("listen"); l != nil && l.attrs["address"] == n.attrs["listen"] {
			delete(n.attrs, "listen")
		}
	case "devices/interface/mac":
		n.attrs["address"] = strings.ToLower(n.attrs["address"])
	}
	var keep []*node
	for _, k := range n.kids {
		kp := k.name
		if path != "" {
			kp = path + "/" + k.name
		}
		// Children first: an element is judged without its own generated parts.
		nz.canonical(kp, k, n)
		if nz.generated(kp, k, n) {
			continue
		}
		keep = append(keep, k)
	}
	n.kids = keep
}

func (nz Normalizer) filledAttr(path, attr string) bool {
	for _, a := range nz.filledAttrs[path] {
		if a == "*" || a == attr {
			return true
		}
	}
	return false
}

// impliedAttr says whether the attribute one side leaves out means the value v the other states.
func (nz Normalizer) impliedAttr(path, attr, v string) bool {
	def, ok := nz.defaultAttrs[path][attr]
	return ok && def == v
}

func (nz Normalizer) filledKid(path, name string) bool {
	for _, k := range nz.filledKids[path] {
		if k == name {
			return true
		}
	}
	return false
}
