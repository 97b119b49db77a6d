package audit

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// perVM applies check to every VM's persistent definition; no VMs is a skip, not a pass.
func perVM(check func(inv *Inventory, d Domain) Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		var out []Result
		for _, d := range inv.Domains {
			if d.Def == nil {
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

func devices(d *libvirtxml.Domain) *libvirtxml.DomainDeviceList {
	if d.Devices == nil {
		return &libvirtxml.DomainDeviceList{}
	}
	return d.Devices
}

var dacRoot = regexp.MustCompile(`^(\+?0|root):(\+?0|root)$`)

// graphicsListens are the listen addresses of a VNC or SPICE display ("" = the driver default).
func graphicsListens(listen string, ls []libvirtxml.DomainGraphicListener) (addrs []string, socket bool) {
	if listen != "" {
		addrs = append(addrs, listen)
	}
	for _, l := range ls {
		switch {
		case l.Address != nil:
			addrs = append(addrs, l.Address.Address)
		case l.Socket != nil:
			socket = true
		}
	}
	return addrs, socket
}

// exposedGraphics lists the displays a VM offers on a non-loopback address, with whether
// each has a password. The driver default (qemu.conf vnc_listen) stands in for a display
// without an address of its own.
func exposedGraphics(inv *Inventory, def *libvirtxml.Domain) (open []string, protected []string) {
	for _, g := range devices(def).Graphics {
		var kind, passwd, listen string
		var ls []libvirtxml.DomainGraphicListener
		switch {
		case g.VNC != nil:
			kind, passwd, listen, ls = "vnc", g.VNC.Passwd, g.VNC.Listen, g.VNC.Listeners
		case g.Spice != nil:
			kind, passwd, listen, ls = "spice", g.Spice.Passwd, g.Spice.Listen, g.Spice.Listeners
		default:
			continue
		}
		addrs, socket := graphicsListens(listen, ls)
		if len(addrs) == 0 && !socket && inv.QEMUConf != nil {
			if def := Unquote(inv.QEMUConf[kind+"_listen"]); def != "" {
				addrs = append(addrs, def)
			}
		}
		for _, a := range addrs {
			if loopback(a) {
				continue
			}
			if passwd == "" && (inv.QEMUConf == nil || Unquote(inv.QEMUConf[kind+"_password"]) == "") {
				open = append(open, kind+" on "+a)
			} else {
				protected = append(protected, kind+" on "+a)
			}
		}
	}
	return open, protected
}

// tcpChardevs lists serial, console and channel devices bound to a non-loopback TCP or UDP
// address without TLS: an unauthenticated console or channel on the network.
func tcpChardevs(def *libvirtxml.Domain) []string {
	var out []string
	check := func(kind string, s *libvirtxml.DomainChardevSource) {
		if s == nil {
			return
		}
		if t := s.TCP; t != nil && t.Mode == "bind" && !loopback(t.Host) && t.TLS != "yes" {
			out = append(out, fmt.Sprintf("%s on tcp %s:%s", kind, or(t.Host, "0.0.0.0"), t.Service))
		}
		if u := s.UDP; u != nil && u.BindHost != "" && !loopback(u.BindHost) {
			out = append(out, fmt.Sprintf("%s on udp %s:%s", kind, u.BindHost, u.BindService))
		}
	}
	dv := devices(def)
	for _, x := range dv.Serials {
		check("serial", x.Source)
	}
	for _, x := range dv.Consoles {
		check("console", x.Source)
	}
	for _, x := range dv.Channels {
		check("channel", x.Source)
	}
	return out
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

var wholeDisk = regexp.MustCompile(`^/dev/(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+)$`)

var mitigationFeatures = map[string]bool{"spec-ctrl": true, "ibpb": true, "stibp": true, "ssbd": true, "virt-ssbd": true,
	"amd-ssbd": true, "md-clear": true, "arch-capabilities": true, "pcid": true}

// risky are the controls whose failure makes autostart worse (VM-032).
var risky = map[string]bool{"VM-002": true, "VM-003": true, "VM-006": true, "VM-007": true, "VM-011": true}

var vmControls = []Control{
	{ID: "VM-001", Group: "vm", Severity: "high", Title: "Hardware-accelerated domain", Check: perVM(func(_ *Inventory, d Domain) Result {
		if d.Def.Type == "qemu" {
			return fail(d.Name, "domain type qemu (TCG emulation): QEMU does not treat TCG bugs as security bugs; use kvm for untrusted guests")
		}
		return pass(d.Name, d.Def.Type)
	})},
	{ID: "VM-002", Group: "vm", Severity: "high", Title: "sVirt/AppArmor label disabled", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, s := range d.Def.SecLabel {
			if s.Type == "none" && s.Model != "dac" {
				return fail(d.Name, "<seclabel type='none'%s>: the VM runs unconfined", modelAttr(s.Model))
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-003", Group: "vm", Severity: "critical", Title: "DAC label runs QEMU as root", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, s := range d.Def.SecLabel {
			if s.Model == "dac" && dacRoot.MatchString(s.Label) {
				return fail(d.Name, "DAC label %s: QEMU runs as root for this VM", s.Label)
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-006", Group: "vm", Severity: "high", Title: "QEMU command-line passthrough", Check: perVM(func(_ *Inventory, d Domain) Result {
		if c := d.Def.QEMUCommandline; c != nil && (len(c.Args) > 0 || len(c.Envs) > 0) {
			var args []string
			for _, a := range c.Args {
				args = append(args, a.Value)
			}
			return fail(d.Name, "qemu:commandline passes %q, opaque to libvirt's confinement", strings.Join(args, " "))
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-007", Group: "vm", Severity: "critical", Title: "Graphics on the network without a password", Check: perVM(func(inv *Inventory, d Domain) Result {
		open, _ := exposedGraphics(inv, d.Def)
		if len(open) == 0 {
			return pass(d.Name, "")
		}
		if !d.Secure {
			// Without the secure XML a password would not show: do not claim there is none.
			return Result{Target: d.Name, Status: "error", Detail: strings.Join(open, ", ") + ": password state unknown (needs a read-write connection)"}
		}
		return fail(d.Name, "%s without a password: anyone who reaches it has the console", strings.Join(open, ", "))
	})},
	{ID: "VM-011", Group: "vm", Severity: "critical", Title: "Serial, console or channel on TCP/UDP", Check: perVM(func(_ *Inventory, d Domain) Result {
		if bad := tcpChardevs(d.Def); len(bad) > 0 {
			return fail(d.Name, "%s without TLS: an unauthenticated console on the network", strings.Join(bad, ", "))
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-012", Group: "vm", Severity: "high", Title: "CPU mitigations hidden from the guest", Check: perVM(func(_ *Inventory, d Domain) Result {
		if d.Def.CPU != nil {
			var off []string
			for _, f := range d.Def.CPU.Features {
				if (f.Policy == "disable" || f.Policy == "forbid") && mitigationFeatures[f.Name] {
					off = append(off, f.Name)
				}
			}
			if len(off) > 0 {
				return fail(d.Name, "CPU features %s are disabled: the guest cannot mitigate speculative-execution attacks", strings.Join(off, ", "))
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-014", Group: "vm", Severity: "medium", Title: "PCI device assignment", Check: perVM(func(_ *Inventory, d Domain) Result {
		var bdfs []string
		for _, h := range devices(d.Def).Hostdevs {
			if p := h.SubsysPCI; p != nil && p.Source != nil && p.Source.Address != nil {
				a := p.Source.Address
				bdfs = append(bdfs, fmt.Sprintf("%04x:%02x:%02x.%x", deref(a.Domain), deref(a.Bus), deref(a.Slot), deref(a.Function)))
			}
		}
		if len(bdfs) > 0 {
			return fail(d.Name, "PCI devices %s assigned: the guest drives real hardware and can DMA (see HOST-008)", strings.Join(bdfs, ", "))
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-017", Group: "vm", Severity: "medium", Title: "Whole host disk given writable", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, disk := range devices(d.Def).Disks {
			if disk.Source != nil && disk.Source.Block != nil && disk.ReadOnly == nil && wholeDisk.MatchString(disk.Source.Block.Dev) {
				return fail(d.Name, "%s is given writable as a whole: the guest can rewrite the host's partition table and labels", disk.Source.Block.Dev)
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-020", Group: "vm", Severity: "high", Title: "Inter-VM shared memory", Check: func(inv *Inventory) []Result {
		users := map[string][]string{}
		for _, d := range inv.Domains {
			if d.Def == nil {
				continue
			}
			for _, s := range devices(d.Def).Shmems {
				users[s.Name] = append(users[s.Name], d.Name)
			}
		}
		var out []Result
		for _, d := range inv.Domains {
			if d.Def == nil {
				continue
			}
			r := pass(d.Name, "")
			for _, s := range devices(d.Def).Shmems {
				if len(users[s.Name]) > 1 {
					r = fail(d.Name, "shared memory %q is also mapped by %s: a channel around guest isolation", s.Name, strings.Join(others(users[s.Name], d.Name), ", "))
					break
				}
				r = fail(d.Name, "shared memory %q with the host (ivshmem)", s.Name)
				r.Severity = "medium"
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			return []Result{skipped("vm", "no VMs")}
		}
		return out
	}},
	{ID: "VM-022", Group: "vm", Severity: "medium", Title: "UEFI without Secure Boot", Check: perVM(func(_ *Inventory, d Domain) Result {
		os := d.Def.OS
		if os == nil || (os.Firmware != "efi" && (os.Loader == nil || os.Loader.Type != "pflash")) {
			return pass(d.Name, "not UEFI")
		}
		secure := os.Loader != nil && os.Loader.Secure == "yes"
		if os.FirmwareInfo != nil {
			for _, f := range os.FirmwareInfo.Features {
				if f.Name == "secure-boot" && f.Enabled == "yes" {
					secure = true
				}
			}
		}
		if !secure {
			return fail(d.Name, "UEFI firmware without Secure Boot: unsigned boot code runs")
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-030", Group: "vm", Severity: "low", Title: "Disk format not pinned", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, disk := range devices(d.Def).Disks {
			if (disk.Device == "disk" || disk.Device == "lun" || disk.Device == "") && (disk.Driver == nil || disk.Driver.Type == "") {
				target := ""
				if disk.Target != nil {
					target = disk.Target.Dev
				}
				return fail(d.Name, "disk %s has no driver type: format probing lets a guest turn raw into qcow2 and reach a backing file", target)
			}
		}
		return pass(d.Name, "")
	})},
}

func modelAttr(m string) string {
	if m == "" {
		return ""
	}
	return " model='" + m + "'"
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
	sort.Strings(out)
	return out
}

var netControls = []Control{
	{ID: "NET-001", Group: "network", Severity: "medium", Title: "Forward mode open", Check: perNetwork(func(n *libvirtxml.Network) Result {
		if n.Forward != nil && n.Forward.Mode == "open" {
			return fail(n.Name, "forward mode open: libvirt adds no firewall rules; filtering depends on the host's own firewall")
		}
		return pass(n.Name, "")
	})},
	{ID: "NET-002", Group: "network", Severity: "info", Title: "Routed or bridged exposure", Check: perNetwork(func(n *libvirtxml.Network) Result {
		if n.Forward != nil {
			switch n.Forward.Mode {
			case "route":
				return fail(n.Name, "routed: guests are reachable from the LAN without NAT")
			case "bridge", "passthrough", "private", "vepa", "hostdev":
				return fail(n.Name, "forward mode %s: guests share layer 2 with the LAN", n.Forward.Mode)
			}
		}
		return pass(n.Name, "")
	})},
}

func perNetwork(check func(n *libvirtxml.Network) Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		var out []Result
		for _, n := range inv.Networks {
			out = append(out, check(n))
		}
		if len(out) == 0 {
			return []Result{skipped("network", "no networks")}
		}
		return out
	}
}

var storageControls = []Control{
	{ID: "STOR-001", Group: "storage", Severity: "high", Title: "Image directory permissions", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("storage", "the libvirt host is remote")}
		}
		var out []Result
		for _, p := range inv.Pools {
			if p.Target == nil || p.Target.Path == "" || p.Type != "dir" && p.Type != "fs" && p.Type != "netfs" {
				continue
			}
			fi, err := os.Stat(inv.Path(p.Target.Path))
			if err != nil {
				out = append(out, errored(p.Target.Path, err))
				continue
			}
			switch mode := fi.Mode().Perm(); {
			case mode&0o002 != 0:
				out = append(out, fail(p.Target.Path, "pool %s's directory is world-writable (%04o)", p.Name, mode))
			case mode&0o004 != 0:
				r := fail(p.Target.Path, "pool %s's directory is world-readable (%04o): anyone can list the images", p.Name, mode)
				r.Severity = "medium"
				out = append(out, r)
			default:
				out = append(out, pass(p.Target.Path, fmt.Sprintf("%04o", mode)))
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no directory pools")}
		}
		return out
	}},
	{ID: "STOR-002", Group: "storage", Severity: "critical", Title: "Disk image file permissions", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("storage", "the libvirt host is remote")}
		}
		var out []Result
		for _, d := range inv.Domains {
			if d.Def == nil {
				continue
			}
			for _, disk := range devices(d.Def).Disks {
				if disk.Source == nil || disk.Source.File == nil || disk.Source.File.File == "" || disk.ReadOnly != nil || disk.Device == "cdrom" {
					continue
				}
				path := disk.Source.File.File
				fi, err := os.Stat(inv.Path(path))
				if err != nil {
					continue // not created yet, or on another host's path: nothing to judge
				}
				switch mode := fi.Mode().Perm(); {
				case mode&0o002 != 0:
					out = append(out, fail(path, "%s's disk is world-writable (%04o)", d.Name, mode))
				case mode&0o004 != 0:
					r := fail(path, "%s's disk is world-readable (%04o): any local user reads the guest's data", d.Name, mode)
					r.Severity = "high"
					out = append(out, r)
				default:
					out = append(out, pass(path, fmt.Sprintf("%04o", mode)))
				}
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no file-backed writable disks")}
		}
		return out
	}},
}
