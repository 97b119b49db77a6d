package net

import (
	"context"
	"fmt"
	stdnet "net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

func newShow(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show a network: forwarding, bridge, addresses, DHCP range, users, leases",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, conn, err := reader(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer conn.Close()
			n, err := conn.Network(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return output.Object(f.IO.Out, format, n, networkPairs(n))
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// LeaseColumns is the table view of model.Lease.
var LeaseColumns = []output.Column[model.Lease]{
	{Header: "network", Value: func(l model.Lease) string { return l.Network }},
	{Header: "vm", Value: func(l model.Lease) string { return dash(l.VM) }},
	{Header: "mac", Value: func(l model.Lease) string { return l.MAC }},
	{Header: "address", Value: func(l model.Lease) string { return fmt.Sprintf("%s/%d", l.Address, l.Prefix) }},
	{Header: "hostname", Value: func(l model.Lease) string { return dash(l.Hostname) }},
	{Header: "expires", Value: func(l model.Lease) string { return dash(l.ExpiresAt) }},
}

func newLeases(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leases [NAME...]",
		Short: "List the DHCP leases of networks, with the VM that holds each",
		Long: `List the DHCP leases handed out by the named networks (every active network when none is
named), each matched by MAC to the VM on this host that holds it. A lease whose MAC belongs
to no VM here shows "-" (a guest that was deleted, or a foreign machine on a bridge).`,
		Example:           "  netctl leases\n  netctl leases default -o json --jq '.[] | select(.vm == \"web01\") | .address'",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, conn, err := reader(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer conn.Close()
			leases, err := conn.Leases(cmd.Context(), args)
			if err != nil {
				return errs.Wrap(err, "leases")
			}
			return output.List(f.IO.Out, format, leases, LeaseColumns, func(l model.Lease) string { return l.Address })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// createOptions are `netctl create`'s flags.
type createOptions struct {
	subnet, bridge, forward, dhcpRange, domain string
	autostart, noStart, dryRun                 bool
}

func newCreate(f *cmdutil.Factory) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create NAME --subnet CIDR",
		Short: "Create a network: isolated by default, with DHCP, started at once",
		Long: `Define a libvirt network on an IPv4 subnet and start it. The host takes the subnet's first
address on the bridge; DHCP hands out the rest (or --dhcp-range START-END, or none).

--forward isolated (the default) gives no <forward> element at all: guests reach each other
and the host, nothing else. nat and route connect them onward through the host, which is a
decision to take knowingly.

Refused (exit 4) when the name exists, when the subnet overlaps another libvirt network's or
an address of this host's interfaces, or when the bridge is taken. A failure after the
definition removes it again: nothing half-made is left.`,
		Example: "  netctl create lab --subnet 10.50.0.0/24\n  netctl create lab --subnet 10.50.0.0/24 --bridge br-lab --dhcp-range 10.50.0.100-10.50.0.199 --autostart\n  netctl create lab --subnet 10.50.0.0/24 --dry-run   # print the XML",
		Args:    cmdutil.ExactArgs(1, "the new network's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreate(cmd.Context(), f, args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.subnet, "subnet", "", "IPv4 `CIDR`, e.g. 10.50.0.0/24 (required)")
	cmd.Flags().StringVar(&o.bridge, "bridge", "", "bridge `NAME` (default: libvirt picks virbrN)")
	cmdutil.StringEnumFlag(cmd, &o.forward, "forward", "", "isolated", []string{"isolated", "nat", "route"}, "what the network reaches beyond the host")
	cmd.Flags().StringVar(&o.dhcpRange, "dhcp-range", "auto", "`START-END`, auto (the subnet after the host's address) or none")
	cmd.Flags().StringVar(&o.domain, "domain", "", "DNS `DOMAIN` for the guests' names (answered locally only)")
	cmd.Flags().BoolVar(&o.autostart, "autostart", false, "start it whenever libvirt starts")
	cmd.Flags().BoolVar(&o.noStart, "no-start", false, "define it without starting it")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the network XML; define nothing")
	_ = cmd.MarkFlagRequired("subnet")
	f.AddOutputFlags(cmd)
	return cmd
}

// networkDef turns create's flags into a network definition, checking them on the way.
func networkDef(name string, o createOptions) (*libvirtxml.Network, netip.Prefix, error) {
	if err := cmdutil.ValidateName("network", name); err != nil {
		return nil, netip.Prefix{}, err
	}
	prefix, err := netip.ParsePrefix(o.subnet)
	if err != nil || !prefix.Addr().Is4() {
		return nil, prefix, errs.New(errs.Usage, "--subnet %q: want an IPv4 CIDR such as 10.50.0.0/24", o.subnet)
	}
	if prefix.Bits() < 8 || prefix.Bits() > 29 {
		return nil, prefix, errs.New(errs.Usage, "--subnet %s: the prefix must be /8 to /29", o.subnet)
	}
	prefix = prefix.Masked()
	host := prefix.Addr().Next()
	broadcast := lastAddr(prefix)
	def := &libvirtxml.Network{Name: name, IPs: []libvirtxml.NetworkIP{{Address: host.String(), Prefix: uint(prefix.Bits())}}}
	switch o.forward {
	case "isolated":
	case "nat", "route":
		def.Forward = &libvirtxml.NetworkForward{Mode: o.forward}
	default:
		return nil, prefix, errs.New(errs.Usage, "--forward %q: want isolated, nat or route", o.forward)
	}
	if o.bridge != "" {
		if len(o.bridge) > 15 || strings.ContainsAny(o.bridge, " /:") {
			return nil, prefix, errs.New(errs.Usage, "--bridge %q: not a valid interface name (at most 15 characters, no spaces, / or :)", o.bridge)
		}
		def.Bridge = &libvirtxml.NetworkBridge{Name: o.bridge, STP: "on", Delay: "0"}
	}
	if o.domain != "" {
		def.Domain = &libvirtxml.NetworkDomain{Name: o.domain, LocalOnly: "yes"}
	}
	switch o.dhcpRange {
	case "none":
	case "auto":
		start := host.Next()
		end := prevAddr(broadcast)
		if !start.Less(end) && start != end {
			return nil, prefix, errs.New(errs.Usage, "--subnet %s leaves no room for DHCP: give --dhcp-range none", o.subnet)
		}
		def.IPs[0].DHCP = &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: start.String(), End: end.String()}}}
	default:
		from, to, ok := strings.Cut(o.dhcpRange, "-")
		start, err1 := netip.ParseAddr(strings.TrimSpace(from))
		end, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil || !prefix.Contains(start) || !prefix.Contains(end) || end.Less(start) ||
			start == host || start == prefix.Addr() || end == broadcast || start.Less(host) || (host.Compare(start) >= 0 && host.Compare(end) <= 0) {
			return nil, prefix, errs.New(errs.Usage, "--dhcp-range %q: want START-END inside %s, above the host's %s and below the broadcast address", o.dhcpRange, prefix, host)
		}
		def.IPs[0].DHCP = &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: start.String(), End: end.String()}}}
	}
	return def, prefix, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func prevAddr(a netip.Addr) netip.Addr { return a.Prev() }

func runCreate(ctx context.Context, f *cmdutil.Factory, name string, o createOptions) error {
	def, prefix, err := networkDef(name, o)
	if err != nil {
		return err
	}
	if o.dryRun {
		x, err := def.Marshal()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(f.IO.Out, x)
		return err
	}
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	all, err := conn.Networks(ctx)
	if err != nil {
		return err
	}
	for _, n := range all {
		if n.Name == name {
			return errs.New(errs.Conflict, "network %s exists", name)
		}
		if o.bridge != "" && n.Bridge == o.bridge {
			return errs.New(errs.Conflict, "bridge %s belongs to network %s", o.bridge, n.Name)
		}
		for _, a := range n.Addresses {
			if other, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Address, a.Prefix)); err == nil && other.Overlaps(prefix) {
				return errs.New(errs.Conflict, "%s overlaps network %s (%s)", prefix, n.Name, other.Masked())
			}
		}
	}
	if !virt.IsRemote(conn.URI) && !strings.HasPrefix(conn.URI, "test:") {
		if err := hostOverlap(prefix, o.bridge); err != nil {
			return err
		}
	}
	if err := conn.DefineNetwork(ctx, def, !o.noStart, o.autostart); err != nil {
		return errs.Wrap(err, "create network %s", name)
	}
	format, err := f.Format()
	if err != nil {
		return err
	}
	n, err := conn.Network(ctx, name)
	if err != nil {
		return err
	}
	return output.Object(f.IO.Out, format, n, networkPairs(n))
}

// networkPairs is the table view of one network (show, and create's answer).
func networkPairs(n model.Network) [][2]string {
	return [][2]string{
		{"name", n.Name}, {"uuid", n.UUID}, {"state", state(n)}, {"autostart", yesNo(n.Autostart)},
		{"persistent", yesNo(n.Persistent)}, {"forward", n.Forward}, {"bridge", dash(n.Bridge)},
		{"address", cidrs(n)}, {"dhcp", dhcp(n)}, {"reserved", reservations(n)}, {"leases", leaseCount(n)},
		{"used by", dash(strings.Join(n.UsedBy, ", "))},
	}
}

// hostOverlap refuses a subnet this host already has on an interface (the LAN it is on, a
// VPN): a network on it would shadow real routes. A bridge that exists already is refused too.
func hostOverlap(prefix netip.Prefix, bridge string) error {
	ifaces, err := stdnet.Interfaces()
	if err != nil {
		return nil // cannot tell: libvirt will still refuse a clash of its own
	}
	for _, ifc := range ifaces {
		if bridge != "" && ifc.Name == bridge {
			return errs.New(errs.Conflict, "interface %s exists on this host", bridge).WithHint("pick another --bridge, or leave it out and libvirt picks one")
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*stdnet.IPNet)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			addr, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !addr.Unmap().Is4() {
				continue
			}
			if p := netip.PrefixFrom(addr.Unmap(), ones); p.Overlaps(prefix) {
				return errs.New(errs.Conflict, "%s overlaps %s on this host's %s", prefix, p.Masked(), ifc.Name)
			}
		}
	}
	return nil
}

// bulk runs verb on each named network and prints one result per network.
func bulk(cmd *cobra.Command, f *cmdutil.Factory, verb string, names []string, fn func(ctx context.Context, conn *virt.Conn, name string) (string, error)) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := cmdutil.ValidateName("network", n); err != nil {
			return err
		}
	}
	conn, err := f.Connect(cmd.Context(), false)
	if err != nil {
		return err
	}
	defer conn.Close()
	results, failures := cmdutil.RunBulk(cmd.Context(), names, 1, func(ctx context.Context, name string) (string, error) {
		return fn(ctx, conn, name)
	})
	if err := output.List(f.IO.Out, format, results, cmdutil.ResultColumns, func(r model.Result) string { return r.Name }); err != nil {
		return err
	}
	return cmdutil.BulkResultError(verb, results, failures)
}

func newStart(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "start NAME...",
		Short:             "Start networks",
		Args:              cmdutil.MinimumArgs(1, "one or more network names"),
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bulk(cmd, f, "start", args, func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
				return conn.StartNetwork(ctx, name)
			})
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// inUse refuses to cut running VMs off a network unless forced (with a warning).
func inUse(ctx context.Context, f *cmdutil.Factory, conn *virt.Conn, name, verb string, force bool) error {
	users, err := conn.RunningUsers(ctx, name)
	if err != nil || len(users) == 0 {
		return err
	}
	if !force {
		return errs.New(errs.Conflict, "running VMs use %s: %s", name, strings.Join(users, ", ")).
			WithHint("stop them first, or --force (their NICs stay cut off until they are restarted)")
	}
	f.Infof("%s: warning: %s %s under running VMs: %s", f.Prog, verb, name, strings.Join(users, ", "))
	return nil
}

func newStop(f *cmdutil.Factory) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop networks (refused while running VMs use them, unless --force)",
		Long: `Stop the named networks. A network running VMs are attached to is not stopped unless
--force: their NICs would lose the bridge and stay cut off until the VMs are restarted. A
transient network (never defined) is gone once stopped.`,
		Args:              cmdutil.MinimumArgs(1, "one or more network names"),
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bulk(cmd, f, "stop", args, func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
				if err := inUse(ctx, f, conn, name, "stopping", force); err != nil {
					return "", err
				}
				return conn.StopNetwork(ctx, name)
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "stop even while running VMs use it")
	f.AddOutputFlags(cmd)
	return cmd
}

func newAutostart(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "autostart NAME on|off",
		Short:             "Start a network whenever libvirt starts, or not",
		Args:              cmdutil.ExactArgs(2, "a network and on or off"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[1] {
			case "on":
				on = true
			case "off":
			default:
				return errs.New(errs.Usage, "%q: want on or off", args[1])
			}
			return bulk(cmd, f, "autostart", args[:1], func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
				if err := conn.SetNetworkAutostart(ctx, name, on); err != nil {
					return "", err
				}
				return "autostart_" + args[1], nil
			})
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func newDelete(f *cmdutil.Factory) *cobra.Command {
	var force, yes bool
	cmd := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Stop and remove networks (refused while running VMs use them, unless --force)",
		Long: `Stop the named networks and remove their definitions. Refused while running VMs use a
network, unless --force. VMs whose definitions name a deleted network keep that NIC and will
not start until it exists again (netctl show lists them under "used by").
On a terminal the command asks for confirmation; elsewhere it needs --yes.`,
		Args:              cmdutil.MinimumArgs(1, "one or more network names"),
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.Confirm(f.IO, yes, cmdutil.Question{Verb: "delete", What: "networks", Done: "deleted", Objects: args}); err != nil {
				return err
			}
			return bulk(cmd, f, "delete", args, func(ctx context.Context, conn *virt.Conn, name string) (string, error) {
				if err := inUse(ctx, f, conn, name, "deleting", force); err != nil {
					return "", err
				}
				if err := conn.DeleteNetwork(ctx, name); err != nil {
					return "", err
				}
				return "deleted", nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even while running VMs use it")
	cmdutil.AddYesFlag(cmd, &yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func newXML(f *cmdutil.Factory) *cobra.Command {
	var inactive bool
	cmd := &cobra.Command{
		Use:               "xml NAME",
		Short:             "Print a network's libvirt XML",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			conn, err := f.Connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer conn.Close()
			x, err := conn.NetworkXML(cmd.Context(), args[0], inactive)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(f.IO.Out, strings.TrimRight(x, "\n"))
			return err
		},
	}
	cmd.Flags().BoolVar(&inactive, "inactive", false, "the persistent definition, not the running one")
	return cmd
}

var macRE = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)

func newReserve(f *cmdutil.Factory) *cobra.Command {
	var mac, ip, name string
	cmd := &cobra.Command{
		Use:   "reserve NETWORK --mac MAC --ip IP [--name HOST]",
		Short: "Give a MAC a fixed DHCP address (and host name) on a network",
		Long: `Add a DHCP host entry: the NIC with this MAC always gets this address, and the network's
DNS answers HOST for it. The entry goes into the running network and its persistent
definition alike, so it holds across restarts. The address must be in the network's subnet
and not the host's own; a MAC or address already reserved is refused (exit 4).`,
		Example:           "  netctl reserve lab --mac 52:54:00:12:34:56 --ip 10.50.0.10 --name web01",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := model.Reservation{MAC: strings.ToLower(mac), IP: ip, Name: name}
			if !macRE.MatchString(r.MAC) {
				return errs.New(errs.Usage, "--mac %q: want six hex pairs such as 52:54:00:12:34:56", mac)
			}
			if b, _ := strconv.ParseUint(r.MAC[:2], 16, 8); b&1 == 1 {
				return errs.New(errs.Usage, "--mac %s is a multicast address", r.MAC)
			}
			addr, err := netip.ParseAddr(ip)
			if err != nil || !addr.Is4() {
				return errs.New(errs.Usage, "--ip %q: want an IPv4 address", ip)
			}
			if name != "" {
				if err := cmdutil.ValidateName("host", name); err != nil {
					return err
				}
			}
			conn, err := f.Connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer conn.Close()
			n, err := conn.Network(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			inSubnet := false
			for _, a := range n.Addresses {
				p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Address, a.Prefix))
				if err != nil || a.Family != "ipv4" {
					continue
				}
				if addr.String() == a.Address {
					return errs.New(errs.Usage, "%s is the host's own address on %s", addr, n.Name)
				}
				if p.Contains(addr) {
					inSubnet = true
				}
				for _, x := range a.Reservations {
					if x.MAC == r.MAC || x.IP == r.IP {
						return errs.New(errs.Conflict, "%s already reserves %s for %s", n.Name, x.IP, x.MAC).
							WithHint("remove it first: netctl unreserve %s --mac %s", n.Name, x.MAC)
					}
				}
			}
			if !inSubnet {
				return errs.New(errs.Usage, "%s is not in the subnet of %s (%s)", addr, n.Name, cidrs(n))
			}
			if err := conn.Reserve(cmd.Context(), n.Name, r, false); err != nil {
				return errs.Wrap(err, "reserve %s on %s", r.IP, n.Name)
			}
			f.Infof("%s: %s: %s now always gets %s", f.Prog, n.Name, r.MAC, r.IP)
			return nil
		},
	}
	cmd.Flags().StringVar(&mac, "mac", "", "the NIC's `MAC` address (required)")
	cmd.Flags().StringVar(&ip, "ip", "", "the IPv4 `ADDRESS` it gets (required)")
	cmd.Flags().StringVar(&name, "name", "", "host `NAME` the network's DNS answers for it")
	_ = cmd.MarkFlagRequired("mac")
	_ = cmd.MarkFlagRequired("ip")
	return cmd
}

func newUnreserve(f *cmdutil.Factory) *cobra.Command {
	var mac, ip string
	cmd := &cobra.Command{
		Use:               "unreserve NETWORK (--mac MAC | --ip IP)",
		Short:             "Remove a fixed DHCP address",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (mac == "") == (ip == "") {
				return errs.New(errs.Usage, "give --mac or --ip")
			}
			conn, err := f.Connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer conn.Close()
			n, err := conn.Network(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, a := range n.Addresses {
				for _, x := range a.Reservations {
					if x.MAC == strings.ToLower(mac) || x.IP == ip {
						if err := conn.Reserve(cmd.Context(), n.Name, x, true); err != nil {
							return errs.Wrap(err, "unreserve %s on %s", x.IP, n.Name)
						}
						f.Infof("%s: %s: %s no longer reserved for %s", f.Prog, n.Name, x.IP, x.MAC)
						return nil
					}
				}
			}
			return errs.New(errs.NotFound, "%s has no reservation for %s%s", n.Name, mac, ip)
		},
	}
	cmd.Flags().StringVar(&mac, "mac", "", "the reserved `MAC`")
	cmd.Flags().StringVar(&ip, "ip", "", "the reserved `ADDRESS`")
	cmd.MarkFlagsMutuallyExclusive("mac", "ip")
	return cmd
}

func reservations(n model.Network) string {
	var out []string
	for _, a := range n.Addresses {
		for _, r := range a.Reservations {
			out = append(out, strings.TrimSpace(r.IP+" "+r.MAC+" "+r.Name))
		}
	}
	return dash(strings.Join(out, ", "))
}
