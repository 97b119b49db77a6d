package audit

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// loopback says whether a listen address reaches only this host.
func loopback(addr string) bool {
	addr = strings.Trim(addr, "[]")
	if addr == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(addr)
	return err == nil && a.IsLoopback()
}

// restart names the daemon that rereads c.
func restart(inv *Inventory, c *Conf) string {
	switch {
	case c.Name == "qemu.conf" && inv.modular():
		return "systemctl restart virtqemud"
	case strings.HasSuffix(c.Name, "d.conf"):
		return "systemctl restart " + strings.TrimSuffix(c.Name, ".conf")
	}
	return "systemctl restart libvirtd"
}

// setFix is the remediation "set KEY = VALUE in FILE (line N), restart".
func setFix(inv *Inventory, c *Conf, key, value string) string {
	where := c.Path
	if v, ok := c.Lookup(key); ok {
		where = fmt.Sprintf("%s line %d", c.Path, v.Line)
	}
	return fmt.Sprintf("Set %s = %s in %s, then %s.", key, value, where, restart(inv, c))
}

// listening says how the daemon's plain TCP ("tcp") or TLS ("tls") socket is open: a systemd
// socket unit enabled for it, a socket in LISTEN state on its port, or the listen_* key with
// the daemon started with --listen. Empty when none; latent says the key asks for it anyway.
func listening(inv *Inventory, c *Conf, kind string) (how []string, latent bool) {
	portKey, def, listenKey, listenDef := "tcp_port", "16509", "listen_tcp", false
	if kind == "tls" {
		portKey, def, listenKey, listenDef = "tls_port", "16514", "listen_tls", true
	}
	daemon := strings.TrimSuffix(c.Name, ".conf")
	for _, unit := range []string{daemon + "-" + kind + ".socket"} {
		matches, _ := filepath.Glob(inv.Path("etc/systemd/system/*.wants/" + unit))
		if len(matches) > 0 {
			how = append(how, "systemd unit "+unit+" is enabled")
		}
	}
	port, errR := str(c, portKey, def)
	if errR != nil {
		port = def
	}
	if ls, err := listeners(inv); err == nil {
		for _, l := range ls {
			if strconv.Itoa(l.port) == port && l.libvirts() {
				how = append(how, "a socket listens on "+l.String()+ownedBy(l))
			}
		}
	}
	on, _ := flag(c, listenKey, listenDef)
	if on && daemonHasListen(inv, daemon) {
		how = append(how, fmt.Sprintf("%s = 1 and %s runs with --listen", listenKey, daemon))
	}
	return how, on && kind == "tcp"
}

func ownedBy(l listener) string {
	if l.pid == "" {
		return ""
	}
	return " (" + l.process() + ")"
}

// daemonHasListen says whether the daemon runs with --listen (-l).
func daemonHasListen(inv *Inventory, daemon string) bool {
	procs, _ := filepath.Glob(inv.Path("proc/[0-9]*/comm"))
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) != daemon {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		for _, arg := range strings.Split(string(b), "\x00") {
			if arg == "--listen" || arg == "-l" {
				return true
			}
		}
	}
	return false
}

// defaultDeviceACL is qemu.conf's documented cgroup_device_acl.
var defaultDeviceACL = []string{"/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd"}

// worst merges the failures of one target into one result: the worst (a result without a
// severity of its own has the control's) sets severity, location and remediation, and every
// failure is listed. One pass when none failed.
func worst(target string, control Severity, passDetail string, found []Result) []Result {
	if len(found) == 0 {
		return []Result{pass(target, "%s", passDetail)}
	}
	rank := func(r Result) int { return Rank(string(cmp.Or(r.Severity, control))) }
	slices.SortStableFunc(found, func(a, b Result) int { return cmp.Compare(rank(b), rank(a)) })
	r := found[0]
	var details []string
	for _, f := range found {
		details = append(details, f.Detail)
	}
	r.Detail = strings.Join(details, "; ")
	return []Result{r}
}

var daemonControls = []Control{
	{ID: "DAEMON-001", Group: "daemon", Severity: High, Title: "Plain TCP listener enabled",
		Description: "The libvirt API on plain TCP (port 16509) carries every command and console stream unencrypted; with socket activation the listen_tcp key is ignored and the systemd unit decides.",
		HowChecked:  "listen_tcp and tcp_port in libvirtd.conf (virtproxyd.conf on modular hosts), the daemon's --listen flag in /proc/PID/cmdline, enabled *-tcp.socket units under /etc/systemd/system, and LISTEN sockets on the port in /proc/net/tcp held by libvirtd, virtproxyd or systemd (another program on the port is not libvirt).",
		Remediation: "Use TLS (16514) or SSH (qemu+ssh://) instead: systemctl disable --now libvirtd-tcp.socket (virtproxyd-tcp.socket) and set listen_tcp = 0.",
		Check: withConf(remoteConf, func(inv *Inventory, c *Conf) []Result {
			how, latent := listening(inv, c, "tcp")
			switch {
			case len(how) > 0:
				return []Result{fail(c.Name, "plain TCP is open: %s", strings.Join(how, "; ")).at(c.Loc("listen_tcp"))}
			case latent:
				return []Result{fail(c.Name, "latent: %s, though nothing listens yet (it takes effect when the daemon starts with --listen)", c.Setting("listen_tcp")).
					sev(Low).at(c.Loc("listen_tcp")).fix("%s", setFix(inv, c, "listen_tcp", "0"))}
			}
			return []Result{pass(c.Name, "no plain TCP listener (%s, no *-tcp.socket unit, nothing on the port)", c.Setting("listen_tcp"))}
		})},
	{ID: "DAEMON-002", Group: "daemon", Severity: Critical, Title: "TCP listener without authentication",
		Description: "auth_tcp = \"none\" on a listening TCP socket gives anyone who reaches the port full control of every VM, in cleartext.",
		HowChecked:  "auth_tcp in libvirtd.conf (virtproxyd.conf), and whether plain TCP listens (DAEMON-001's evidence).",
		Remediation: "Set auth_tcp = \"sasl\" (with a strong mechanism, DAEMON-003) or stop listening on TCP.",
		Check: withConf(remoteConf, func(inv *Inventory, c *Conf) []Result {
			auth, errR := str(c, "auth_tcp", "sasl")
			if errR != nil {
				return []Result{*errR}
			}
			if auth != "none" {
				return []Result{pass(c.Name, "auth_tcp is %q", auth)}
			}
			how, latent := listening(inv, c, "tcp")
			fix := setFix(inv, c, "auth_tcp", `"sasl"`)
			if len(how) > 0 {
				return []Result{fail(c.Name, "auth_tcp = \"none\" while plain TCP is open (%s): anyone who reaches the port controls every VM, in cleartext", strings.Join(how, "; ")).
					at(c.Loc("auth_tcp")).fix("%s", fix)}
			}
			r := fail(c.Name, "latent: auth_tcp = \"none\" though nothing listens on TCP now; the day it does, it is open to all").sev(Medium).at(c.Loc("auth_tcp")).fix("%s", fix)
			if latent {
				r.Detail = "latent: auth_tcp = \"none\" with listen_tcp = 1, though nothing listens yet: one --listen away from an open API"
				r.Severity = High
			}
			return []Result{r}
		})},
	{ID: "DAEMON-003", Group: "daemon", Severity: High, Title: "Weak SASL mechanism",
		Description: "DIGEST-MD5 is broken (RFC 6331); SCRAM and PLAIN do not encrypt, so on plain TCP they leave the session in cleartext.",
		HowChecked:  "mech_list in /etc/sasl2/libvirt.conf, and whether plain TCP listens.",
		Remediation: "Set mech_list: gssapi in /etc/sasl2/libvirt.conf, or use scram-sha-256 only over TLS (auth_tls = \"sasl\").",
		Check: hostOnly(func(inv *Inventory) []Result {
			const path = "/etc/sasl2/libvirt.conf"
			data, err := os.ReadFile(inv.Path(path))
			if os.IsNotExist(err) {
				return []Result{pass("libvirt.conf", "no %s: SASL is not configured for libvirt", path)}
			}
			if err != nil {
				return []Result{errored("libvirt.conf", err)}
			}
			for i, line := range strings.Split(string(data), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok || strings.TrimSpace(k) != "mech_list" {
					continue
				}
				loc := &model.FindingLocation{File: path, Line: i + 1}
				mechs := strings.Fields(strings.ToLower(v))
				if slices.Contains(mechs, "digest-md5") {
					return []Result{fail("libvirt.conf", "mech_list has digest-md5, broken since RFC 6331").at(loc)}
				}
				var cleartext []string
				for _, m := range mechs {
					if m == "plain" || strings.HasPrefix(m, "scram-") {
						cleartext = append(cleartext, m)
					}
				}
				if len(cleartext) > 0 && inv.RemoteConf != nil && inv.RemoteConf.Err == nil {
					if how, _ := listening(inv, inv.RemoteConf, "tcp"); len(how) > 0 {
						return []Result{fail("libvirt.conf", "mech_list has %s, which do not encrypt, while plain TCP is open", strings.Join(cleartext, ", ")).at(loc)}
					}
				}
				return []Result{pass("libvirt.conf", "mech_list: %s", strings.Join(mechs, " "))}
			}
			return []Result{pass("libvirt.conf", "%s sets no mech_list (libvirt's packaged default is gssapi)", path)}
		})},
	{ID: "DAEMON-004", Group: "daemon", Severity: High, Title: "TLS client certificate verification disabled",
		Description: "With tls_no_verify_certificate = 1 any client that completes a TLS handshake is let in: the client certificate is libvirt's primary authentication on TLS.",
		HowChecked:  "tls_no_verify_certificate in libvirtd.conf (virtproxyd.conf).",
		Remediation: "Remove tls_no_verify_certificate (or set it to 0) and restart the daemon.",
		Check:       confFlag(remoteConf, "tls_no_verify_certificate", false, true, "any client that completes TLS is let in", "Set tls_no_verify_certificate = 0 (or remove it) and restart the daemon.")},
	{ID: "DAEMON-005", Group: "daemon", Severity: Low, Title: "TLS server sanity checks disabled",
		Description: "tls_no_sanity_certificate = 1 lets the daemon start with an expired or mis-issued server certificate.",
		HowChecked:  "tls_no_sanity_certificate in libvirtd.conf (virtproxyd.conf).",
		Remediation: "Remove tls_no_sanity_certificate (or set it to 0) and fix the certificate it was hiding.",
		Check:       confFlag(remoteConf, "tls_no_sanity_certificate", false, true, "the daemon accepts its own broken certificates", "Set tls_no_sanity_certificate = 0 (or remove it) and restart the daemon.")},
	{ID: "DAEMON-006", Group: "daemon", Severity: Medium, Title: "No DN allow-list on TLS",
		Description: "With auth_tls = \"none\" and no tls_allowed_dn_list, any certificate the CA ever signed gets full access.",
		HowChecked:  "auth_tls and tls_allowed_dn_list in libvirtd.conf (virtproxyd.conf), and whether TLS listens (enabled *-tls.socket unit, LISTEN socket on tls_port, listen_tls with --listen).",
		Remediation: "Set tls_allowed_dn_list = [\"C=…,O=…,CN=admin1\", …] to the clients' DNs, or auth_tls = \"sasl\".",
		Check: withConf(remoteConf, func(inv *Inventory, c *Conf) []Result {
			how, _ := listening(inv, c, "tls")
			if len(how) == 0 {
				return []Result{pass(c.Name, "TLS does not listen")}
			}
			auth, errR := str(c, "auth_tls", "none")
			if errR != nil {
				return []Result{*errR}
			}
			dns, set, err := c.Strings("tls_allowed_dn_list")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("tls_allowed_dn_list"))}
			}
			if auth == "none" && (!set || len(dns) == 0) {
				return []Result{fail(c.Name, "TLS listens (%s) with auth_tls %q and no tls_allowed_dn_list: any certificate the CA signed gets full access", strings.Join(how, "; "), auth).at(c.Loc("auth_tls"))}
			}
			return []Result{pass(c.Name, "auth_tls %q, %d allowed DN(s)", auth, len(dns))}
		})},
	{ID: "DAEMON-007", Group: "daemon", Severity: Low, Title: "TLS CRL not configured",
		Description: "Without a certificate revocation list a stolen client certificate stays valid until it expires.",
		HowChecked:  "crl_file in libvirtd.conf (virtproxyd.conf) and the default /etc/pki/CA/crl.pem, when TLS listens.",
		Remediation: "Publish a CRL and set crl_file = \"/etc/pki/CA/crl.pem\".",
		Check: withConf(remoteConf, func(inv *Inventory, c *Conf) []Result {
			how, _ := listening(inv, c, "tls")
			if len(how) == 0 {
				return []Result{pass(c.Name, "TLS does not listen")}
			}
			crl, errR := str(c, "crl_file", "")
			if errR != nil {
				return []Result{*errR}
			}
			if crl == "" {
				if _, err := os.Stat(inv.Path("etc/pki/CA/crl.pem")); err == nil {
					return []Result{pass(c.Name, "the default CRL /etc/pki/CA/crl.pem exists")}
				}
				return []Result{fail(c.Name, "TLS listens (%s) without a CRL: revoked client certificates still work", strings.Join(how, "; ")).at(c.Loc("crl_file"))}
			}
			return []Result{pass(c.Name, "crl_file = %q", crl)}
		})},
	{ID: "DAEMON-008", Group: "daemon", Severity: Critical, Title: "Read-write socket open without authentication",
		Description: "A world-writable read-write socket with auth_unix_rw = \"none\" lets every local user control every VM, which is root on the host.",
		HowChecked:  "stat of /run/libvirt/libvirt-sock and /run/libvirt/virtqemud-sock, and auth_unix_rw of the daemon that owns each socket.",
		Remediation: "Set auth_unix_rw = \"polkit\", or make the socket 0600/0660 to an admin group (unix_sock_rw_perms, or SocketMode= in the systemd socket unit).",
		Check: func(inv *Inventory) []Result {
			if !inv.Local {
				return []Result{skipped("host", notHere(inv)+": its sockets cannot be examined from here")}
			}
			var out []Result
			for sock, c := range map[string]*Conf{"/run/libvirt/libvirt-sock": inv.RemoteConf, "/run/libvirt/virtqemud-sock": inv.DriverConf} {
				fi, err := os.Stat(inv.Path(sock))
				if errorsIsNotExist(err) || c == nil {
					continue
				}
				if err != nil {
					out = append(out, errored(sock, err))
					continue
				}
				if c.Err != nil {
					out = append(out, errored(sock, c.Err))
					continue
				}
				auth, errR := str(c, "auth_unix_rw", "polkit")
				if errR != nil {
					out = append(out, *errR)
					continue
				}
				mode := fi.Mode().Perm()
				loc := &model.FindingLocation{Path: sock, File: c.Path, Line: c.Loc("auth_unix_rw").Line}
				switch {
				case auth == "none" && mode&0o002 != 0:
					out = append(out, fail(sock, "world-writable (%04o) with auth_unix_rw \"none\": every local user controls every VM", mode).at(loc))
				case auth == "none" && mode&0o020 != 0:
					out = append(out, fail(sock, "group-writable (%04o, group %s) with auth_unix_rw \"none\": every member of the group controls every VM", mode, groupName(inv, fi)).sev(High).at(loc))
				default:
					out = append(out, pass(sock, "%04o, auth_unix_rw %q", mode, auth))
				}
			}
			slices.SortFunc(out, func(a, b Result) int { return cmp.Compare(a.Target, b.Target) })
			if len(out) == 0 {
				return []Result{skipped("host", "no libvirt socket found")}
			}
			return out
		}},
	{ID: "DAEMON-009", Group: "daemon", Severity: High, Title: "Admin socket too open",
		Description: "The admin socket reconfigures the daemon itself (logging, clients, limits); anything looser than 0700 hands that to others.",
		HowChecked:  "stat of /run/libvirt/*admin-sock.",
		Remediation: "Leave unix_sock_admin_perms at its default 0700 (or remove it) and restart the daemon.",
		Check: hostOnly(func(inv *Inventory) []Result {
			socks, _ := filepath.Glob(inv.Path("run/libvirt/*admin-sock"))
			var out []Result
			for _, s := range socks {
				fi, err := os.Stat(s)
				if err != nil {
					continue
				}
				rel := "/" + relTo(inv, s)
				if fi.Mode().Perm()&0o077 != 0 {
					out = append(out, fail(rel, "mode %04o, looser than 0700: others may reconfigure the daemon", fi.Mode().Perm()).at(&model.FindingLocation{Path: rel}))
				} else {
					out = append(out, pass(rel, "mode %04o", fi.Mode().Perm()))
				}
			}
			if len(out) == 0 {
				return []Result{skipped("host", "no admin socket found")}
			}
			return out
		})},
	{ID: "DAEMON-010", Group: "daemon", Severity: Info, Title: "Read-only socket unauthenticated",
		Description: "A world-accessible read-only socket lets any local user list the VMs and read their definitions (without secrets).",
		HowChecked:  "stat of /run/libvirt/libvirt-sock-ro (and virtqemud-sock-ro), and auth_unix_ro (default polkit, whose libvirt rule lets anyone monitor).",
		Remediation: "Set unix_sock_ro_perms = \"0770\" with unix_sock_group, or auth_unix_ro = \"polkit\" with a rule that restricts org.libvirt.unix.monitor.",
		Check: hostOnly(func(inv *Inventory) []Result {
			var out []Result
			for sock, c := range map[string]*Conf{"/run/libvirt/libvirt-sock-ro": inv.RemoteConf, "/run/libvirt/virtqemud-sock-ro": inv.DriverConf} {
				fi, err := os.Stat(inv.Path(sock))
				switch {
				case errorsIsNotExist(err) || c == nil:
					continue
				case err != nil:
					out = append(out, errored(sock, err))
					continue
				case c.Err != nil:
					out = append(out, errored(sock, c.Err))
					continue
				}
				auth, _ := str(c, "auth_unix_ro", "polkit")
				if fi.Mode().Perm()&0o002 != 0 && (auth == "none" || auth == "polkit") {
					out = append(out, fail(sock, "mode %04o, auth_unix_ro %q: any local user can list the VMs and read their definitions", fi.Mode().Perm(), auth).
						at(&model.FindingLocation{Path: sock, File: c.Path, Line: c.Loc("auth_unix_ro").Line}))
				} else {
					out = append(out, pass(sock, "mode %04o, auth_unix_ro %q", fi.Mode().Perm(), auth))
				}
			}
			slices.SortFunc(out, func(a, b Result) int { return cmp.Compare(a.Target, b.Target) })
			if len(out) == 0 {
				return []Result{skipped("host", "no read-only socket found")}
			}
			return out
		})},
	{ID: "DAEMON-011", Group: "daemon", Severity: Info, Title: "No API access-control driver",
		Description: "Without access_drivers (e.g. polkit) every authenticated client may call every API on every object.",
		HowChecked:  "access_drivers in the daemon that runs the QEMU driver (libvirtd.conf or virtqemud.conf).",
		Remediation: "Set access_drivers = [ \"polkit\" ] and write polkit rules for the org.libvirt.api.* actions each client needs.",
		Check: withConf(driverConf, func(_ *Inventory, c *Conf) []Result {
			drivers, set, err := c.Strings("access_drivers")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("access_drivers"))}
			}
			if !set || len(drivers) == 0 || slices.Equal(drivers, []string{"nop"}) {
				return []Result{fail(c.Name, "no access_drivers: every authenticated client may call every API").at(c.Loc("access_drivers"))}
			}
			return []Result{pass(c.Name, "access_drivers %s", strings.Join(drivers, ", "))}
		})},
	{ID: "DAEMON-012", Group: "daemon", Severity: High, Title: "TLS private key permissions",
		Description: "The daemon's and QEMU's TLS private keys authenticate the host; readable by others or owned by another user, they let someone impersonate it.",
		HowChecked:  "stat of key_file (default /etc/pki/libvirt/private/serverkey.pem), /etc/pki/libvirt/private/clientkey.pem, and server-key.pem/client-key.pem in default_tls_x509_cert_dir and every *_tls_x509_cert_dir of qemu.conf.",
		Remediation: "chown root: KEY; chmod 0600 KEY (QEMU's keys 0640 root:qemu-group).",
		Check: hostOnly(func(inv *Inventory) []Result {
			var keys []string
			if c := inv.RemoteConf; c != nil && c.Err == nil {
				k, _ := str(c, "key_file", "/etc/pki/libvirt/private/serverkey.pem")
				keys = append(keys, k, "/etc/pki/libvirt/private/clientkey.pem")
			}
			qemuDirs := []string{"/etc/pki/qemu"}
			if c := inv.QEMUConf; c != nil && c.Err == nil {
				for _, k := range []string{"default", "vnc", "spice", "chardev", "migrate", "backup", "nbd", "vxhs"} {
					if d, _ := str(c, k+"_tls_x509_cert_dir", ""); d != "" {
						qemuDirs = append(qemuDirs, d)
					}
				}
			}
			qemuKeys := map[string]bool{}
			for _, d := range qemuDirs {
				for _, f := range []string{"server-key.pem", "client-key.pem"} {
					p := filepath.Join(d, f)
					if !slices.Contains(keys, p) {
						keys = append(keys, p)
						qemuKeys[p] = true
					}
				}
			}
			var out []Result
			for _, k := range keys {
				fi, err := os.Stat(inv.Path(k))
				if errorsIsNotExist(err) {
					continue
				}
				if err != nil {
					out = append(out, errored(k, err))
					continue
				}
				mode, uid := fi.Mode().Perm(), fileUID(fi)
				loc := &model.FindingLocation{Path: k}
				switch {
				case mode&0o004 != 0:
					out = append(out, fail(k, "the private key is readable by everyone (%04o)", mode).at(loc))
				case uid != 0:
					out = append(out, fail(k, "the private key is owned by uid %d, not root", uid).at(loc))
				case mode&0o040 != 0 && !qemuKeys[k]:
					out = append(out, fail(k, "the private key is group-readable (%04o, group %s)", mode, groupName(inv, fi)).sev(Medium).at(loc))
				default:
					out = append(out, pass(k, "%04o, root-owned", mode))
				}
			}
			if len(out) == 0 {
				return []Result{skipped("host", "no TLS private keys at the configured paths")}
			}
			return out
		})},
	{ID: "DAEMON-013", Group: "daemon", Severity: Critical, Title: "QEMU security driver disabled",
		Description: "security_driver = \"none\" (or [ \"none\" ], or []) runs every guest without sVirt/AppArmor labels: a QEMU escape reaches everything QEMU's user can.",
		HowChecked:  "security_driver in qemu.conf, read as libvirt does: a string or a list of strings, first setting wins.",
		Remediation: "Remove security_driver from qemu.conf (libvirt picks the host's MAC) or name it: security_driver = [ \"selinux\" ] / [ \"apparmor\" ].",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			drivers, set, err := c.Strings("security_driver")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("security_driver"))}
			}
			if set && (len(drivers) == 0 || slices.Contains(drivers, "none")) {
				return []Result{fail(c.Name, "%s: guests run without sVirt/AppArmor labels", c.Setting("security_driver")).at(c.Loc("security_driver")).
					fix("Remove %s from %s line %d (libvirt then uses the host's MAC), then %s.", c.Setting("security_driver"), c.Path, c.Loc("security_driver").Line, restart(inv, c))}
			}
			if !set {
				return []Result{pass(c.Name, "security_driver unset: libvirt uses the host's MAC")}
			}
			return []Result{pass(c.Name, "security_driver %s", strings.Join(drivers, ", "))}
		})},
	{ID: "DAEMON-014", Group: "daemon", Severity: High, Title: "Guests unconfined by default",
		Description: "security_default_confined = 0 runs every guest without a <seclabel> of its own unconfined.",
		HowChecked:  "security_default_confined in qemu.conf.",
		Remediation: "Remove security_default_confined (default 1).",
		Check:       confFlag(qemuConf, "security_default_confined", true, false, "guests without a seclabel run unconfined", "Remove security_default_confined from qemu.conf (default 1) and restart the daemon.")},
	{ID: "DAEMON-015", Group: "daemon", Severity: Low, Title: "Unconfined guests allowed",
		Description: "Unless security_require_confined = 1, a definition may ask for <seclabel type='none'/> and run unconfined.",
		HowChecked:  "security_require_confined in qemu.conf (default 0).",
		Remediation: "Set security_require_confined = 1 in qemu.conf once no VM needs to run unconfined.",
		Check:       confFlag(qemuConf, "security_require_confined", false, false, "a definition may ask to run unconfined", "Set security_require_confined = 1 in qemu.conf and restart the daemon.")},
	{ID: "DAEMON-016", Group: "daemon", Severity: Critical, Title: "QEMU configured to run as root",
		Description: "user or group root in qemu.conf makes a guest escape a root compromise of the host.",
		HowChecked:  "user and group in qemu.conf (names, or +UID/+GID numbers).",
		Remediation: "Remove user/group from qemu.conf (the distribution's qemu user) or name an unprivileged account.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			for _, k := range []string{"user", "group"} {
				v, errR := str(c, k, "")
				if errR != nil {
					return []Result{*errR}
				}
				switch v {
				case "root", "+0", "0":
					r := fail(c.Name, "%s: a guest escape is a root compromise", c.Setting(k)).at(c.Loc(k)).
						fix("Remove %s from %s line %d (or name an unprivileged account), then %s.", k, c.Path, c.Loc(k).Line, restart(inv, c))
					if k == "group" {
						r.Severity = High
					}
					found = append(found, r)
				}
			}
			u, _ := str(c, "user", "")
			g, _ := str(c, "group", "")
			return worst(c.Name, Critical, fmt.Sprintf("QEMU runs as user %s, group %s", or(u, "(distribution default)"), or(g, "(distribution default)")), found)
		})},
	{ID: "DAEMON-017", Group: "daemon", Severity: Medium, Title: "Dynamic ownership off",
		Description: "With dynamic_ownership = 0 images must be permissioned by hand and often end up world-readable; with remember_owner = 0 libvirt does not restore the owner of a file it relabelled.",
		HowChecked:  "dynamic_ownership and remember_owner in qemu.conf (both default 1).",
		Remediation: "Remove dynamic_ownership and remember_owner from qemu.conf (defaults 1).",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			for _, k := range []struct {
				key string
				sev Severity
				why string
			}{{"dynamic_ownership", Medium, "images must be permissioned by hand, and often end up world-readable"},
				{"remember_owner", Low, "files libvirt relabels keep QEMU's owner after the VM stops"}} {
				on, errR := flag(c, k.key, true)
				if errR != nil {
					return []Result{*errR}
				}
				if !on {
					found = append(found, fail(c.Name, "%s: %s", c.Setting(k.key), k.why).sev(k.sev).at(c.Loc(k.key)).fix("%s", setFix(inv, c, k.key, "1")))
				}
			}
			return worst(c.Name, Medium, "dynamic_ownership and remember_owner on", found)
		})},
	{ID: "DAEMON-018", Group: "daemon", Severity: High, Title: "Seccomp, namespaces or device cgroup off",
		Description: "seccomp_sandbox = 0 lets QEMU make any system call; namespaces = [] shows it the host's whole /dev; a cgroup_controllers list without devices, or extra cgroup_device_acl entries, lets it open host devices.",
		HowChecked:  "seccomp_sandbox, namespaces, cgroup_controllers and cgroup_device_acl in qemu.conf, against the documented defaults.",
		Remediation: "Remove seccomp_sandbox, namespaces and cgroup_controllers from qemu.conf, and trim cgroup_device_acl to the documented default set.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			if on, errR := flag(c, "seccomp_sandbox", true); errR != nil {
				return []Result{*errR}
			} else if !on {
				found = append(found, fail(c.Name, "%s: QEMU may make any system call", c.Setting("seccomp_sandbox")).at(c.Loc("seccomp_sandbox")).fix("%s", setFix(inv, c, "seccomp_sandbox", "1")))
			}
			ns, set, err := c.Strings("namespaces")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("namespaces"))}
			}
			if set && !slices.Contains(ns, "mount") {
				found = append(found, fail(c.Name, "%s: QEMU sees the whole host /dev", c.Setting("namespaces")).sev(Medium).at(c.Loc("namespaces")).
					fix("Remove namespaces from %s (default [ \"mount\" ]), then %s.", c.Path, restart(inv, c)))
			}
			ctl, set, err := c.Strings("cgroup_controllers")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("cgroup_controllers"))}
			}
			if set && !slices.Contains(ctl, "devices") {
				found = append(found, fail(c.Name, "%s lacks devices: cgroup_device_acl is not enforced", c.Setting("cgroup_controllers")).sev(Medium).at(c.Loc("cgroup_controllers")).
					fix("Add \"devices\" to cgroup_controllers in %s (or remove the key), then %s.", c.Path, restart(inv, c)))
			}
			acl, set, err := c.Strings("cgroup_device_acl")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("cgroup_device_acl"))}
			}
			var extra []string
			for _, d := range acl {
				if !slices.Contains(defaultDeviceACL, d) {
					extra = append(extra, d)
				}
			}
			if set && len(extra) > 0 {
				found = append(found, fail(c.Name, "cgroup_device_acl adds %s to the default set: every guest's QEMU may open them", strings.Join(extra, ", ")).sev(Medium).at(c.Loc("cgroup_device_acl")).
					fix("Remove %s from cgroup_device_acl in %s line %d (give devices to the VMs that need them with <hostdev>), then %s.", strings.Join(extra, ", "), c.Path, c.Loc("cgroup_device_acl").Line, restart(inv, c)))
			}
			return worst(c.Name, High, "seccomp sandbox, mount namespace and device cgroup as by default", found)
		})},
	{ID: "DAEMON-019", Group: "daemon", Severity: High, Title: "VNC/SPICE listen on the network by default",
		Description: "vnc_listen/spice_listen is the address of every display without one of its own; on a network address without TLS the consoles are in cleartext, without a password or SASL they are open, and TLS without x509 verification accepts any client.",
		HowChecked:  "vnc_listen, vnc_tls, vnc_tls_x509_verify, vnc_password, vnc_sasl, spice_listen, spice_tls, spice_password, spice_sasl and default_tls_x509_verify in qemu.conf.",
		Remediation: "Leave vnc_listen/spice_listen at 127.0.0.1 and reach consoles through SSH; or set vnc_tls = 1 with vnc_tls_x509_verify = 1 and a password or SASL.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			var passes []string
			defVerify, errR := flag(c, "default_tls_x509_verify", true)
			if errR != nil {
				return []Result{*errR}
			}
			for _, kind := range []string{"vnc", "spice"} {
				listen, errR := str(c, kind+"_listen", "127.0.0.1")
				if errR != nil {
					return []Result{*errR}
				}
				if loopback(listen) {
					passes = append(passes, kind+" listens on "+listen)
					continue
				}
				tls, _ := flag(c, kind+"_tls", false)
				if tls {
					verify := defVerify
					if kind == "vnc" {
						verify, _ = flag(c, "vnc_tls_x509_verify", defVerify)
					}
					if !verify {
						found = append(found, fail(c.Name, "%s_listen %s with TLS but no x509 client verification: any client that connects is accepted", kind, listen).sev(Medium).
							at(c.Loc(kind+"_tls_x509_verify")).fix("%s", setFix(inv, c, kind+"_tls_x509_verify", "1")))
						continue
					}
					passes = append(passes, kind+" listens on "+listen+" with verified TLS")
					continue
				}
				r := fail(c.Name, "%s_listen = %q without %s_tls: consoles of VMs without their own listen address are on the network in cleartext", kind, listen, kind).
					at(c.Loc(kind+"_listen")).fix("Set %s_listen = \"127.0.0.1\" in %s (or %s_tls = 1), then %s.", kind, c.Path, kind, restart(inv, c))
				pw, _ := str(c, kind+"_password", "")
				sasl, _ := flag(c, kind+"_sasl", false)
				if pw == "" && !sasl {
					r.Severity = Critical
					r.Detail += ", and with no default password or SASL either"
				}
				found = append(found, r)
			}
			return worst(c.Name, High, strings.Join(passes, ", "), found)
		})},
	{ID: "DAEMON-020", Group: "daemon", Severity: Medium, Title: "libvirt auditing disabled",
		Description: "audit_level = 0 makes libvirt write no audit records of VM starts, stops, device changes and relabelling.",
		HowChecked:  "audit_level in the daemon that runs the QEMU driver (libvirtd.conf or virtqemud.conf; default 1).",
		Remediation: "Remove audit_level (default 1) or set audit_level = 2 to refuse to run without host auditing.",
		Check: withConf(driverConf, func(inv *Inventory, c *Conf) []Result {
			n, set, err := c.Int("audit_level")
			if err != nil {
				return []Result{errored(c.Name, err).at(c.Loc("audit_level"))}
			}
			if set && n == 0 {
				return []Result{fail(c.Name, "audit_level = 0: libvirt writes no audit records of VM operations").at(c.Loc("audit_level")).fix("%s", setFix(inv, c, "audit_level", "1"))}
			}
			return []Result{pass(c.Name, "audit_level %d", cmp.Or(n, 1))}
		})},
	{ID: "DAEMON-021", Group: "daemon", Severity: Medium, Title: "Chardev, NBD, migration or backup without TLS",
		Description: "Migration streams guest memory and NBD carries disk contents; network chardevs carry consoles. Without TLS they cross the network in clear, and TLS without x509 verification accepts any peer.",
		HowChecked:  "migrate_tls_force, chardev_tls, nbd_tls and the *_tls_x509_verify keys in qemu.conf, against the VMs' network chardevs and NBD disks.",
		Remediation: "Set migrate_tls_force = 1, chardev_tls = 1 and nbd_tls = 1 (with their x509 cert dirs), and keep the *_tls_x509_verify keys at 1.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			if force, errR := flag(c, "migrate_tls_force", false); errR != nil {
				return []Result{*errR}
			} else if !force {
				found = append(found, fail(c.Name, "%s: migrations use TLS only when the caller asks for it", c.Setting("migrate_tls_force")).sev(Low).
					at(c.Loc("migrate_tls_force")).fix("%s", setFix(inv, c, "migrate_tls_force", "1")))
			}
			if chardevTLS, _ := flag(c, "chardev_tls", false); !chardevTLS {
				if vms := vmsWith(inv, func(d Domain) bool {
					return slices.ContainsFunc(netChardevs(inv, d.Def, true), func(c chardev) bool { return !c.udp && !c.tls })
				}); len(vms) > 0 {
					found = append(found, fail(c.Name, "%s while %s bind chardevs to TCP: their consoles are in cleartext", c.Setting("chardev_tls"), strings.Join(vms, ", ")).
						at(c.Loc("chardev_tls")).fix("%s", setFix(inv, c, "chardev_tls", "1")))
				}
			}
			if nbdTLS, _ := flag(c, "nbd_tls", false); !nbdTLS {
				if vms := vmsWith(inv, hasNBD); len(vms) > 0 {
					found = append(found, fail(c.Name, "%s while %s use NBD disks: disk contents cross the network in clear", c.Setting("nbd_tls"), strings.Join(vms, ", ")).
						at(c.Loc("nbd_tls")).fix("%s", setFix(inv, c, "nbd_tls", "1")))
				}
			}
			defVerify, _ := flag(c, "default_tls_x509_verify", true)
			for _, k := range []string{"chardev", "migrate", "backup", "nbd"} {
				if v, errR := flag(c, k+"_tls_x509_verify", defVerify); errR == nil && !v {
					found = append(found, fail(c.Name, "%s: %s TLS accepts any peer", c.Setting(k+"_tls_x509_verify"), k).at(c.Loc(k+"_tls_x509_verify")).fix("%s", setFix(inv, c, k+"_tls_x509_verify", "1")))
				}
			}
			return worst(c.Name, Medium, "migration forced to TLS; no cleartext chardev or NBD in use", found)
		})},
	{ID: "DAEMON-022", Group: "daemon", Severity: Low, Title: "Migration listener address",
		Description: "Without migration_address incoming migrations listen on every interface, including guest-facing bridges.",
		HowChecked:  "migration_address and migration_host in qemu.conf.",
		Remediation: "Set migration_address to an address on the hosts' management network.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			addr, errR := str(c, "migration_address", "")
			if errR != nil {
				return []Result{*errR}
			}
			if addr == "" || addr == "0.0.0.0" || addr == "::" {
				return []Result{fail(c.Name, "migration_address %s: incoming migrations listen on every interface, guest-facing bridges too", or(addr, "unset")).
					at(c.Loc("migration_address")).fix("Set migration_address = \"ADDRESS\" (the management network's) in %s, then %s.", c.Path, restart(inv, c))}
			}
			return []Result{pass(c.Name, "migration_address %s", addr)}
		})},
	{ID: "DAEMON-023", Group: "daemon", Severity: Medium, Title: "Guest RAM in core dumps",
		Description: "dump_guest_core = 1 with a non-zero max_core puts the guest's whole memory into QEMU's crash dumps.",
		HowChecked:  "dump_guest_core and max_core in qemu.conf.",
		Remediation: "Remove dump_guest_core (default 0), or set max_core = 0.",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			dump, errR := flag(c, "dump_guest_core", false)
			if errR != nil {
				return []Result{*errR}
			}
			maxCore, set := c.Lookup("max_core")
			if dump && !(set && maxCore.Type == ConfInt && maxCore.Int == 0) {
				return []Result{fail(c.Name, "dump_guest_core = 1 (max_core %s): a QEMU crash dump holds the guest's whole memory", or(maxCore.Raw, "default")).
					at(c.Loc("dump_guest_core")).fix("%s", setFix(inv, c, "dump_guest_core", "0"))}
			}
			return []Result{pass(c.Name, "guest memory stays out of core dumps (%s)", c.Setting("dump_guest_core"))}
		})},
	{ID: "DAEMON-024", Group: "daemon", Severity: Low, Title: "QEMU output written to plain files",
		Description: "stdio_handler = \"file\" lets a guest fill the host's disk through QEMU's log; virtlogd rolls it over.",
		HowChecked:  "stdio_handler in qemu.conf (default \"logd\").",
		Remediation: "Remove stdio_handler (default \"logd\").",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			h, errR := str(c, "stdio_handler", "logd")
			if errR != nil {
				return []Result{*errR}
			}
			if h == "file" {
				return []Result{fail(c.Name, "stdio_handler = \"file\": a guest can fill the host's disk through QEMU's log").at(c.Loc("stdio_handler")).fix("%s", setFix(inv, c, "stdio_handler", `"logd"`))}
			}
			return []Result{pass(c.Name, "stdio_handler %q", h)}
		})},
	{ID: "DAEMON-025", Group: "daemon", Severity: Medium, Title: "Relaxed PCI ACS check",
		Description: "relaxed_acs_check = 1 allows assigning devices behind switches without ACS, whose DMA is not isolated from each other.",
		HowChecked:  "relaxed_acs_check in qemu.conf.",
		Remediation: "Remove relaxed_acs_check (default 0).",
		Check:       confFlag(qemuConf, "relaxed_acs_check", false, true, "devices behind switches without ACS can be assigned; their DMA is not isolated", "Remove relaxed_acs_check from qemu.conf (default 0) and restart the daemon.")},
	{ID: "DAEMON-026", Group: "daemon", Severity: Low, Title: "Debug or test settings in production",
		Description: "capability_filters and deprecation_behavior are for QEMU developers (\"DO NOT use in production\"); without a lock_manager nothing stops two VMs writing one disk.",
		HowChecked:  "capability_filters, deprecation_behavior and lock_manager in qemu.conf.",
		Remediation: "Remove capability_filters and deprecation_behavior; set lock_manager = \"lockd\".",
		Check: withConf(qemuConf, func(inv *Inventory, c *Conf) []Result {
			var found []Result
			if filters, set, _ := c.Strings("capability_filters"); set && len(filters) > 0 {
				found = append(found, fail(c.Name, "%s: QEMU capabilities are masked, a developer setting", c.Setting("capability_filters")).at(c.Loc("capability_filters")).
					fix("Remove capability_filters from %s, then %s.", c.Path, restart(inv, c)))
			}
			if b, _ := str(c, "deprecation_behavior", "none"); b != "none" {
				found = append(found, fail(c.Name, "deprecation_behavior %q: QEMU is told to reject or crash on deprecated features, a developer setting", b).at(c.Loc("deprecation_behavior")).
					fix("Remove deprecation_behavior from %s, then %s.", c.Path, restart(inv, c)))
			}
			lock, _ := str(c, "lock_manager", "")
			if lock == "" {
				found = append(found, fail(c.Name, "no lock_manager: nothing stops two VMs from writing one disk").sev(Info).at(c.Loc("lock_manager")).
					fix("Set lock_manager = \"lockd\" in %s, then %s.", c.Path, restart(inv, c)))
			}
			return worst(c.Name, Low, "no developer settings; lock_manager "+lock, found)
		})},
}

// fileUID is the owner of a file.
func fileUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// fileGID is the group of a file.
func fileGID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Gid
	}
	return 0
}

// groupName is the name of a file's group in the root's /etc/group (the number when absent).
func groupName(inv *Inventory, fi os.FileInfo) string {
	gid := strconv.Itoa(int(fileGID(fi)))
	data, _ := inv.Read("etc/group")
	for _, line := range strings.Split(data, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == gid {
			return f[0]
		}
	}
	return gid
}

func relTo(inv *Inventory, p string) string {
	rel, err := filepath.Rel(inv.Root, p)
	if err != nil {
		return p
	}
	return rel
}

// vmsWith lists the VMs whose definition satisfies has.
func vmsWith(inv *Inventory, has func(d Domain) bool) []string {
	var out []string
	for _, d := range inv.Domains {
		if d.Def != nil && has(d) {
			out = append(out, d.Name)
		}
	}
	return out
}

func hasNBD(d Domain) bool {
	for _, disk := range devices(d.Def).Disks {
		if disk.Source != nil && disk.Source.Network != nil && disk.Source.Network.Protocol == "nbd" {
			return true
		}
	}
	return false
}
