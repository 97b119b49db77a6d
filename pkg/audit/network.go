package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

func perNetwork(check func(inv *Inventory, n *libvirtxml.Network) Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if inv.NetworksErr != nil {
			return []Result{errored("network", fmt.Errorf("cannot list the networks: %w", inv.NetworksErr))}
		}
		var out []Result
		for _, n := range inv.Networks {
			r := check(inv, n)
			if r.Status == Fail && r.Location == nil {
				r.Location = &model.FindingLocation{Device: "network " + n.Name}
			}
			out = append(out, r)
		}
		if len(out) == 0 {
			return []Result{skipped("network", "no networks")}
		}
		return out
	}
}

func forwardMode(n *libvirtxml.Network) string {
	if n.Forward == nil {
		return "none"
	}
	return or(n.Forward.Mode, "nat")
}

// active says whether a network runs (unknown counts as running).
func (inv *Inventory) active(name string) bool {
	on, known := inv.NetworkActive[name]
	return on || !known
}

// networkUsers lists the VMs with a NIC on the network.
func networkUsers(inv *Inventory, name string) []string {
	return vmsWith(inv, func(d Domain) bool {
		for _, nic := range devices(d.Def).Interfaces {
			if nic.Source != nil && nic.Source.Network != nil && nic.Source.Network.Network == name {
				return true
			}
		}
		return false
	})
}

var networkControls = []Control{
	{ID: "NET-001", Group: "network", Severity: Medium, Title: "Forward mode open",
		Description: "With forward mode open libvirt adds no firewall rules: filtering depends entirely on the host's own firewall (HOST-022).",
		HowChecked:  "/network/forward/@mode.",
		Remediation: "Use forward mode nat or route, or make sure the host firewall filters the bridge.",
		Check: perNetwork(func(_ *Inventory, n *libvirtxml.Network) Result {
			if forwardMode(n) == "open" {
				return fail(n.Name, "forward mode open: libvirt adds no firewall rules; filtering depends on the host's own firewall")
			}
			return pass(n.Name, "forward mode %s", forwardMode(n))
		})},
	{ID: "NET-002", Group: "network", Severity: Info, Title: "Routed or bridged exposure",
		Description: "Routed networks make guests reachable from the LAN without NAT; bridged and macvtap ones put them on the LAN's layer 2.",
		HowChecked:  "/network/forward/@mode (route, bridge, passthrough, private, vepa, hostdev).",
		Remediation: "Nothing to do if intended; then filter guests with clean-traffic (VM-025).",
		Check: perNetwork(func(_ *Inventory, n *libvirtxml.Network) Result {
			switch m := forwardMode(n); m {
			case "route":
				return fail(n.Name, "routed: guests are reachable from the LAN without NAT")
			case "bridge", "passthrough", "private", "vepa", "hostdev":
				return fail(n.Name, "forward mode %s: guests share layer 2 with the LAN", m)
			default:
				return pass(n.Name, "forward mode %s", m)
			}
		})},
	{ID: "NET-003", Group: "network", Severity: Medium, Title: "Network trusts guest RX filters",
		Description: "trustGuestRxFilters='yes' on a network lets its guests set their NICs' MAC and multicast filters.",
		HowChecked:  "/network/@trustGuestRxFilters and portgroup/@trustGuestRxFilters.",
		Remediation: "Remove trustGuestRxFilters='yes' from the network and its portgroups.",
		Check: perNetwork(func(_ *Inventory, n *libvirtxml.Network) Result {
			var where []string
			if n.TrustGuestRxFilters == "yes" {
				where = append(where, "the network")
			}
			for _, pg := range n.PortGroups {
				if pg.TrustGuestRxFilters == "yes" {
					where = append(where, "portgroup "+pg.Name)
				}
			}
			if len(where) > 0 {
				return fail(n.Name, "trustGuestRxFilters='yes' on %s: guests set their NICs' MAC and multicast filters", strings.Join(where, ", ")).
					at(&model.FindingLocation{Device: strings.Replace(where[0], "the network", "network "+n.Name, 1)})
			}
			return pass(n.Name, "guest RX filters not trusted")
		})},
	{ID: "NET-004", Group: "network", Severity: Low, Title: "No guest-to-guest isolation",
		Description: "On a shared NAT or routed network without <port isolated='yes'/>, guests reach each other directly on the bridge, past the host's filtering.",
		HowChecked:  "/network/port/@isolated of NAT, routed and open networks, with the VMs that have a NIC on each.",
		Remediation: "Add <port isolated='yes'/> to the network (virsh net-edit), unless its guests must talk to each other.",
		Check: perNetwork(func(inv *Inventory, n *libvirtxml.Network) Result {
			m := forwardMode(n)
			if m != "nat" && m != "route" && m != "open" {
				return pass(n.Name, "forward mode %s: not a shared routed network", m)
			}
			if n.PortOptions != nil && n.PortOptions.Isolated == "yes" {
				return pass(n.Name, "ports isolated")
			}
			users := networkUsers(inv, n.Name)
			if len(users) < 2 {
				return pass(n.Name, "ports not isolated, but %d VM(s) on it", len(users))
			}
			return fail(n.Name, "%s share the network without port isolation: they reach each other directly", strings.Join(users, ", "))
		})},
	{ID: "NET-005", Group: "network", Severity: Medium, Title: "Anti-spoofing filters present and intact",
		Description: "clean-traffic must exist and still reference no-mac-spoofing, no-ip-spoofing and no-arp-spoofing for VM-025's filterrefs to mean anything.",
		HowChecked:  "virConnectListAllNWFilters() and the clean-traffic filter's references, transitively.",
		Remediation: "Restore libvirt's clean-traffic filter (reinstall the nwfilter package files and virsh nwfilter-define them).",
		Check: func(inv *Inventory) []Result {
			switch {
			case inv.FiltersErr != nil:
				return []Result{errored("network", fmt.Errorf("cannot list the network filters: %w", inv.FiltersErr))}
			case inv.Filters == nil:
				return []Result{skipped("network", "no network filter driver")}
			}
			if _, ok := inv.Filters["clean-traffic"]; !ok {
				return []Result{fail("clean-traffic", "the clean-traffic filter is missing: NICs cannot be protected from MAC, IP and ARP spoofing").at(&model.FindingLocation{Device: "nwfilter clean-traffic"})}
			}
			refs := filterRefs(inv, "clean-traffic")
			var missing []string
			for _, want := range antiSpoofing {
				if !refs[want] {
					missing = append(missing, want)
				}
			}
			if len(missing) > 0 {
				return []Result{fail("clean-traffic", "clean-traffic no longer references %s", strings.Join(missing, ", ")).at(&model.FindingLocation{Device: "nwfilter clean-traffic"})}
			}
			return []Result{pass("clean-traffic", "clean-traffic references %s", strings.Join(antiSpoofing, ", "))}
		}},
	{ID: "NET-006", Group: "network", Severity: Low, Title: "Forwarding and rp_filter consistency",
		Description: "IPv4 forwarding on a host with no running NAT or routed network forwards packets nothing needs; reverse-path filtering other than strict (1) lets spoofed sources through.",
		HowChecked:  "/proc/sys/net/ipv4/ip_forward against the running networks' forward modes; the effective rp_filter, max(conf/all, conf/default).",
		Remediation: "Set net.ipv4.conf.all.rp_filter = 1 (and default) in /etc/sysctl.d; turn ip_forward off when no NAT or routed network runs.",
		Check: hostOnly(func(inv *Inventory) []Result {
			fwd, err := inv.Read("proc/sys/net/ipv4/ip_forward")
			if err != nil {
				return []Result{errored("host", err)}
			}
			var routing []string
			for _, n := range inv.Networks {
				if m := forwardMode(n); (m == "nat" || m == "route" || m == "open") && inv.active(n.Name) {
					routing = append(routing, n.Name)
				}
			}
			var found []Result
			if fwd == "1" && len(routing) == 0 {
				found = append(found, fail("host", "ip_forward=1 though no running libvirt network routes or NATs: the host forwards packets nothing here needs").
					at(&model.FindingLocation{Path: "/proc/sys/net/ipv4/ip_forward"}).fix("Set net.ipv4.ip_forward = 0 in /etc/sysctl.d (libvirt turns it on when a NAT network starts)."))
			}
			all, errA := inv.Read("proc/sys/net/ipv4/conf/all/rp_filter")
			def, errD := inv.Read("proc/sys/net/ipv4/conf/default/rp_filter")
			if errA == nil {
				a, _ := strconv.Atoi(all)
				d, _ := strconv.Atoi(def)
				if errD != nil {
					d = 0
				}
				if eff := max(a, d); eff != 1 {
					mode := map[int]string{0: "off", 2: "loose"}[eff]
					found = append(found, fail("host", "rp_filter is %s (all=%s, default=%s): spoofed source addresses are not dropped", or(mode, strconv.Itoa(eff)), all, or(def, "?")).
						at(&model.FindingLocation{Path: "/proc/sys/net/ipv4/conf/all/rp_filter"}).fix("Set net.ipv4.conf.all.rp_filter = 1 and net.ipv4.conf.default.rp_filter = 1 in /etc/sysctl.d/90-rp-filter.conf, then sysctl --system."))
				}
			}
			return worst("host", Low, fmt.Sprintf("ip_forward=%s with %d running NAT/routed network(s), rp_filter strict", fwd, len(routing)), found)
		})},
	{ID: "NET-007", Group: "network", Severity: Info, Title: "Migration or management traffic on a guest network",
		Description: "Migration and management listeners should be reachable by virtualization hosts only, not from guests' networks.",
		HowChecked:  "qemu.conf migration_address and the daemon's listen_addr (when TCP or TLS listens) against the addresses of the libvirt networks' bridges.",
		Remediation: "Bind migration_address and listen_addr to the management network's address.",
		Check: hostOnly(func(inv *Inventory) []Result {
			guest := map[string]string{}
			for _, n := range inv.Networks {
				for _, ip := range n.IPs {
					guest[ip.Address] = n.Name
				}
			}
			var found []Result
			var checked []string
			if c := inv.QEMUConf; c != nil && c.Err == nil {
				if a, _ := str(c, "migration_address", ""); a != "" {
					checked = append(checked, "migration_address "+a)
					if n, ok := guest[a]; ok {
						found = append(found, fail("host", "migration_address %s is network %s's bridge: guests reach the migration listener", a, n).at(c.Loc("migration_address")))
					}
				}
			}
			if c := inv.RemoteConf; c != nil && c.Err == nil {
				tcp, _ := listening(inv, c, "tcp")
				tls, _ := listening(inv, c, "tls")
				if len(tcp)+len(tls) > 0 {
					a, _ := str(c, "listen_addr", "0.0.0.0")
					checked = append(checked, "listen_addr "+a)
					if n, ok := guest[a]; ok || a == "0.0.0.0" || a == "::" {
						where := "every address, guest bridges too"
						if ok {
							where = "network " + n + "'s bridge"
						}
						found = append(found, fail("host", "the libvirt API listens on %s (%s)", where, c.Setting("listen_addr")).at(c.Loc("listen_addr")))
					}
				}
			}
			slices.Sort(checked)
			return worst("host", Info, or(strings.Join(checked, ", "), "no migration_address set and no TCP/TLS listener")+": not on a guest network", found)
		})},
}
