package netcmd

import (
	"context"
	"fmt"
	stdnet "net"
	"net/netip"
	"regexp"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// dnsName is a DNS domain name: dot-separated labels of letters, digits and inner hyphens.
var dnsName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// forwardModes are create's --forward values.
var forwardModes = []string{"isolated", "nat", "route"}

// CreateOptions of `net create`.
type CreateOptions struct {
	F                                          *cmdutil.Factory
	Name                                       string
	Subnet, Bridge, Forward, DHCPRange, Domain string
	Autostart, NoStart, DryRun                 bool
}

// NewCmdCreate builds `net create`.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{F: f}
	cmd := &cobra.Command{
		Use:         "create NAME --subnet CIDR",
		Annotations: cmdutil.Journaled("network", nil),
		Short:       "Create a network: isolated by default, with DHCP, started at once",
		Long: `Define a libvirt network on an IPv4 subnet and start it. The host takes the subnet's first
address on the bridge; DHCP hands out the rest (or --dhcp-range START-END, or none).

--forward isolated (the default) gives no <forward> element at all: guests reach each other
and the host, nothing else. nat and route connect them onward through the host, which is a
decision to take knowingly.

Refused (exit 4) when the name exists, when the subnet overlaps another libvirt network's or
an address of this host's interfaces, or when the bridge is taken. A failure after the
definition removes it again: nothing half-made is left. Prints the new network as show does.`,
		Example: "  netctl create lab --subnet 10.50.0.0/24\n  netctl create lab --subnet 10.50.0.0/24 --bridge br-lab --dhcp-range 10.50.0.100-10.50.0.199 --autostart\n  netctl create lab --subnet 10.50.0.0/24 --dry-run   # print the XML",
		Args:    cmdutil.ExactArgs(1, "the new network's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if _, _, err := networkDef(opts); err != nil {
				return err
			}
			if g := f.Global.OutputFlags; opts.DryRun && (g.JSON || g.JQ != "" || g.Output != "" || g.NoHeaders) {
				return errs.New(errs.Usage, "create --dry-run prints XML: --json, --jq, -o and --no-headers do not apply")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Subnet, "subnet", "", "IPv4 `CIDR`, e.g. 10.50.0.0/24 (required)")
	cmd.Flags().StringVar(&opts.Bridge, "bridge", "", "bridge `NAME` (default: libvirt picks virbrN)")
	cmdutil.StringEnumFlag(cmd, &opts.Forward, "forward", "", "isolated", forwardModes, "what the network reaches beyond the host")
	cmd.Flags().StringVar(&opts.DHCPRange, "dhcp-range", "auto", "`START-END`, auto (the subnet after the host's address) or none")
	cmd.Flags().StringVar(&opts.Domain, "domain", "", "DNS `DOMAIN` for the guests' names (answered locally only)")
	cmd.Flags().BoolVar(&opts.Autostart, "autostart", false, "start it whenever libvirt starts")
	cmd.Flags().BoolVar(&opts.NoStart, "no-start", false, "define it without starting it")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the network XML; define nothing")
	_ = cmd.MarkFlagRequired("subnet")
	_ = cmd.RegisterFlagCompletionFunc("dhcp-range", cobra.FixedCompletions([]string{"auto", "none"}, cobra.ShellCompDirectiveNoFileComp))
	f.AddOutputFlags(cmd)
	return cmd
}

// networkDef turns create's flags into a network definition, checking them on the way.
func networkDef(o *CreateOptions) (*libvirtxml.Network, netip.Prefix, error) {
	if err := cmdutil.ValidateName("network", o.Name); err != nil {
		return nil, netip.Prefix{}, err
	}
	prefix, err := netip.ParsePrefix(o.Subnet)
	if err != nil || !prefix.Addr().Is4() {
		return nil, prefix, errs.New(errs.Usage, "--subnet %q: want an IPv4 CIDR such as 10.50.0.0/24", o.Subnet)
	}
	if prefix.Bits() < 8 || prefix.Bits() > 29 {
		return nil, prefix, errs.New(errs.Usage, "--subnet %s: the prefix must be /8 to /29", o.Subnet)
	}
	prefix = prefix.Masked()
	// Addresses no bridge may take: the host's own loopback, multicast groups, "this network"
	// (0/8) and the reserved 240/4 (with the broadcast address). libvirt defines such a
	// network and the kernel or dnsmasq then refuses it, or it shadows the host's loopback.
	if a := prefix.Addr(); a.IsLoopback() || a.IsMulticast() || a.As4()[0] == 0 || a.As4()[0] >= 240 {
		return nil, prefix, errs.New(errs.Usage, "--subnet %s: a loopback, multicast or reserved range; use a private one such as 10.50.0.0/24", o.Subnet)
	}
	host := prefix.Addr().Next()
	broadcast := lastAddr(prefix)
	def := &libvirtxml.Network{Name: o.Name, IPs: []libvirtxml.NetworkIP{{Address: host.String(), Prefix: uint(prefix.Bits())}}}
	switch o.Forward {
	case "isolated":
	case "nat", "route":
		def.Forward = &libvirtxml.NetworkForward{Mode: o.Forward}
	default:
		return nil, prefix, errs.New(errs.Usage, "--forward %q: want isolated, nat or route", o.Forward)
	}
	if o.Bridge != "" {
		if len(o.Bridge) > 15 || strings.ContainsAny(o.Bridge, " /:") {
			return nil, prefix, errs.New(errs.Usage, "--bridge %q: not a valid interface name (at most 15 characters, no spaces, / or :)", o.Bridge)
		}
		def.Bridge = &libvirtxml.NetworkBridge{Name: o.Bridge, STP: "on", Delay: "0"}
	}
	if o.Domain != "" {
		// dnsmasq takes the name as it is into domain= and local=/…/: a space or an empty
		// label starts it with a domain no guest can resolve, and DHCP hands that out.
		if len(o.Domain) > 253 || !dnsName.MatchString(o.Domain) {
			return nil, prefix, errs.New(errs.Usage, "--domain %q: want a DNS name such as lab.internal (letters, digits and '-' in dot-separated labels of at most 63)", output.Escape(o.Domain))
		}
		def.Domain = &libvirtxml.NetworkDomain{Name: o.Domain, LocalOnly: "yes"}
	}
	switch o.DHCPRange {
	case "none":
	case "auto":
		start, end := host.Next(), broadcast.Prev()
		if !start.Less(end) && start != end {
			return nil, prefix, errs.New(errs.Usage, "--subnet %s leaves no room for DHCP: give --dhcp-range none", o.Subnet)
		}
		def.IPs[0].DHCP = &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: start.String(), End: end.String()}}}
	default:
		from, to, ok := strings.Cut(o.DHCPRange, "-")
		start, err1 := netip.ParseAddr(strings.TrimSpace(from))
		end, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil || !prefix.Contains(start) || !prefix.Contains(end) || end.Less(start) ||
			start == host || start == prefix.Addr() || end == broadcast || start.Less(host) || (host.Compare(start) >= 0 && host.Compare(end) <= 0) {
			return nil, prefix, errs.New(errs.Usage, "--dhcp-range %q: want START-END inside %s, above the host's %s and below the broadcast address", o.DHCPRange, prefix, host)
		}
		def.IPs[0].DHCP = &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: start.String(), End: end.String()}}}
	}
	return def, prefix, nil
}

// lastAddr is the prefix's last (broadcast) address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func runCreate(ctx context.Context, o *CreateOptions) error {
	def, prefix, err := networkDef(o)
	if err != nil {
		return err
	}
	if o.DryRun {
		x, err := def.Marshal()
		if err != nil {
			return fmt.Errorf("network xml: %w", err)
		}
		return output.WriteText(o.F.IO.Out, o.F.IO.IsStdoutTTY(), x+"\n")
	}
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	all, err := conn.Networks(ctx)
	if err != nil {
		return errs.Wrap(err, "create network %s", o.Name)
	}
	for _, n := range all {
		if n.Name == o.Name {
			return errs.New(errs.Conflict, "network %s exists", o.Name)
		}
		if o.Bridge != "" && n.Bridge == o.Bridge {
			return errs.New(errs.Conflict, "bridge %s belongs to network %s", o.Bridge, n.Name)
		}
		for _, a := range n.Addresses {
			if other, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Address, a.Prefix)); err == nil && other.Overlaps(prefix) {
				return errs.New(errs.Conflict, "%s overlaps network %s (%s)", prefix, n.Name, other.Masked())
			}
		}
	}
	if !virt.IsRemote(conn.URI) && !strings.HasPrefix(conn.URI, "test:") {
		if err := hostOverlap(prefix, o.Bridge); err != nil {
			return err
		}
	}
	if err := conn.DefineNetwork(ctx, def, !o.NoStart, o.Autostart); err != nil {
		return errs.Wrap(err, "create network %s", o.Name)
	}
	n, err := conn.Network(ctx, o.Name)
	if err != nil {
		return err
	}
	return output.Object(o.F.IO.Out, format, n, networkPairs(n))
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
