package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// macAvailable says whether the host has SELinux or AppArmor on (HOST-010's question).
func macAvailable(inv *Inventory) bool {
	if v, err := inv.Read("sys/fs/selinux/enforce"); err == nil && v != "" {
		return true
	}
	v, err := inv.Read("sys/module/apparmor/parameters/enabled")
	return err == nil && v == "Y"
}

var confinementControls = []Control{
	{ID: "HOST-011", Group: "host", Severity: "high", Title: "libvirt security driver active", Check: hostOnly(func(inv *Inventory) []Result {
		if inv.Caps == nil {
			return []Result{errored("host", fmt.Errorf("libvirt gave no capabilities"))}
		}
		var models []string
		for _, m := range inv.Caps.Host.SecModel {
			models = append(models, m.Name)
		}
		for _, m := range models {
			if m == "selinux" || m == "apparmor" {
				return []Result{pass("host", strings.Join(models, ", "))}
			}
		}
		if !macAvailable(inv) {
			return []Result{skipped("host", "no SELinux or AppArmor on this host (see HOST-010)")}
		}
		return []Result{fail("host", "libvirt runs only the %s security model although the host has a MAC: guests get no sVirt/AppArmor labels", or(strings.Join(models, ", "), "none"))}
	})},
	{ID: "HOST-012", Group: "host", Severity: "high", Title: "QEMU processes confined", Check: hostOnly(func(inv *Inventory) []Result {
		if !macAvailable(inv) {
			return []Result{skipped("host", "no SELinux or AppArmor on this host (see HOST-010)")}
		}
		return forEachQEMUPid(inv, func(name, pid string) Result {
			label, err := inv.Read(filepath.Join("proc", pid, "attr/current"))
			if err != nil || label == "" {
				label, err = inv.Read(filepath.Join("proc", pid, "attr/apparmor/current"))
			}
			if err != nil {
				return errored(name, err)
			}
			if strings.Contains(label, "unconfined") || !strings.Contains(label, "svirt") && !strings.Contains(label, "libvirt-") {
				return fail(name, "QEMU runs with label %q: not confined by sVirt or libvirt's AppArmor profile", label)
			}
			return pass(name, label)
		})
	})},
	{ID: "HOST-015", Group: "host", Severity: "medium", Title: "QEMU in a private mount namespace", Check: hostOnly(func(inv *Inventory) []Result {
		// The host's namespace: init's, or (in a container that hides init) this process's own.
		init, err := os.Readlink(inv.Path("proc/1/ns/mnt"))
		if err != nil {
			if init, err = os.Readlink(inv.Path("proc/self/ns/mnt")); err != nil {
				return []Result{errored("host", err)}
			}
		}
		return forEachQEMUPid(inv, func(name, pid string) Result {
			ns, err := os.Readlink(inv.Path(filepath.Join("proc", pid, "ns/mnt")))
			if err != nil {
				return errored(name, err)
			}
			if ns == init {
				return fail(name, "QEMU shares the host's mount namespace (%s): it sees the whole of /dev", ns)
			}
			return pass(name, ns)
		})
	})},
	{ID: "HOST-026", Group: "host", Severity: "info", Title: "Versions inventory", Check: func(inv *Inventory) []Result {
		detail := inv.Versions
		if inv.Local {
			if k, err := inv.Read("proc/sys/kernel/osrelease"); err == nil {
				detail += ", kernel " + k
			}
		}
		return []Result{pass("host", detail)}
	}},
	{ID: "DAEMON-008", Group: "daemon", Severity: "critical", Title: "Read-write socket open without authentication", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote")}
		}
		var out []Result
		for _, sock := range []string{"run/libvirt/libvirt-sock", "run/libvirt/virtqemud-sock"} {
			fi, err := os.Stat(inv.Path(sock))
			if err != nil {
				continue
			}
			auth := "polkit" // Debian's and Fedora's default
			if inv.DaemonCfg != nil && inv.DaemonCfg["auth_unix_rw"] != "" {
				auth = Unquote(inv.DaemonCfg["auth_unix_rw"])
			}
			if fi.Mode().Perm()&0o002 != 0 && auth == "none" {
				out = append(out, fail("/"+sock, "world-writable (%04o) with auth_unix_rw = none: every local user controls every VM", fi.Mode().Perm()))
			} else {
				out = append(out, pass("/"+sock, fmt.Sprintf("%04o, auth %s", fi.Mode().Perm(), auth)))
			}
		}
		if len(out) == 0 {
			return []Result{skipped("host", "no libvirt socket found")}
		}
		return out
	}},
	{ID: "DAEMON-009", Group: "daemon", Severity: "high", Title: "Admin socket too open", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote")}
		}
		socks, _ := filepath.Glob(inv.Path("run/libvirt/*admin-sock"))
		var out []Result
		for _, s := range socks {
			fi, err := os.Stat(s)
			if err != nil {
				continue
			}
			rel, _ := filepath.Rel(inv.Root, s)
			if fi.Mode().Perm()&0o077 != 0 {
				out = append(out, fail("/"+rel, "mode %04o, looser than 0700: others may reconfigure the daemon", fi.Mode().Perm()))
			} else {
				out = append(out, pass("/"+rel, ""))
			}
		}
		if len(out) == 0 {
			return []Result{skipped("host", "no admin socket found")}
		}
		return out
	}},
	{ID: "VM-004", Group: "vm", Severity: "medium", Title: "Relabelling disabled", Check: perVM(func(_ *Inventory, d Domain) Result {
		for _, s := range d.Def.SecLabel {
			if s.Relabel == "no" && s.Type != "none" {
				return fail(d.Name, "seclabel model %s relabel='no': images keep a label shared with other VMs or the host", or(s.Model, "default"))
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-005", Group: "vm", Severity: "high", Title: "Static or shared MCS labels", Check: func(inv *Inventory) []Result {
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
			r := pass(d.Name, "")
			for _, s := range d.Live.SecLabel {
				if s.Model != "selinux" {
					continue
				}
				switch {
				case len(users[s.Label]) > 1:
					r = fail(d.Name, "SELinux label %s is shared with %s: no isolation between them", s.Label, strings.Join(others(users[s.Label], d.Name), ", "))
				case s.Type == "static":
					r = fail(d.Name, "static SELinux label %s: nothing keeps another VM from the same categories", s.Label)
				}
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			return []Result{skipped("vm", "no running VMs")}
		}
		return out
	}},
	{ID: "VM-008", Group: "vm", Severity: "high", Title: "Graphics on the network without TLS", Check: perVM(func(inv *Inventory, d Domain) Result {
		_, protected := exposedGraphics(inv, d.Def)
		var bad []string
		for _, g := range protected {
			kind := strings.Fields(g)[0]
			if inv.QEMUConf != nil && inv.QEMUConf[kind+"_tls"] == "1" {
				continue
			}
			bad = append(bad, g)
		}
		if len(bad) > 0 {
			return fail(d.Name, "%s with a password but no TLS: the password and the session cross the network in clear", strings.Join(bad, ", "))
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-009", Group: "vm", Severity: "high", Title: "VNC websocket on the network", Check: perVM(func(inv *Inventory, d Domain) Result {
		for _, g := range devices(d.Def).Graphics {
			if g.VNC == nil || g.VNC.WebSocket == 0 {
				continue
			}
			addrs, _ := graphicsListens(g.VNC.Listen, g.VNC.Listeners)
			if len(addrs) == 0 && inv.QEMUConf != nil {
				addrs = []string{Unquote(inv.QEMUConf["vnc_listen"])}
			}
			for _, a := range addrs {
				if a != "" && !loopback(a) && (inv.QEMUConf == nil || inv.QEMUConf["vnc_tls"] != "1") {
					return fail(d.Name, "VNC websocket %d on %s without TLS", g.VNC.WebSocket, a)
				}
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "VM-029", Group: "vm", Severity: "medium", Title: "Network disk without authentication or TLS", Check: perVM(func(inv *Inventory, d Domain) Result {
		for _, disk := range devices(d.Def).Disks {
			if disk.Source == nil || disk.Source.Network == nil {
				continue
			}
			n := disk.Source.Network
			switch n.Protocol {
			case "rbd", "iscsi":
				if n.Auth == nil {
					return fail(d.Name, "%s disk %s without <auth>", n.Protocol, n.Name)
				}
			case "nbd":
				if n.TLS != "yes" && (inv.QEMUConf == nil || inv.QEMUConf["nbd_tls"] != "1") {
					return fail(d.Name, "NBD disk %s without TLS", n.Name)
				}
			case "http", "ftp", "tftp":
				return fail(d.Name, "disk %s over %s: cleartext and unauthenticated", n.Name, n.Protocol)
			}
		}
		return pass(d.Name, "")
	})},
	{ID: "NET-005", Group: "network", Severity: "medium", Title: "Anti-spoofing filters present and intact", Check: func(inv *Inventory) []Result {
		if inv.Filters == nil {
			return []Result{skipped("network", "no network filter driver")}
		}
		f, ok := inv.Filters["clean-traffic"]
		if !ok {
			return []Result{fail("clean-traffic", "the clean-traffic filter is missing: NICs cannot be protected from MAC, IP and ARP spoofing")}
		}
		refs := map[string]bool{}
		var walk func(f *libvirtxml.NWFilter, depth int)
		walk = func(f *libvirtxml.NWFilter, depth int) {
			for _, e := range f.Entries {
				if e.Ref != nil && !refs[e.Ref.Filter] && depth < 8 {
					refs[e.Ref.Filter] = true
					if sub, ok := inv.Filters[e.Ref.Filter]; ok {
						walk(sub, depth+1)
					}
				}
			}
		}
		walk(f, 0)
		var missing []string
		for _, want := range []string{"no-mac-spoofing", "no-ip-spoofing", "no-arp-spoofing"} {
			if !refs[want] {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return []Result{fail("clean-traffic", "clean-traffic no longer references %s", strings.Join(missing, ", "))}
		}
		return []Result{pass("clean-traffic", "")}
	}},
	{ID: "STOR-006", Group: "storage", Severity: "medium", Title: "Retrievable secrets", Check: func(inv *Inventory) []Result {
		if inv.Secrets == nil {
			return []Result{skipped("storage", "libvirt did not list its secrets (a read-only connection?)")}
		}
		var out []Result
		for _, s := range inv.Secrets {
			name := s.UUID
			if s.Usage != nil && s.Usage.Name != "" {
				name = s.Usage.Name
			}
			if s.Private != "yes" {
				out = append(out, fail(name, "secret %s is not private: any read-write client can read its value back", s.UUID))
			} else {
				out = append(out, pass(name, ""))
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no secrets")}
		}
		return out
	}},
	{ID: "STOR-009", Group: "storage", Severity: "medium", Title: "Backing file outside trusted pools", Check: func(inv *Inventory) []Result {
		var out []Result
		for _, d := range inv.Domains {
			def := d.Live
			if def == nil {
				def = d.Def
			}
			if def == nil {
				continue
			}
			for _, disk := range devices(def).Disks {
				for b := disk.BackingStore; b != nil; b = b.BackingStore {
					if b.Source == nil {
						continue
					}
					switch {
					case b.Source.Network != nil:
						out = append(out, fail(d.Name, "a backing file over %s (%s)", b.Source.Network.Protocol, b.Source.Network.Name))
					case b.Source.File != nil:
						if path := b.Source.File.File; inPool(inv, path) {
							out = append(out, pass(d.Name, path))
						} else {
							out = append(out, fail(d.Name, "backing file %s is in no storage pool", b.Source.File.File))
						}
					}
				}
			}
		}
		if len(out) == 0 {
			return []Result{skipped("storage", "no backing files")}
		}
		return out
	}},
}

// forEachQEMUPid applies check to each running VM's QEMU pid, from libvirt's pid files.
func forEachQEMUPid(inv *Inventory, check func(name, pid string) Result) []Result {
	var out []Result
	for _, d := range inv.Domains {
		if d.Live == nil {
			continue
		}
		pid, err := inv.Read(filepath.Join("run/libvirt/qemu", d.Name+".pid"))
		if err != nil {
			out = append(out, errored(d.Name, err))
			continue
		}
		out = append(out, check(d.Name, strings.TrimSpace(pid)))
	}
	if len(out) == 0 {
		return []Result{skipped("host", "no running VM")}
	}
	return out
}

// inPool says whether path is under the target directory of one of the host's storage pools.
func inPool(inv *Inventory, path string) bool {
	for _, p := range inv.Pools {
		if p.Target != nil && p.Target.Path != "" && strings.HasPrefix(path, filepath.Clean(p.Target.Path)+"/") {
			return true
		}
	}
	return false
}
