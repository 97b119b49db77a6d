package audit

import (
	"net/netip"
	"strings"
)

// confCheck wraps a check of the driver configuration: it is skipped on a remote host and an
// error when the file could not be read (never a pass).
func confCheck(check func(inv *Inventory) []Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote: its configuration cannot be read from here")}
		}
		if inv.QEMUConf == nil {
			return []Result{{Target: "qemu.conf", Status: "error", Detail: inv.ConfErr}}
		}
		return check(inv)
	}
}

// loopback says whether a listen address reaches only this host.
func loopback(addr string) bool {
	addr = strings.Trim(addr, "[]")
	if addr == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsLoopback()
}

var daemonControls = []Control{
	{ID: "DAEMON-002", Group: "daemon", Severity: "critical", Title: "TCP listener without authentication", Check: func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote")}
		}
		if inv.DaemonCfg == nil {
			return []Result{skipped("libvirtd.conf", "no libvirtd.conf (defaults: no TCP listener)")}
		}
		if Unquote(inv.DaemonCfg["listen_tcp"]) != "1" {
			return []Result{pass("libvirtd.conf", "listen_tcp is off")}
		}
		if Unquote(inv.DaemonCfg["auth_tcp"]) == "none" {
			return []Result{fail("libvirtd.conf", "listen_tcp = 1 with auth_tcp = \"none\": anyone who reaches the port controls every VM, in cleartext")}
		}
		r := fail("libvirtd.conf", "listen_tcp = 1: the libvirt API listens unencrypted (auth %s)", inv.DaemonCfg["auth_tcp"])
		r.Severity = "high" // DAEMON-001's level: authenticated, but cleartext
		return []Result{r}
	}},
	{ID: "DAEMON-013", Group: "daemon", Severity: "critical", Title: "QEMU security driver disabled", Check: confCheck(func(inv *Inventory) []Result {
		v, set := inv.QEMUConf["security_driver"]
		if set && (Unquote(v) == "none" || len(ListValues(v)) == 0 && strings.HasPrefix(strings.TrimSpace(v), "[")) {
			return []Result{fail("qemu.conf", "security_driver = %s: guests run without sVirt/AppArmor or DAC labels", v)}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-016", Group: "daemon", Severity: "critical", Title: "QEMU configured to run as root", Check: confCheck(func(inv *Inventory) []Result {
		for _, k := range []string{"user", "group"} {
			switch Unquote(inv.QEMUConf[k]) {
			case "root", "+0", "0":
				return []Result{fail("qemu.conf", "%s = %s: a guest escape is a root compromise", k, inv.QEMUConf[k])}
			}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-017", Group: "daemon", Severity: "medium", Title: "Dynamic ownership off", Check: confCheck(func(inv *Inventory) []Result {
		if inv.QEMUConf["dynamic_ownership"] == "0" {
			return []Result{fail("qemu.conf", "dynamic_ownership = 0: images must be permissioned by hand, and often end up world-readable")}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-018", Group: "daemon", Severity: "high", Title: "Seccomp sandbox or namespaces off", Check: confCheck(func(inv *Inventory) []Result {
		if inv.QEMUConf["seccomp_sandbox"] == "0" {
			return []Result{fail("qemu.conf", "seccomp_sandbox = 0: QEMU may make any system call")}
		}
		if v, set := inv.QEMUConf["namespaces"]; set && len(ListValues(v)) == 0 {
			r := fail("qemu.conf", "namespaces = []: QEMU sees the whole host /dev")
			r.Severity = "medium"
			return []Result{r}
		}
		return []Result{pass("qemu.conf", "")}
	})},
	{ID: "DAEMON-019", Group: "daemon", Severity: "high", Title: "VNC/SPICE listen on the network by default", Check: confCheck(func(inv *Inventory) []Result {
		var out []Result
		for _, kind := range []string{"vnc", "spice"} {
			listen := Unquote(inv.QEMUConf[kind+"_listen"])
			if listen == "" || loopback(listen) {
				out = append(out, pass("qemu.conf", kind+" listens on loopback"))
				continue
			}
			if inv.QEMUConf[kind+"_tls"] == "1" {
				out = append(out, pass("qemu.conf", kind+" listens on "+listen+" with TLS"))
				continue
			}
			r := fail("qemu.conf", "%s_listen = %s without %s_tls: consoles of VMs without their own listen address are on the network in cleartext", kind, listen, kind)
			if Unquote(inv.QEMUConf[kind+"_password"]) == "" && inv.QEMUConf[kind+"_sasl"] != "1" {
				r.Severity = "critical"
				r.Detail += ", and with no default password either"
			}
			out = append(out, r)
		}
		return out
	})},
}
