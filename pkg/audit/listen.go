package audit

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// listener is a TCP socket in LISTEN state.
type listener struct {
	addr netip.Addr
	port int
}

// listeners reads /proc/net/tcp and tcp6 for sockets in LISTEN state (0A).
func listeners(inv *Inventory) ([]listener, error) {
	var out []listener
	read := 0
	for _, f := range []string{"proc/net/tcp", "proc/net/tcp6"} {
		data, err := inv.Read(f)
		if err != nil {
			continue
		}
		read++
		for _, line := range strings.Split(data, "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" {
				continue
			}
			hostHex, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil {
				continue
			}
			if a, ok := procAddr(hostHex); ok {
				out = append(out, listener{a, int(port)})
			}
		}
	}
	if read == 0 {
		return nil, fmt.Errorf("cannot read /proc/net/tcp")
	}
	return out, nil
}

// procAddr decodes /proc/net/tcp's address: 32-bit words in host (little-endian) order.
func procAddr(h string) (netip.Addr, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b)%4 != 0 {
		return netip.Addr{}, false
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}

var listenControls = []Control{
	{ID: "HOST-024", Group: "host", Severity: "high", Title: "Exposed virtualization listeners", Check: hostOnly(func(inv *Inventory) []Result {
		ls, err := listeners(inv)
		if err != nil {
			return []Result{errored("host", err)}
		}
		var bad []string
		sev := "high"
		for _, l := range ls {
			if l.addr.IsLoopback() {
				continue
			}
			switch {
			case l.port == 16509:
				bad = append(bad, fmt.Sprintf("plain libvirt TCP on %s", netip.AddrPortFrom(l.addr, uint16(l.port))))
				if inv.DaemonCfg != nil && Unquote(inv.DaemonCfg["auth_tcp"]) == "none" {
					sev = "critical"
				}
			case l.port >= 5900 && l.port < 6000:
				bad = append(bad, fmt.Sprintf("a VNC/SPICE display on %s", netip.AddrPortFrom(l.addr, uint16(l.port))))
			}
		}
		if len(bad) == 0 {
			return []Result{pass("host", "")}
		}
		sort.Strings(bad)
		r := fail("host", "%s: reachable from the network", strings.Join(bad, ", "))
		r.Severity = sev
		return []Result{r}
	})},
	{ID: "NET-006", Group: "network", Severity: "low", Title: "Forwarding and rp_filter consistency", Check: hostOnly(func(inv *Inventory) []Result {
		fwd, err := inv.Read("proc/sys/net/ipv4/ip_forward")
		if err != nil {
			return []Result{errored("host", err)}
		}
		needs := false
		for _, n := range inv.Networks {
			if n.Forward != nil && (n.Forward.Mode == "" || n.Forward.Mode == "nat" || n.Forward.Mode == "route" || n.Forward.Mode == "open") {
				needs = true
			}
		}
		if fwd == "1" && !needs {
			return []Result{fail("host", "ip_forward=1 though no libvirt network routes or NATs: the host forwards packets nothing here needs")}
		}
		if rp, err := inv.Read("proc/sys/net/ipv4/conf/all/rp_filter"); err == nil && rp == "0" {
			return []Result{fail("host", "net.ipv4.conf.all.rp_filter=0: spoofed source addresses are not dropped")}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "STOR-004", Group: "storage", Severity: "high", Title: "Guest RAM images at rest", Check: hostOnly(func(inv *Inventory) []Result {
		var bad []string
		for _, dir := range []string{"var/lib/libvirt/qemu/save", "var/lib/libvirt/qemu/dump", "var/lib/libvirt/qemu/snapshot", "var/lib/libvirt/qemu/ram"} {
			_ = filepath.WalkDir(inv.Path(dir), func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o004 != 0 {
					rel, _ := filepath.Rel(inv.Root, p)
					bad = append(bad, "/"+rel)
				}
				return nil
			})
		}
		if len(bad) > 0 {
			return []Result{fail("host", "world-readable guest memory: %s", strings.Join(bad, ", "))}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "STOR-005", Group: "storage", Severity: "medium", Title: "Domain and configuration file permissions", Check: hostOnly(func(inv *Inventory) []Result {
		var bad []string
		sev := "medium"
		// The files that can hold secrets: qemu.conf (default VNC/SPICE passwords), domain
		// definitions (graphics passwords) and libvirt's secrets. The client configurations
		// (libvirt.conf …) are meant to be world-readable and are left out.
		for _, pattern := range []string{"etc/libvirt/qemu.conf", "etc/libvirt/qemu/*.xml", "etc/libvirt/secrets/*"} {
			files, _ := filepath.Glob(inv.Path(pattern))
			for _, f := range files {
				fi, err := os.Stat(f)
				if err != nil || fi.IsDir() || fi.Mode().Perm()&0o004 == 0 {
					continue
				}
				rel, _ := filepath.Rel(inv.Root, f)
				bad = append(bad, "/"+rel)
				if strings.HasPrefix(rel, "etc/libvirt/secrets/") {
					sev = "high"
				}
			}
		}
		if len(bad) > 0 {
			r := fail("host", "world-readable, and able to hold passwords: %s", strings.Join(bad, ", "))
			r.Severity = sev
			return []Result{r}
		}
		return []Result{pass("host", "")}
	})},
}
