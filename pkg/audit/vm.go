package audit

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// perVM applies check to every VM's persistent definition. A VM whose definition could not be
// read is an error for every VM control; no VMs is a skip, not a pass.
func perVM(check func(inv *Inventory, d Domain) Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if inv.DomainsErr != nil {
			return []Result{errored("vm", fmt.Errorf("cannot list the VMs: %w", inv.DomainsErr))}
		}
		var out []Result
		for _, d := range inv.Domains {
			if r, ok := unreadable(d); ok {
				out = append(out, r)
				continue
			}
			out = append(out, check(inv, d))
		}
		if len(out) == 0 {
			return []Result{skipped("vm", "no VMs")}
		}
		return out
	}
}

// unreadable is the error result of a VM whose definition could not be read.
func unreadable(d Domain) (Result, bool) {
	if d.Def != nil {
		return Result{}, false
	}
	err := d.Err
	if err == nil {
		err = errors.New("its definition could not be read")
	}
	return errored(d.Name, fmt.Errorf("%s: %w", d.Name, err)).at(&model.FindingLocation{VM: d.Name}), true
}

func devices(d *libvirtxml.Domain) *libvirtxml.DomainDeviceList {
	if d == nil || d.Devices == nil {
		return &libvirtxml.DomainDeviceList{}
	}
	return d.Devices
}

// issue is one device's problem, for a VM verdict over all its devices.
type issue struct {
	sev    Severity // "" = the control's
	device string   // "disk vda", "graphics vnc" …
	path   string
	detail string
	fix    string
}

// verdict is one result per VM over every device: the worst issue sets the severity and the
// location, and every issue is listed.
func verdict(d Domain, control Severity, found []issue, passDetail string, args ...any) Result {
	if len(found) == 0 {
		return pass(d.Name, passDetail, args...)
	}
	for i := range found {
		found[i].sev = cmp.Or(found[i].sev, control)
	}
	slices.SortStableFunc(found, func(a, b issue) int { return cmp.Compare(Rank(string(b.sev)), Rank(string(a.sev))) })
	var details []string
	for _, f := range found {
		details = append(details, f.detail)
	}
	w := found[0]
	r := fail(d.Name, "%s", strings.Join(details, "; ")).at(&model.FindingLocation{VM: d.Name, Device: w.device, Path: w.path})
	if w.sev != control {
		r.Severity = w.sev
	}
	r.Remediation = w.fix
	return r
}

// unlessUnknown turns a pass into an error when part of what the control looks at could not be
// told (a remote host's qemu.conf or devices): never a pass on what was not seen.
func unlessUnknown(r Result, d Domain, unknown error) Result {
	if r.Status == Pass && unknown != nil {
		return errored(d.Name, unknown)
	}
	return r
}

func diskName(disk libvirtxml.DomainDisk) string {
	if disk.Target != nil && disk.Target.Dev != "" {
		return "disk " + disk.Target.Dev
	}
	return "disk"
}

func nicName(nic libvirtxml.DomainInterface) string {
	if nic.MAC != nil && nic.MAC.Address != "" {
		return "interface " + nic.MAC.Address
	}
	if nic.Source != nil && nic.Source.Network != nil {
		return "interface on network " + nic.Source.Network.Network
	}
	return "interface"
}

// dacRootPart matches the user or group half of a DAC label that means root: root, 0 or +0.
var dacRootPart = regexp.MustCompile(`^(\+?0|root)$`)

// display is a VNC or SPICE listen of a VM, resolved to where QEMU really listens.
type display struct {
	kind, device string
	addr         string // effective listen address; "" for a socket or none
	socket       string // the UNIX socket path of a socket listen
	passwd       bool   // the display or qemu.conf sets a password, or SASL
	tls          bool
	websocket    int
	err          error // the address could not be resolved
}

// displays resolves each VNC/SPICE listen of d: an address listen without an address, and a
// display without any listen, use qemu.conf's vnc_listen/spice_listen (default 127.0.0.1); a
// network listen uses the live address, or the network's own address.
func displays(inv *Inventory, d Domain) []display {
	conf := inv.QEMUConf
	if conf != nil && conf.Err != nil {
		conf = nil
	}
	setting := func(key, def string) string {
		if conf == nil {
			return def
		}
		v, _ := str(conf, key, def)
		return v
	}
	on := func(key string, def bool) bool {
		if conf == nil {
			return def
		}
		v, _ := flag(conf, key, def)
		return v
	}
	var out []display
	for gi, g := range devices(d.Def).Graphics {
		var base display
		var listen, sock string
		var ls []libvirtxml.DomainGraphicListener
		switch {
		case g.VNC != nil:
			base = display{kind: "vnc", passwd: g.VNC.Passwd != "" || setting("vnc_password", "") != "" || on("vnc_sasl", false),
				tls: on("vnc_tls", false), websocket: g.VNC.WebSocket}
			listen, sock, ls = g.VNC.Listen, g.VNC.Socket, g.VNC.Listeners
		case g.Spice != nil:
			base = display{kind: "spice", passwd: g.Spice.Passwd != "" || setting("spice_password", "") != "" || on("spice_sasl", false),
				tls: on("spice_tls", false) && g.Spice.DefaultMode == "secure"}
			listen, ls = g.Spice.Listen, g.Spice.Listeners
		default:
			continue
		}
		base.device = "graphics " + base.kind
		def := setting(base.kind+"_listen", "127.0.0.1")
		if len(ls) == 0 {
			switch {
			case sock != "":
				ls = []libvirtxml.DomainGraphicListener{{Socket: &libvirtxml.DomainGraphicListenerSocket{Socket: sock}}}
			case listen != "":
				ls = []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{Address: listen}}}
			case base.kind == "vnc" && on("vnc_auto_unix_socket", false):
				ls = []libvirtxml.DomainGraphicListener{{Socket: &libvirtxml.DomainGraphicListenerSocket{}}}
			default:
				ls = []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{}}}
			}
		}
		for li, l := range ls {
			x := base
			switch {
			case l.Address != nil:
				// No address of its own: libvirt filled qemu.conf's in for a running VM.
				x.addr = cmp.Or(l.Address.Address, liveListenAddress(d, gi, li))
				if x.addr == "" && !inv.Local {
					x.err = fmt.Errorf("listens where qemu.conf's %s_listen says, which cannot be read on %s", base.kind, inv.elsewhere())
				}
				x.addr = cmp.Or(x.addr, def)
			case l.Network != nil:
				x.addr = l.Network.Address
				if x.addr == "" {
					x.addr = liveListenAddress(d, gi, li)
				}
				if x.addr == "" {
					x.addr, x.err = networkAddress(inv, l.Network.Network)
				}
			case l.Socket != nil:
				x.socket = l.Socket.Socket
			default:
				continue // type='none'
			}
			out = append(out, x)
		}
	}
	return out
}

// liveListenAddress is the address libvirt filled in for a running VM's listen (a network's, or
// qemu.conf's for an address listen without one); "" for a VM that does not run.
func liveListenAddress(d Domain, gi, li int) string {
	gs := devices(d.Live).Graphics
	if gi >= len(gs) {
		return ""
	}
	var ls []libvirtxml.DomainGraphicListener
	if gs[gi].VNC != nil {
		ls = gs[gi].VNC.Listeners
	} else if gs[gi].Spice != nil {
		ls = gs[gi].Spice.Listeners
	}
	switch {
	case li >= len(ls):
	case ls[li].Network != nil:
		return ls[li].Network.Address
	case ls[li].Address != nil:
		return ls[li].Address.Address
	}
	return ""
}

// networkAddress is the address a display listening on a libvirt network gets: the network's
// first IP address; a network without one (bridged to the LAN) is on the LAN.
func networkAddress(inv *Inventory, name string) (string, error) {
	for _, n := range inv.Networks {
		if n.Name != name {
			continue
		}
		for _, ip := range n.IPs {
			if ip.Address != "" {
				return ip.Address, nil
			}
		}
		return "the LAN address of network " + name, nil
	}
	if inv.NetworksErr != nil {
		return "", fmt.Errorf("network %s: %w", name, inv.NetworksErr)
	}
	return "", fmt.Errorf("the display listens on network %s, which does not exist", name)
}

func (x display) exposed() bool { return x.err == nil && x.addr != "" && !loopback(x.addr) }

// chardev is a serial, console, parallel or channel device bound to a network socket.
type chardev struct {
	device, where string
	tls, udp      bool
}

// netChardevs lists the chardevs of def that bind a TCP or UDP socket on a non-loopback
// address (all bound ones with all set); tls says whether TLS protects them (the device's
// tls attribute, or qemu.conf's chardev_tls when the device does not say).
func netChardevs(inv *Inventory, def *libvirtxml.Domain, all bool) []chardev {
	chardevTLS := false
	if c := inv.QEMUConf; c != nil && c.Err == nil {
		chardevTLS, _ = flag(c, "chardev_tls", false)
	}
	var out []chardev
	add := func(kind string, i int, s *libvirtxml.DomainChardevSource, proto *libvirtxml.DomainChardevProtocol) {
		if s == nil {
			return
		}
		name := fmt.Sprintf("%s %d", kind, i)
		if t := s.TCP; t != nil && t.Mode == "bind" && (all || !loopback(t.Host)) {
			p := "tcp"
			if proto != nil && proto.Type != "" && proto.Type != "raw" {
				p = proto.Type
			}
			out = append(out, chardev{device: name, where: fmt.Sprintf("%s %s:%s", p, or(t.Host, "0.0.0.0"), t.Service),
				tls: t.TLS == "yes" || t.TLS == "" && chardevTLS})
		}
		if u := s.UDP; u != nil && u.BindService != "" && (all || !loopback(u.BindHost)) {
			out = append(out, chardev{device: name, where: fmt.Sprintf("udp %s:%s", or(u.BindHost, "0.0.0.0"), u.BindService), udp: true})
		}
	}
	dv := devices(def)
	for i, x := range dv.Serials {
		add("serial", i, x.Source, x.Protocol)
	}
	for i, x := range dv.Parallels {
		add("parallel", i, x.Source, x.Protocol)
	}
	for i, x := range dv.Consoles {
		add("console", i, x.Source, x.Protocol)
	}
	for i, x := range dv.Channels {
		add("channel", i, x.Source, x.Protocol)
	}
	// The same chardev sources under other devices listen as well: a bound USB redirection
	// lets whoever connects plug a USB device into the guest, a smartcard passthrough hands
	// them the card channel, an EGD backend feeds the guest's entropy.
	for i, x := range dv.RedirDevs {
		add("redirdev", i, x.Source, x.Protocol)
	}
	for i, x := range dv.Smartcards {
		add("smartcard", i, x.Passthrough, x.Protocol)
	}
	for i, x := range dv.RNGs {
		if x.Backend != nil && x.Backend.EGD != nil {
			add("rng", i, x.Backend.EGD.Source, x.Backend.EGD.Protocol)
		}
	}
	return out
}

func or(s, fallback string) string { return cmp.Or(s, fallback) }

var wholeDiskName = regexp.MustCompile(`^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+)$`)

// wholeDisk resolves a block device path (through /dev/disk/by-id, /dev/block/MAJ:MIN and other
// links) and says whether it is a whole disk rather than a partition or a logical volume.
func wholeDisk(inv *Inventory, dev string) (string, bool) {
	if !inv.Local { // the kernel's name says it; this machine's /sys is another host's
		return dev, wholeDiskName.MatchString(filepath.Base(dev))
	}
	real := dev
	if r, err := filepath.EvalSymlinks(inv.Path(dev)); err == nil {
		real = "/" + relTo(inv, r)
	}
	name := filepath.Base(real)
	if !wholeDiskName.MatchString(name) {
		return real, false
	}
	if _, err := os.Stat(inv.Path("sys/class/block/" + name)); err == nil {
		_, err := os.Stat(inv.Path("sys/class/block/" + name + "/partition"))
		return real, err != nil
	}
	return real, true
}

var mitigationFeatures = []string{"spec-ctrl", "ibpb", "stibp", "ssbd", "virt-ssbd", "amd-ssbd", "md-clear", "arch-capabilities", "pcid"}

// risky are the controls whose failure makes autostart worse (VM-032).
var risky = map[string]bool{"VM-002": true, "VM-003": true, "VM-006": true, "VM-007": true, "VM-011": true}

// sensitiveDirs are host directories whose writable share gives a guest the host.
var sensitiveDirs = []string{"/", "/etc", "/root", "/home", "/var/lib/libvirt"}

func uefi(def *libvirtxml.Domain) bool {
	os := def.OS
	return os != nil && (os.Firmware == "efi" || os.Loader != nil && os.Loader.Type == "pflash")
}

// filterRefs are the filters a filter references, transitively.
func filterRefs(inv *Inventory, name string) map[string]bool {
	refs := map[string]bool{name: true}
	var walk func(name string, depth int)
	walk = func(name string, depth int) {
		f, ok := inv.Filters[name]
		if !ok || depth > 8 {
			return
		}
		for _, e := range f.Entries {
			if e.Ref != nil && !refs[e.Ref.Filter] {
				refs[e.Ref.Filter] = true
				walk(e.Ref.Filter, depth+1)
			}
		}
	}
	walk(name, 0)
	return refs
}

var antiSpoofing = []string{"no-mac-spoofing", "no-ip-spoofing", "no-arp-spoofing"}

var vmControls = []Control{
	{ID: "VM-001", Group: "vm", Severity: High, Title: "Hardware-accelerated domain",
		Description: "A domain of type qemu runs under TCG emulation, which QEMU does not treat as a security boundary.",
		HowChecked:  "/domain/@type of the inactive definition.",
		Remediation: "Define the VM with <domain type='kvm'> (hvctl vm edit, or virsh edit).",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			if d.Def.Type == "qemu" {
				return fail(d.Name, "domain type qemu (TCG emulation): QEMU does not treat TCG bugs as security bugs; use kvm for untrusted guests").at(&model.FindingLocation{VM: d.Name})
			}
			return pass(d.Name, "domain type %s", d.Def.Type)
		})},
	{ID: "VM-002", Group: "vm", Severity: High, Title: "sVirt/AppArmor label disabled",
		Description: "<seclabel type='none'> for the selinux or apparmor model runs the VM's QEMU unconfined.",
		HowChecked:  "/domain/seclabel[@type='none'] of a model other than dac.",
		Remediation: "Remove the <seclabel type='none'> element (libvirt then labels the VM dynamically).",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, s := range d.Def.SecLabel {
				if s.Type == "none" && s.Model != "dac" {
					found = append(found, issue{device: "seclabel " + or(s.Model, "default"), detail: fmt.Sprintf("<seclabel type='none'%s>: the VM runs unconfined", modelAttr(s.Model))})
				}
			}
			return verdict(d, High, found, "no seclabel turns confinement off")
		})},
	{ID: "VM-003", Group: "vm", Severity: Critical, Title: "DAC label runs QEMU as root",
		Description: "A DAC seclabel with user root (or uid 0) runs this VM's QEMU as root whatever qemu.conf says; group root gives it root's group files.",
		HowChecked:  "/domain/seclabel[@model='dac']/label, split into user and group (names or +UID/+GID).",
		Remediation: "Remove the <seclabel model='dac'> element or give it an unprivileged user:group.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, s := range d.Def.SecLabel {
				if s.Model != "dac" || s.Label == "" {
					continue
				}
				user, group, _ := strings.Cut(s.Label, ":")
				switch {
				case dacRootPart.MatchString(user):
					found = append(found, issue{device: "seclabel dac", detail: fmt.Sprintf("DAC label %s: QEMU runs as root for this VM", s.Label)})
				case dacRootPart.MatchString(group):
					found = append(found, issue{sev: High, device: "seclabel dac", detail: fmt.Sprintf("DAC label %s: QEMU runs in the root group, with access to its files", s.Label)})
				}
			}
			return verdict(d, Critical, found, "%s", dacDescription(d.Def))
		})},
	{ID: "VM-004", Group: "vm", Severity: Medium, Title: "Relabelling disabled",
		Description: "relabel='no' on the VM or on a disk's source keeps an image's label as it is, often shared with other VMs or the host, so confinement no longer separates them.",
		HowChecked:  "/domain/seclabel/@relabel and //devices/disk/source/seclabel/@relabel.",
		Remediation: "Remove relabel='no' (libvirt then labels the images for this VM alone).",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, s := range d.Def.SecLabel {
				if s.Relabel == "no" && s.Type != "none" {
					found = append(found, issue{device: "seclabel " + or(s.Model, "default"), detail: fmt.Sprintf("seclabel model %s relabel='no': images keep a label shared with other VMs or the host", or(s.Model, "default"))})
				}
			}
			for _, disk := range devices(d.Def).Disks {
				path, labels := diskLabels(disk)
				for _, l := range labels {
					if l.Relabel == "no" {
						found = append(found, issue{device: diskName(disk), path: path, detail: fmt.Sprintf("%s (%s) has a %s seclabel with relabel='no'", diskName(disk), or(path, "no path"), or(l.Model, "default"))})
					}
				}
			}
			return verdict(d, Medium, found, "libvirt relabels the VM and its disks")
		})},
	{ID: "VM-005", Group: "vm", Severity: High, Title: "Static or shared MCS labels",
		Description: "Two running VMs with the same SELinux category pair, or a static label, are not separated by sVirt.",
		HowChecked:  "/domain/seclabel[@model='selinux'] of the live definitions of all running VMs.",
		Remediation: "Use <seclabel type='dynamic' model='selinux'/> so libvirt picks unique categories.",
		Check: func(inv *Inventory) []Result {
			users := map[string][]string{}
			var out []Result
			for _, d := range inv.Domains {
				if d.Live == nil {
					continue
				}
				for _, s := range d.Live.SecLabel {
					if s.Model == "selinux" && s.Label != "" {
						users[s.Label] = append(users[s.Label], d.Name)
					}
				}
			}
			for _, d := range inv.Domains {
				if d.Live == nil {
					continue
				}
				r := pass(d.Name, "no SELinux label shared or static")
				for _, s := range d.Live.SecLabel {
					if s.Model != "selinux" {
						continue
					}
					loc := &model.FindingLocation{VM: d.Name, Device: "seclabel selinux"}
					switch {
					case len(users[s.Label]) > 1:
						r = fail(d.Name, "SELinux label %s is shared with %s: no isolation between them", s.Label, strings.Join(others(users[s.Label], d.Name), ", ")).at(loc)
					case s.Type == "static":
						r = fail(d.Name, "static SELinux label %s: nothing keeps another VM from the same categories", s.Label).at(loc)
					default:
						r = pass(d.Name, "SELinux label %s, unique", s.Label)
					}
				}
				out = append(out, r)
			}
			if len(out) == 0 {
				return []Result{skipped("vm", "no running VMs")}
			}
			return out
		}},
	{ID: "VM-006", Group: "vm", Severity: High, Title: "QEMU command-line passthrough",
		Description: "qemu:commandline arguments, qemu:capabilities changes (such as dropping seccomp-sandbox) and qemu:override properties are opaque to libvirt's confinement and validation.",
		HowChecked:  "the elements of the http://libvirt.org/schemas/domain/qemu/1.0 namespace: commandline (arg, env), capabilities (add, del), override.",
		Remediation: "Replace the passthrough with libvirt XML, or remove it.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			if c := d.Def.QEMUCommandline; c != nil && (len(c.Args) > 0 || len(c.Envs) > 0) {
				var args []string
				for _, a := range c.Args {
					args = append(args, a.Value)
				}
				for _, e := range c.Envs {
					args = append(args, e.Name+"="+e.Value)
				}
				found = append(found, issue{device: "qemu:commandline", detail: fmt.Sprintf("qemu:commandline passes %q, opaque to libvirt's confinement", strings.Join(args, " "))})
			}
			if c := d.Def.QEMUCapabilities; c != nil && (len(c.Add) > 0 || len(c.Del) > 0) {
				var caps []string
				for _, x := range c.Add {
					caps = append(caps, "+"+x.Name)
				}
				for _, x := range c.Del {
					caps = append(caps, "-"+x.Name)
					if x.Name == "seccomp-sandbox" {
						caps[len(caps)-1] += " (seccomp off)"
					}
				}
				found = append(found, issue{device: "qemu:capabilities", detail: "qemu:capabilities " + strings.Join(caps, ", ")})
			}
			if o := d.Def.QEMUOverride; o != nil && len(o.Devices) > 0 {
				var devs []string
				for _, x := range o.Devices {
					devs = append(devs, x.Alias)
				}
				found = append(found, issue{device: "qemu:override", detail: "qemu:override changes device properties of " + strings.Join(devs, ", ")})
			}
			return verdict(d, High, found, "no QEMU passthrough")
		})},
	{ID: "VM-007", Group: "vm", Severity: Critical, Title: "Graphics on the network without a password",
		Description: "A VNC or SPICE display on a non-loopback address without a password (its own, or qemu.conf's default, or SASL) gives anyone who reaches it the console; a display socket others may write to gives it to every local user.",
		HowChecked:  "//devices/graphics of the secure inactive definition: listen elements resolved to the real address (type address without an address and no listen at all: qemu.conf vnc_listen/spice_listen, default 127.0.0.1; type network: the live address or the network's), @passwd, qemu.conf *_password and *_sasl; socket listens: the socket file's mode.",
		Remediation: "Listen on 127.0.0.1 (<listen type='address' address='127.0.0.1'/>) and reach the console through SSH, or set a password (passwd=…) with TLS (VM-008).",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			var found []issue
			var seen []string
			unknown := false
			for _, x := range displays(inv, d) {
				switch {
				case x.err != nil:
					found = append(found, issue{sev: Critical, device: x.device, detail: fmt.Sprintf("%s: %v", x.kind, x.err)})
					unknown = true
				case x.socket != "" && !inv.Local:
					found = append(found, issue{device: x.device, path: x.socket, detail: fmt.Sprintf("%s socket %s: its mode cannot be read on %s", x.kind, x.socket, inv.elsewhere())})
					unknown = true
				case x.socket != "":
					if fi, err := os.Stat(inv.Path(x.socket)); err == nil && fi.Mode().Perm()&0o002 != 0 {
						found = append(found, issue{sev: High, device: x.device, path: x.socket, detail: fmt.Sprintf("%s socket %s is world-writable (%04o): every local user gets the console", x.kind, x.socket, fi.Mode().Perm()),
							fix: "chmod o-rwx " + x.socket + " and keep the socket under libvirt's per-VM directory (omit socket=)."})
					} else {
						seen = append(seen, x.kind+" on a socket")
					}
				case x.exposed() && !x.passwd:
					if !d.Secure {
						// Without the secure XML a password would not show: do not claim there is none.
						unknown = true
						found = append(found, issue{device: x.device, detail: x.kind + " on " + x.addr + ": password state unknown (needs a read-write connection)"})
						continue
					}
					found = append(found, issue{device: x.device, detail: fmt.Sprintf("%s on %s without a password: anyone who reaches it has the console", x.kind, x.addr)})
				default:
					seen = append(seen, x.kind+" on "+x.addr)
				}
			}
			r := verdict(d, Critical, found, "%s", or(strings.Join(seen, ", "), "no VNC or SPICE display"))
			if unknown && r.Status == Fail && !slices.ContainsFunc(found, func(i issue) bool {
				return strings.Contains(i.detail, "without a password") || strings.Contains(i.detail, "world-writable")
			}) {
				r.Status = Error
			}
			return r
		})},
	{ID: "VM-008", Group: "vm", Severity: High, Title: "Graphics on the network without TLS",
		Description: "A password-protected display on a network address without TLS sends the password (VNC uses only 8 bytes of it) and the session in clear.",
		HowChecked:  "as VM-007, plus qemu.conf vnc_tls, and for SPICE spice_tls with defaultMode='secure'.",
		Remediation: "Set vnc_tls = 1 (spice_tls = 1 and defaultMode='secure') with certificates in qemu.conf, or listen on 127.0.0.1 and tunnel through SSH.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			var found []issue
			var seen []string
			var unknown error
			for _, x := range displays(inv, d) {
				unknown = cmp.Or(unknown, x.err)
				if !x.exposed() {
					continue
				}
				if x.passwd && !x.tls {
					found = append(found, issue{device: x.device, detail: fmt.Sprintf("%s on %s with a password but no TLS: the password and the session cross the network in clear", x.kind, x.addr)})
				} else {
					seen = append(seen, x.kind+" on "+x.addr)
				}
			}
			return unlessUnknown(verdict(d, High, found, "%s", or(strings.Join(seen, ", "), "no display on a network address")), d, unknown)
		})},
	{ID: "VM-009", Group: "vm", Severity: High, Title: "VNC websocket on the network",
		Description: "A VNC websocket on a network address without TLS exposes the console to browsers anywhere, in clear.",
		HowChecked:  "//devices/graphics[@type='vnc']/@websocket with the resolved listen address and qemu.conf vnc_tls.",
		Remediation: "Remove websocket= or listen on 127.0.0.1 behind a TLS proxy; or set vnc_tls = 1.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			var found []issue
			var unknown error
			for _, x := range displays(inv, d) {
				if x.websocket != 0 {
					unknown = cmp.Or(unknown, x.err)
				}
				if x.websocket != 0 && x.exposed() && !x.tls {
					found = append(found, issue{device: x.device, detail: fmt.Sprintf("VNC websocket %d on %s without TLS", x.websocket, x.addr)})
				}
			}
			return unlessUnknown(verdict(d, High, found, "no VNC websocket on a network address"), d, unknown)
		})},
	{ID: "VM-010", Group: "vm", Severity: Info, Title: "Graphics inventory",
		Description: "Every display with its listen address and ports, to correlate with HOST-024's listeners.",
		HowChecked:  "//devices/graphics of the live definition (the inactive one for a stopped VM): autoport, port, tlsPort, websocket and resolved listens.",
		Remediation: "Nothing to do: this is inventory.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			def := d.Def
			if d.Live != nil {
				def = d.Live
			}
			var items []string
			for _, g := range devices(def).Graphics {
				switch {
				case g.VNC != nil:
					items = append(items, fmt.Sprintf("vnc port %d autoport %s websocket %d", g.VNC.Port, or(g.VNC.AutoPort, "no"), g.VNC.WebSocket))
				case g.Spice != nil:
					items = append(items, fmt.Sprintf("spice port %d tlsPort %d autoport %s", g.Spice.Port, g.Spice.TLSPort, or(g.Spice.AutoPort, "no")))
				}
			}
			for _, x := range displays(inv, d) {
				if x.err != nil {
					items = append(items, x.kind+" "+x.err.Error())
					continue
				}
				items = append(items, x.kind+" listens on "+cmp.Or(x.addr, x.socket, "a socket"))
			}
			return pass(d.Name, "%s", or(strings.Join(items, "; "), "no VNC or SPICE display"))
		})},
	{ID: "VM-011", Group: "vm", Severity: Critical, Title: "Serial, console, parallel or channel on TCP/UDP",
		Description: "A chardev bound to a network address without TLS is an unauthenticated guest console or data channel for anyone who reaches the port.",
		HowChecked:  "//devices/serial, console, parallel and channel, and the chardev sources of redirdev, smartcard passthrough and rng's EGD backend, with source mode='bind' on TCP (raw or telnet) or UDP, their tls attribute and qemu.conf chardev_tls.",
		Remediation: "Bind chardevs to 127.0.0.1 or a UNIX socket (<serial type='pty'> / type='unix'), or set tls='yes' with chardev_tls = 1 in qemu.conf.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			var found []issue
			for _, c := range netChardevs(inv, d.Def, false) {
				switch {
				case c.udp:
					found = append(found, issue{device: c.device, detail: fmt.Sprintf("%s on %s: UDP has no TLS, the channel is open", c.device, c.where)})
				case !c.tls:
					found = append(found, issue{device: c.device, detail: fmt.Sprintf("%s on %s without TLS: an unauthenticated console on the network", c.device, c.where)})
				}
			}
			return verdict(d, Critical, found, "no chardev bound to a network address without TLS")
		})},
	{ID: "VM-012", Group: "vm", Severity: High, Title: "CPU mitigations hidden from the guest",
		Description: "Disabling spec-ctrl, ssbd, md-clear and the like in the guest CPU keeps the guest from mitigating speculative-execution attacks.",
		HowChecked:  "/domain/cpu/feature[@policy='disable' or @policy='forbid']/@name.",
		Remediation: "Remove the <feature policy='disable'> elements of mitigation features.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var off []string
			if d.Def.CPU != nil {
				for _, f := range d.Def.CPU.Features {
					if (f.Policy == "disable" || f.Policy == "forbid") && slices.Contains(mitigationFeatures, f.Name) {
						off = append(off, f.Name)
					}
				}
			}
			if len(off) > 0 {
				return fail(d.Name, "CPU features %s are disabled: the guest cannot mitigate speculative-execution attacks", strings.Join(off, ", ")).at(&model.FindingLocation{VM: d.Name, Device: "cpu"})
			}
			return pass(d.Name, "no mitigation feature disabled")
		})},
	{ID: "VM-013", Group: "vm", Severity: Info, Title: "host-passthrough or maximum CPU model",
		Description: "host-passthrough and maximum expose the exact host CPU and block migration; often chosen for mitigations, so information only.",
		HowChecked:  "/domain/cpu/@mode.",
		Remediation: "Nothing to do unless the VM must migrate or hide the host's CPU: then use host-model.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			if c := d.Def.CPU; c != nil && (c.Mode == "host-passthrough" || c.Mode == "maximum") {
				return fail(d.Name, "CPU mode %s: the guest sees the host's exact CPU", c.Mode).at(&model.FindingLocation{VM: d.Name, Device: "cpu"})
			}
			mode := "default"
			if d.Def.CPU != nil {
				mode = or(d.Def.CPU.Mode, "custom")
			}
			return pass(d.Name, "CPU mode %s", mode)
		})},
	{ID: "VM-014", Group: "vm", Severity: Medium, Title: "PCI device assignment",
		Description: "An assigned PCI device (hostdev or interface type='hostdev') is driven by the guest and can DMA; without an IOMMU or with relaxed ACS that DMA is not isolated.",
		HowChecked:  "//devices/hostdev[@type='pci'] and //devices/interface[@type='hostdev'] source addresses, with HOST-007/008 and qemu.conf relaxed_acs_check.",
		Remediation: "Assign devices only to trusted guests, on hosts with the IOMMU on and ACS enforced.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			sev := Medium
			if inv.Local {
				if entries, err := os.ReadDir(inv.Path("sys/kernel/iommu_groups")); err != nil || len(entries) == 0 {
					sev = High
				}
				if c := inv.QEMUConf; c != nil && c.Err == nil {
					if relaxed, _ := flag(c, "relaxed_acs_check", false); relaxed {
						sev = High
					}
				}
			}
			var found []issue
			for _, h := range devices(d.Def).Hostdevs {
				if p := h.SubsysPCI; p != nil && p.Source != nil && p.Source.Address != nil {
					bdf := pciAddr(p.Source.Address)
					found = append(found, issue{sev: sev, device: "hostdev " + bdf, detail: "PCI device " + bdf + " assigned"})
				}
			}
			for _, nic := range devices(d.Def).Interfaces {
				if nic.Source != nil && nic.Source.Hostdev != nil && nic.Source.Hostdev.PCI != nil && nic.Source.Hostdev.PCI.Address != nil {
					bdf := pciAddr(nic.Source.Hostdev.PCI.Address)
					found = append(found, issue{sev: sev, device: nicName(nic), detail: "network device " + bdf + " assigned (interface type='hostdev')"})
				}
			}
			r := verdict(d, Medium, found, "no PCI device assigned")
			if r.Status == Fail {
				r.Detail += ": the guest drives real hardware and can DMA"
				if sev == High {
					r.Detail += ", and the host's IOMMU or ACS does not isolate it (HOST-008, DAEMON-025)"
				}
			}
			return r
		})},
	{ID: "VM-015", Group: "vm", Severity: Medium, Title: "USB passthrough or redirection",
		Description: "USB redirection without a redirfilter lets any SPICE client attach any USB device; an assigned host USB device is driven by the guest.",
		HowChecked:  "//devices/redirdev[@bus='usb'] with //devices/redirfilter, and //devices/hostdev[@type='usb'].",
		Remediation: "Add a <redirfilter> that allows only the device classes needed, and remove unused USB hostdevs.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			dv := devices(d.Def)
			var found []issue
			for i, r := range dv.RedirDevs {
				if r.Bus == "usb" && len(dv.RedirFilters) == 0 {
					found = append(found, issue{device: fmt.Sprintf("redirdev %d", i), detail: "USB redirection without a redirfilter: any SPICE client can attach any USB device"})
				}
			}
			for i, h := range dv.Hostdevs {
				if h.SubsysUSB != nil {
					found = append(found, issue{sev: Low, device: fmt.Sprintf("hostdev %d", i), detail: "a host USB device is assigned"})
				}
			}
			return verdict(d, Medium, found, "no USB redirection or passthrough")
		})},
	{ID: "VM-016", Group: "vm", Severity: High, Title: "Raw SCSI access",
		Description: "rawio='yes' gives QEMU CAP_SYS_RAWIO, sgio='unfiltered' passes any SCSI command to the device; a SCSI hostdev hands the guest a host SCSI device.",
		HowChecked:  "//devices/disk/@rawio and @sgio, //devices/hostdev[@type='scsi' or @type='scsi_host'].",
		Remediation: "Remove rawio='yes' and sgio='unfiltered'; give the guest a virtual disk instead of the SCSI device.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, disk := range devices(d.Def).Disks {
				var attrs []string // only those set: an absent sgio is not sgio=""
				if disk.RawIO == "yes" {
					attrs = append(attrs, `rawio="yes" (QEMU gets CAP_SYS_RAWIO)`)
				}
				if disk.SGIO == "unfiltered" {
					attrs = append(attrs, `sgio="unfiltered" (any SCSI command reaches the device)`)
				}
				if len(attrs) > 0 {
					found = append(found, issue{device: diskName(disk), detail: fmt.Sprintf("%s with %s", diskName(disk), strings.Join(attrs, " and "))})
				}
			}
			for i, h := range devices(d.Def).Hostdevs {
				switch {
				case h.SubsysSCSI != nil:
					sev := Medium
					if h.SubsysSCSI.RawIO == "yes" || h.SubsysSCSI.SGIO == "unfiltered" {
						sev = High
					}
					found = append(found, issue{sev: sev, device: fmt.Sprintf("hostdev %d", i), detail: "a host SCSI device is assigned"})
				case h.SubsysSCSIHost != nil:
					found = append(found, issue{sev: Medium, device: fmt.Sprintf("hostdev %d", i), detail: "a vhost-scsi host is assigned"})
				}
			}
			return verdict(d, High, found, "no raw SCSI access")
		})},
	{ID: "VM-017", Group: "vm", Severity: Medium, Title: "Whole host disk given writable",
		Description: "A whole host disk given writable lets the guest rewrite its partition table and file system labels, which the host may trust.",
		HowChecked:  "//devices/disk[@type='block']/source/@dev without <readonly/>, resolved through symbolic links (/dev/disk/by-id, /dev/block/MAJ:MIN) and checked against /sys/class/block/NAME/partition.",
		Remediation: "Give the guest a partition or a logical volume, or mark the disk <readonly/>.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			var found []issue
			var unknown error
			for _, disk := range devices(d.Def).Disks {
				if disk.Source == nil || disk.Source.Block == nil || disk.ReadOnly != nil {
					continue
				}
				dev := disk.Source.Block.Dev
				if !inv.Local && filepath.Dir(dev) != "/dev" {
					// A link (/dev/disk/by-id, /dev/mapper …) resolves on the remote host only:
					// this machine's would judge another disk.
					unknown = cmp.Or(unknown, fmt.Errorf("%s is given writable; what it links to cannot be read on %s", dev, inv.elsewhere()))
					continue
				}
				if real, whole := wholeDisk(inv, dev); whole {
					via := ""
					if real != dev {
						via = " (" + real + ")"
					}
					found = append(found, issue{device: diskName(disk), path: dev, detail: fmt.Sprintf("%s%s is given writable as a whole: the guest can rewrite the host's partition table and labels", dev, via)})
				}
			}
			return unlessUnknown(verdict(d, Medium, found, "no whole host disk given writable"), d, unknown)
		})},
	{ID: "VM-018", Group: "vm", Severity: Medium, Title: "Writable host directory share",
		Description: "A writable filesystem share lets the guest change host files; a share of /, /etc, /root, /home or /var/lib/libvirt gives it the host.",
		HowChecked:  "//devices/filesystem source/@dir, <readonly/> and @accessmode.",
		Remediation: "Mark the share <readonly/>, share a dedicated directory, and use accessmode='mapped' or virtiofs.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, fs := range devices(d.Def).Filesystems {
				if fs.ReadOnly != nil || fs.Source == nil || fs.Source.Mount == nil {
					continue
				}
				dir := filepath.Clean(fs.Source.Mount.Dir)
				x := issue{device: "filesystem " + dir, path: dir, detail: "host directory " + dir + " is shared writable"}
				if slices.Contains(sensitiveDirs, dir) {
					x.sev, x.detail = High, x.detail+": the guest can change the host itself"
				}
				if fs.AccessMode == "passthrough" {
					x.detail += " (accessmode passthrough: file operations run with QEMU's credentials)"
				}
				found = append(found, x)
			}
			return verdict(d, Medium, found, "no writable host directory share")
		})},
	{ID: "VM-019", Group: "vm", Severity: Low, Title: "Shareable writable disk",
		Description: "A writable disk marked shareable needs a cluster file system, or two guests corrupt it.",
		HowChecked:  "//devices/disk[shareable] without <readonly/>.",
		Remediation: "Use a cluster file system on the disk, or remove <shareable/>.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, disk := range devices(d.Def).Disks {
				if disk.Shareable != nil && disk.ReadOnly == nil {
					found = append(found, issue{device: diskName(disk), path: diskPath(disk), detail: diskName(disk) + " is writable and shareable: it needs a cluster file system, or it is corrupted"})
				}
			}
			return verdict(d, Low, found, "no shareable writable disk")
		})},
	{ID: "VM-020", Group: "vm", Severity: High, Title: "Inter-VM shared memory",
		Description: "ivshmem regions shared by two VMs are a channel around guest isolation; one shared with the host only is a smaller risk.",
		HowChecked:  "//devices/shmem/@name across all VMs.",
		Remediation: "Remove the <shmem> device, or give each VM its own region name.",
		Check: func(inv *Inventory) []Result {
			users := map[string][]string{}
			for _, d := range inv.Domains {
				for _, s := range devices(d.Def).Shmems {
					users[s.Name] = append(users[s.Name], d.Name)
				}
			}
			return perVM(func(_ *Inventory, d Domain) Result {
				var found []issue
				for _, s := range devices(d.Def).Shmems {
					if len(users[s.Name]) > 1 {
						found = append(found, issue{device: "shmem " + s.Name, detail: fmt.Sprintf("shared memory %q is also mapped by %s: a channel around guest isolation", s.Name, strings.Join(others(users[s.Name], d.Name), ", "))})
					} else {
						found = append(found, issue{sev: Medium, device: "shmem " + s.Name, detail: fmt.Sprintf("shared memory %q with the host (ivshmem)", s.Name)})
					}
				}
				return verdict(d, High, found, "no shared memory device")
			})(inv)
		}},
	{ID: "VM-021", Group: "vm", Severity: Medium, Title: "Host input device passthrough",
		Description: "An evdev or passthrough input device sends the host's keyboard or mouse events to the guest.",
		HowChecked:  "//devices/input[@type='passthrough' or @type='evdev'].",
		Remediation: "Remove the input device, or use a virtual one (tablet, keyboard) through the display.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for i, in := range devices(d.Def).Inputs {
				if in.Type == "passthrough" || in.Type == "evdev" {
					found = append(found, issue{device: fmt.Sprintf("input %d", i), detail: "input type " + in.Type + ": host keyboard or mouse events reach the guest"})
				}
			}
			return verdict(d, Medium, found, "no host input device passed through")
		})},
	{ID: "VM-022", Group: "vm", Severity: Medium, Title: "UEFI without Secure Boot",
		Description: "A UEFI guest without Secure Boot and enrolled keys boots unsigned code; loader secure='yes' without SMM does not protect the variables.",
		HowChecked:  "/domain/os firmware='efi' or loader type='pflash'; os/firmware/feature secure-boot and enrolled-keys, os/loader/@secure, features/smm.",
		Remediation: "Set <firmware><feature enabled='yes' name='secure-boot'/><feature enabled='yes' name='enrolled-keys'/></firmware> and start once with --reset-nvram.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			if !uefi(d.Def) {
				return pass(d.Name, "BIOS firmware (not UEFI)")
			}
			os := d.Def.OS
			secure, enrolled := os.Loader != nil && os.Loader.Secure == "yes", ""
			if os.FirmwareInfo != nil {
				for _, f := range os.FirmwareInfo.Features {
					switch f.Name {
					case "secure-boot":
						secure = f.Enabled == "yes"
					case "enrolled-keys":
						enrolled = f.Enabled
					}
				}
			}
			loc := &model.FindingLocation{VM: d.Name, Device: "os firmware"}
			switch {
			case !secure:
				return fail(d.Name, "UEFI firmware without Secure Boot: unsigned boot code runs").at(loc)
			case enrolled == "no":
				return fail(d.Name, "Secure Boot with enrolled-keys='no': no keys are enrolled, so unsigned boot code still runs").at(loc).
					fix("Set <feature enabled='yes' name='enrolled-keys'/> under <os><firmware>, then start the VM once with --reset-nvram.")
			case os.Loader != nil && os.Loader.Secure == "yes" && (d.Def.Features == nil || d.Def.Features.SMM == nil || d.Def.Features.SMM.State == "off"):
				return fail(d.Name, "loader secure='yes' without SMM: the guest OS can rewrite the Secure Boot variables").at(loc).fix("Add <smm state='on'/> under <features>.")
			}
			return pass(d.Name, "UEFI with Secure Boot and enrolled keys")
		})},
	{ID: "VM-023", Group: "vm", Severity: Medium, Title: "Guest RAM written to the host on a crash",
		Description: "dumpCore='on' puts the guest's memory into QEMU core dumps; on_crash coredump-* dumps it into auto_dump_path.",
		HowChecked:  "/domain/memory/@dumpCore and /domain/on_crash.",
		Remediation: "Remove dumpCore='on' and use on_crash destroy or restart.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			if d.Def.Memory != nil && d.Def.Memory.DumpCore == "on" {
				found = append(found, issue{device: "memory", detail: "memory dumpCore='on': QEMU core dumps hold the guest's memory"})
			}
			if strings.HasPrefix(d.Def.OnCrash, "coredump") {
				found = append(found, issue{sev: Low, device: "on_crash", detail: "on_crash " + d.Def.OnCrash + ": the guest's memory is dumped to the host"})
			}
			return verdict(d, Medium, found, "guest memory is not dumped on a crash")
		})},
	{ID: "VM-024", Group: "vm", Severity: Low, Title: "No KSM opt-out",
		Description: "While KSM runs (HOST-019), a guest without <nosharepages/> may have its memory merged with other guests'.",
		HowChecked:  "/domain/memoryBacking/nosharepages, when /sys/kernel/mm/ksm/run is 1.",
		Remediation: "Add <memoryBacking><nosharepages/></memoryBacking> to sensitive guests.",
		Check: func(inv *Inventory) []Result {
			if !inv.Local {
				return []Result{skipped("vm", notHere(inv)+": whether KSM runs cannot be read from here")}
			}
			if !ksmOn(inv) {
				return []Result{skipped("vm", "KSM is off (or /sys/kernel/mm/ksm/run cannot be read)")}
			}
			return perVM(func(_ *Inventory, d Domain) Result {
				if d.Def.MemoryBacking != nil && d.Def.MemoryBacking.MemoryNosharepages != nil {
					return pass(d.Name, "<nosharepages/> set")
				}
				return fail(d.Name, "no <nosharepages/> while KSM runs: its memory may be merged with other guests'").at(&model.FindingLocation{VM: d.Name, Device: "memoryBacking"})
			})(inv)
		}},
	{ID: "VM-025", Group: "vm", Severity: Medium, Title: "No anti-spoofing filter on a NIC",
		Description: "A NIC on a bridge or libvirt network without a filter that includes no-mac-spoofing, no-ip-spoofing and no-arp-spoofing (clean-traffic does) lets the guest impersonate other hosts.",
		HowChecked:  "//devices/interface[@type='bridge' or @type='network' or @type='ethernet']/filterref/@filter, resolved transitively through the host's nwfilters.",
		Remediation: "Add <filterref filter='clean-traffic'/> to the interface (hvctl's profiles do so unless they opt out).",
		Check: func(inv *Inventory) []Result {
			if inv.FiltersErr != nil {
				return []Result{errored("vm", fmt.Errorf("cannot list the network filters: %w", inv.FiltersErr))}
			}
			return perVM(func(inv *Inventory, d Domain) Result {
				var found []issue
				n := 0
				for _, nic := range devices(d.Def).Interfaces {
					if nic.Source == nil || nic.Source.Bridge == nil && nic.Source.Network == nil && nic.Source.Ethernet == nil {
						continue
					}
					n++
					fix := "Add <filterref filter='clean-traffic'/> to " + nicName(nic) + "."
					if nic.FilterRef == nil {
						found = append(found, issue{device: nicName(nic), detail: nicName(nic) + " has no filterref: the guest can spoof MAC, IP and ARP", fix: fix})
						continue
					}
					if inv.Filters == nil {
						found = append(found, issue{device: nicName(nic), detail: fmt.Sprintf("%s references %s, but the host has no nwfilter driver to apply it", nicName(nic), nic.FilterRef.Filter)})
						continue
					}
					refs := filterRefs(inv, nic.FilterRef.Filter)
					var missing []string
					for _, want := range antiSpoofing {
						if !refs[want] {
							missing = append(missing, want)
						}
					}
					if len(missing) > 0 {
						found = append(found, issue{device: nicName(nic), detail: fmt.Sprintf("%s's filter %s does not include %s", nicName(nic), nic.FilterRef.Filter, strings.Join(missing, ", ")), fix: fix})
					}
				}
				return verdict(d, Medium, found, "%d bridged or network NIC(s), each with an anti-spoofing filter", n)
			})(inv)
		}},
	{ID: "VM-026", Group: "vm", Severity: Medium, Title: "Guest may change RX filters",
		Description: "trustGuestRxFilters='yes' lets the guest set its NIC's MAC and multicast filters on the host side.",
		HowChecked:  "//devices/interface/@trustGuestRxFilters.",
		Remediation: "Remove trustGuestRxFilters='yes'.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, nic := range devices(d.Def).Interfaces {
				if nic.TrustGuestRXFilters == "yes" {
					found = append(found, issue{device: nicName(nic), detail: nicName(nic) + " has trustGuestRxFilters='yes': the guest sets the MAC and multicast filters"})
				}
			}
			return verdict(d, Medium, found, "no NIC trusts the guest's RX filters")
		})},
	{ID: "VM-027", Group: "vm", Severity: Low, Title: "Direct (macvtap) NIC",
		Description: "Traffic of a macvtap NIC bypasses the host's netfilter; mode private keeps guests apart, the other modes less so.",
		HowChecked:  "//devices/interface[@type='direct']/source/@mode.",
		Remediation: "Use a bridge with nwfilter rules, or mode='private' when guests must not reach each other.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, nic := range devices(d.Def).Interfaces {
				if nic.Source != nil && nic.Source.Direct != nil {
					x := issue{device: nicName(nic), detail: fmt.Sprintf("macvtap on %s (mode %s): guest traffic bypasses the host's netfilter", nic.Source.Direct.Dev, or(nic.Source.Direct.Mode, "vepa"))}
					if nic.Source.Direct.Mode == "private" {
						x.sev = Info
					}
					found = append(found, x)
				}
			}
			return verdict(d, Low, found, "no macvtap NIC")
		})},
	{ID: "VM-028", Group: "vm", Severity: Info, Title: "Guest agent channel",
		Description: "Through the guest agent the host can run commands in the guest, and the guest's replies must be treated as untrusted.",
		HowChecked:  "//devices/channel/target[@name='org.qemu.guest_agent.0'].",
		Remediation: "Nothing to do unless the guest is untrusted: then remove the channel.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			for i, ch := range devices(d.Def).Channels {
				if ch.Target != nil && ch.Target.VirtIO != nil && ch.Target.VirtIO.Name == "org.qemu.guest_agent.0" {
					return fail(d.Name, "guest agent channel present: the host can run commands in the guest; treat its answers as untrusted").
						at(&model.FindingLocation{VM: d.Name, Device: fmt.Sprintf("channel %d", i)})
				}
			}
			return pass(d.Name, "no guest agent channel")
		})},
	{ID: "VM-029", Group: "vm", Severity: Medium, Title: "Network disk without authentication or TLS",
		Description: "rbd and iSCSI disks without <auth>, NBD without TLS, and http/ftp/tftp disks carry guest data unauthenticated or in clear.",
		HowChecked:  "//devices/disk[@type='network']/source/@protocol with source/auth or the older disk/auth, source/@tls and qemu.conf nbd_tls.",
		Remediation: "Add <auth> with a libvirt secret (rbd, iSCSI), tls='yes' or nbd_tls = 1 (NBD), and https instead of http/ftp/tftp.",
		Check: perVM(func(inv *Inventory, d Domain) Result {
			nbdTLS := false
			if c := inv.QEMUConf; c != nil && c.Err == nil {
				nbdTLS, _ = flag(c, "nbd_tls", false)
			}
			var found []issue
			for _, disk := range devices(d.Def).Disks {
				if disk.Source == nil || disk.Source.Network == nil {
					continue
				}
				n := disk.Source.Network
				x := issue{device: diskName(disk), path: n.Protocol + ":" + n.Name}
				switch n.Protocol {
				case "rbd", "iscsi":
					if n.Auth == nil && disk.Auth == nil {
						x.detail = fmt.Sprintf("%s %s disk %s without <auth>", diskName(disk), n.Protocol, n.Name)
					}
				case "nbd":
					if n.TLS != "yes" && !(n.TLS == "" && nbdTLS) {
						x.detail = fmt.Sprintf("%s NBD disk %s without TLS", diskName(disk), n.Name)
					}
				case "http", "ftp", "tftp":
					x.detail = fmt.Sprintf("%s over %s (%s): cleartext and unauthenticated", diskName(disk), n.Protocol, n.Name)
				}
				if x.detail != "" {
					found = append(found, x)
				}
			}
			return verdict(d, Medium, found, "no network disk without authentication or TLS")
		})},
	{ID: "VM-030", Group: "vm", Severity: Low, Title: "Disk format not pinned",
		Description: "A disk without driver type lets QEMU probe the format, so a guest can turn raw into qcow2 and reach a backing file.",
		HowChecked:  "//devices/disk[@device='disk' or @device='lun']/driver/@type.",
		Remediation: "Add <driver name='qemu' type='raw'/> (or qcow2) to the disk.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var found []issue
			for _, disk := range devices(d.Def).Disks {
				if (disk.Device == "disk" || disk.Device == "lun" || disk.Device == "") && (disk.Driver == nil || disk.Driver.Type == "") {
					found = append(found, issue{device: diskName(disk), path: diskPath(disk), detail: diskName(disk) + " has no driver type: format probing lets a guest turn raw into qcow2 and reach a backing file"})
				}
			}
			return verdict(d, Low, found, "every disk's format is pinned")
		})},
	{ID: "VM-031", Group: "vm", Severity: Info, Title: "Confidential computing unused",
		Description: "The host offers memory encryption against the host (HOST-009) and this guest does not use it.",
		HowChecked:  "/domain/launchSecurity/@type against HOST-009's capability.",
		Remediation: "Nothing to do unless the guest needs protection from the host: then add <launchSecurity type='sev'> (or tdx, s390-pv).",
		Check: func(inv *Inventory) []Result {
			if !inv.Local {
				return []Result{skipped("vm", notHere(inv)+": its confidential-guest support cannot be read from here")}
			}
			tech := confidentialHost(inv)
			return perVM(func(_ *Inventory, d Domain) Result {
				switch {
				case d.Def.LaunchSecurity != nil:
					return pass(d.Name, "launchSecurity set")
				case tech == "":
					return pass(d.Name, "the host offers no confidential-guest technology")
				}
				return fail(d.Name, "the host offers %s and the guest does not use it", tech).at(&model.FindingLocation{VM: d.Name})
			})(inv)
		}},
	{ID: "VM-033", Group: "vm", Severity: Low, Title: "UEFI guest without a vTPM",
		Description: "A UEFI guest without a TPM 2.0 has no measured boot (and cannot run Windows 11).",
		HowChecked:  "//devices/tpm of UEFI guests.",
		Remediation: "Add <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			if !uefi(d.Def) {
				return pass(d.Name, "BIOS firmware (not UEFI)")
			}
			tpms := devices(d.Def).TPMs
			if len(tpms) == 0 {
				return fail(d.Name, "UEFI without a TPM: no measured boot").at(&model.FindingLocation{VM: d.Name, Device: "tpm"})
			}
			for _, tpm := range tpms {
				if b := tpm.Backend; b != nil && b.Emulator != nil && b.Emulator.Version == "1.2" {
					return fail(d.Name, "UEFI with a TPM 1.2 emulator: measured boot and Windows 11 need TPM 2.0").at(&model.FindingLocation{VM: d.Name, Device: "tpm"}).
						fix("Set <backend type='emulator' version='2.0'/> on the VM's <tpm>.")
				}
			}
			return pass(d.Name, "UEFI with a TPM")
		})},
}

func modelAttr(m string) string {
	if m == "" {
		return ""
	}
	return " model='" + m + "'"
}

func dacDescription(def *libvirtxml.Domain) string {
	for _, s := range def.SecLabel {
		if s.Model == "dac" && s.Label != "" {
			return "DAC label " + s.Label + ", not root"
		}
	}
	return "no DAC label of its own: qemu.conf's user and group (DAEMON-016)"
}

func pciAddr(a *libvirtxml.DomainAddressPCI) string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", deref(a.Domain), deref(a.Bus), deref(a.Slot), deref(a.Function))
}

func deref(p *uint) uint {
	if p == nil {
		return 0
	}
	return *p
}

func others(names []string, self string) []string {
	var out []string
	for _, n := range names {
		if n != self {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// diskPath is a disk's source as written: a file, a device, a pool/volume.
func diskPath(disk libvirtxml.DomainDisk) string {
	s := disk.Source
	switch {
	case s == nil:
		return ""
	case s.File != nil:
		return s.File.File
	case s.Block != nil:
		return s.Block.Dev
	case s.Volume != nil:
		return s.Volume.Pool + "/" + s.Volume.Volume
	case s.Network != nil:
		return s.Network.Protocol + ":" + s.Network.Name
	}
	return ""
}

// diskLabels are the per-disk seclabels of a disk's source.
func diskLabels(disk libvirtxml.DomainDisk) (string, []libvirtxml.DomainDeviceSecLabel) {
	s := disk.Source
	switch {
	case s == nil:
		return "", nil
	case s.File != nil:
		return s.File.File, s.File.SecLabel
	case s.Block != nil:
		return s.Block.Dev, s.Block.SecLabel
	case s.Volume != nil:
		return s.Volume.Pool + "/" + s.Volume.Volume, s.Volume.SecLabel
	}
	return "", nil
}
