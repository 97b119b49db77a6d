package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// sensitiveDirs are host directories whose writable share gives a guest the host.
var sensitiveDirs = []string{"/", "/etc", "/root", "/home", "/var/lib/libvirt"}

var moreHostControls = []Control{
	{ID: "HOST-004", Group: "host", Severity: "low", Title: "/dev/net/tun exists", Check: hostOnly(func(inv *Inventory) []Result {
		if _, err := os.Stat(inv.Path("dev/net/tun")); err != nil {
			return []Result{fail("host", "/dev/net/tun is missing: load the tun module")}
		}
		return []Result{pass("host", "")}
	})},
}

var moreDaemonControls = []Control{
	{ID: "DAEMON-004", Group: "daemon", Severity: "high", Title: "TLS client certificate verification disabled", Check: daemonKey("tls_no_verify_certificate", "1",
		"tls_no_verify_certificate = 1: any client that completes TLS is let in")},
	{ID: "DAEMON-014", Group: "daemon", Severity: "high", Title: "Guests unconfined by default", Check: confCheck(func(inv *Inventory) []Result {
		if inv.QEMUConf["security_default_confined"] == "0" {
			return []Result{fail("qemu.conf", "security_default_confined = 0: guests without a seclabel run unconfined")}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-020", Group: "daemon", Severity: "medium", Title: "libvirt auditing disabled", Check: daemonKey("audit_level", "0",
		"audit_level = 0: libvirt writes no audit records of VM operations")},
	{ID: "DAEMON-023", Group: "daemon", Severity: "medium", Title: "Guest RAM in core dumps", Check: confCheck(func(inv *Inventory) []Result {
		if inv.QEMUConf["dump_guest_core"] == "1" && Unquote(inv.QEMUConf["max_core"]) != "0" {
			return []Result{fail("qemu.conf", "dump_guest_core = 1: a QEMU crash dump holds the guest's whole memory")}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-024", Group: "daemon", Severity: "low", Title: "QEMU output written to plain files", Check: confCheck(func(inv *Inventory) []Result {
		if Unquote(inv.QEMUConf["stdio_handler"]) == "file" {
			return []Result{fail("qemu.conf", "stdio_handler = \"file\": a guest can fill the host's disk through QEMU's log (virtlogd rolls it over)")}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-025", Group: "daemon", Severity: "medium", Title: "Relaxed PCI ACS check", Check: confCheck(func(inv *Inventory) []Result {
		if inv.QEMUConf["relaxed_acs_check"] == "1" {
			return []Result{fail("qemu.conf", "relaxed_acs_check = 1: devices behind switches without ACS can be assigned; their DMA is not isolated from each other")}
		}
		return []Result{pass("qemu.conf", "")}
	})},
}

// daemonKey fails when the daemon configuration sets key to bad.
func daemonKey(key, bad, detail string) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote")}
		}
		if inv.DaemonCfg == nil {
			return []Result{skipped("libvirtd.conf", "no libvirtd.conf: the defaults apply")}
		}
		if Unquote(inv.DaemonCfg[key]) == bad {
			return []Result{fail("libvirtd.conf", "%s", detail)}
		}
		return []Result{pass("libvirtd.conf", "")}
	}
}

var moreVMControls = []Control{
	{ID: "VM-015", Group: "vm", Severity: "medium", Title: "USB passthrough or redirection", Check: perVM(func(_ *Inventory, d Domain) Result {
		dv := devices(d.Def)
		for _, r := range dv.RedirDevs {
			if r.Bus == "usb" && len(dv.RedirFilters) == 0 {
				return fail(d.Name, "USB redirection without a redirfilter: any SPICE client can attach any USB device")
			}
		}
		for _, h := range dv.Hostdevs {
			if h.SubsysUSB != nil {
				r := fail(d.Name, "a host USB device is assigned")
				r.Severity = "low"
				return r
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-016", Group: "vm", Severity: "high", Title: "Raw SCSI access", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, disk := range devices(d.Def).Disks {
			if disk.RawIO == "yes" || disk.SGIO == "unfiltered" {
				return fail(d.Name, "a LUN with rawio=%q sgio=%q: QEMU gets CAP_SYS_RAWIO or unfiltered SCSI commands", disk.RawIO, disk.SGIO)
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-018", Group: "vm", Severity: "medium", Title: "Writable host directory share", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, fs := range devices(d.Def).Filesystems {
			if fs.ReadOnly != nil || fs.Source == nil || fs.Source.Mount == nil {
				continue
			}
			dir := filepath.Clean(fs.Source.Mount.Dir)
			r := fail(d.Name, "host directory %s is shared writable", dir)
			for _, s := range sensitiveDirs {
				if dir == s {
					r.Severity, r.Detail = "high", r.Detail+": the guest can change the host itself"
				}
			}
			if fs.AccessMode == "passthrough" {
				r.Detail += " (accessmode passthrough: file operations run with QEMU's credentials)"
			}
			return r
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-019", Group: "vm", Severity: "low", Title: "Shareable writable disk", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, disk := range devices(d.Def).Disks {
			if disk.Shareable != nil && disk.ReadOnly == nil {
				return fail(d.Name, "a writable disk is marked shareable: it needs a cluster file system, or it is corrupted")
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-021", Group: "vm", Severity: "medium", Title: "Host input device passthrough", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, in := range devices(d.Def).Inputs {
			if in.Type == "passthrough" || in.Type == "evdev" {
				return fail(d.Name, "input type %s: host keyboard or mouse events reach the guest", in.Type)
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-023", Group: "vm", Severity: "medium", Title: "Guest RAM written to the host on a crash", Check: perVM(func(_ *Inventory, d Domain) Result {
		if d.Def.Memory != nil && d.Def.Memory.DumpCore == "on" {
			return fail(d.Name, "memory dumpCore='on': QEMU core dumps hold the guest's memory")
		}
		if strings.HasPrefix(d.Def.OnCrash, "coredump") {
			r := fail(d.Name, "on_crash %s: the guest's memory is dumped to the host", d.Def.OnCrash)
			r.Severity = "low"
			return r
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-026", Group: "vm", Severity: "medium", Title: "Guest may change RX filters", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, nic := range devices(d.Def).Interfaces {
			if nic.TrustGuestRXFilters == "yes" {
				return fail(d.Name, "trustGuestRxFilters='yes': the guest sets the MAC and multicast filters of its NIC")
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-027", Group: "vm", Severity: "low", Title: "Direct (macvtap) NIC", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, nic := range devices(d.Def).Interfaces {
			if nic.Source != nil && nic.Source.Direct != nil {
				r := fail(d.Name, "macvtap on %s (mode %s): guest traffic bypasses the host's netfilter", nic.Source.Direct.Dev, or(nic.Source.Direct.Mode, "vepa"))
				if nic.Source.Direct.Mode == "private" {
					r.Severity = "info"
				}
				return r
			}
		}
		return pass(d.Name, "")
	})},
}

var moreNetControls = []Control{
	{ID: "NET-003", Group: "network", Severity: "medium", Title: "Network trusts guest RX filters", Check: perNetwork(func(n *libvirtxml.Network) Result {
		if n.TrustGuestRxFilters == "yes" {
			return fail(n.Name, "trustGuestRxFilters='yes': guests set their NICs' MAC and multicast filters")
		}
		return pass(n.Name, "")
	})},
}

var moreStorageControls = []Control{
	{ID: "STOR-003", Group: "storage", Severity: "medium", Title: "NVRAM permissions", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("storage", "the libvirt host is remote")}
		}
		var out []Result
		for _, d := range inv.Domains {
			if d.Def == nil || d.Def.OS == nil || d.Def.OS.NVRam == nil || d.Def.OS.NVRam.NVRam == "" {
				continue
			}
			p := d.Def.OS.NVRam.NVRam
			fi, err := os.Stat(inv.Path(p))
			if err != nil {
				continue // made at first start
			}
			if mode := fi.Mode().Perm(); mode&0o004 != 0 {
				out = append(out, fail(p, "%s's NVRAM (Secure Boot variables) is world-readable (%04o)", d.Name, mode))
			} else {
				out = append(out, pass(p, fmt.Sprintf("%04o", mode)))
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no UEFI NVRAM files")}
		}
		return out
	}},
	{ID: "STOR-010", Group: "storage", Severity: "low", Title: "Disks outside managed locations", Check: func(inv *Inventory) []Result {
		var out []Result
		for _, d := range inv.Domains {
			if d.Def == nil {
				continue
			}
			for _, disk := range devices(d.Def).Disks {
				if disk.Source == nil || disk.Source.File == nil || disk.Device == "cdrom" {
					continue
				}
				path := disk.Source.File.File
				if inPool(inv, path) {
					out = append(out, pass(path, ""))
				} else {
					out = append(out, fail(path, "%s's disk is in no storage pool: libvirt manages neither its permissions nor its labels", d.Name))
				}
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no file-backed disks")}
		}
		return out
	}},
}
