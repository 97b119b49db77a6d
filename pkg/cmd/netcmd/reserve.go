package netcmd

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ReserveOptions of `net reserve`.
type ReserveOptions struct {
	F       *cmdutil.Factory
	Network string
	MAC     string // canonical: lower-case, colon-separated
	IP      netip.Addr
	Host    string
}

// NewCmdReserve builds `net reserve`.
func NewCmdReserve(f *cmdutil.Factory, runF func(context.Context, *ReserveOptions) error) *cobra.Command {
	opts := &ReserveOptions{F: f}
	var mac, ip string
	cmd := &cobra.Command{
		Use:         "reserve NETWORK --mac MAC --ip IP [--name HOST]",
		Annotations: cmdutil.Journaled("network", nil),
		Short:       "Give a MAC a fixed DHCP address (and host name) on a network",
		Long: `Add a DHCP host entry: the NIC with this MAC always gets this address, and the network's
DNS answers HOST for it. The entry goes into the running network and its persistent
definition alike, so it holds across restarts. The address must be in the network's subnet
and not the host's own; a MAC or address already reserved is refused (exit 4). --mac
completes the MACs of the VMs' NICs on the network.`,
		Example:           "  netctl reserve lab --mac 52:54:00:12:34:56 --ip 10.50.0.10 --name web01",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.MAC, err = parseMAC(mac); err != nil {
				return err
			}
			if opts.IP, err = netip.ParseAddr(ip); err != nil || !opts.IP.Is4() {
				return errs.New(errs.Usage, "--ip %q: want an IPv4 address", output.Escape(ip))
			}
			if opts.Host != "" {
				if err := cmdutil.ValidateName("host", opts.Host); err != nil {
					return err
				}
			}
			opts.Network = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runReserve(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&mac, "mac", "", "the NIC's `MAC` address (required)")
	cmd.Flags().StringVar(&ip, "ip", "", "the IPv4 `ADDRESS` it gets (required)")
	cmd.Flags().StringVar(&opts.Host, "name", "", "host `NAME` the network's DNS answers for it")
	_ = cmd.MarkFlagRequired("mac")
	_ = cmd.MarkFlagRequired("ip")
	f.AddOutputFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("mac", withNetwork(f, func(ctx context.Context, conn *virt.Conn, network string) []string {
		macs, _ := conn.NetworkMACs(ctx, network)
		out := make([]string, 0, len(macs))
		for mac, vm := range macs {
			out = append(out, mac+"\t"+vm) // the description shows the VM in zsh and fish
		}
		slices.Sort(out)
		return out
	}))
	return cmd
}

// parseMAC is cmdutil.ParseMAC for --mac: one rule for every command that takes a MAC.
func parseMAC(s string) (string, error) { return cmdutil.ParseMAC("--mac", s) }

func runReserve(ctx context.Context, o *ReserveOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	n, err := conn.Network(ctx, o.Network)
	if err != nil {
		return err
	}
	r := model.Reservation{MAC: o.MAC, IP: o.IP.String(), Name: o.Host}
	inSubnet := false
	for _, a := range n.Addresses {
		p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Address, a.Prefix))
		if err != nil || a.Family != "ipv4" {
			continue
		}
		if r.IP == a.Address {
			return errs.New(errs.Usage, "%s is the host's own address on %s", r.IP, n.Name)
		}
		if p.Contains(o.IP) {
			// dnsmasq never hands out a subnet's network or broadcast address: a reservation
			// of one would be accepted here and then never given to the NIC.
			if o.IP == p.Masked().Addr() || o.IP == lastAddr(p) {
				return errs.New(errs.Usage, "%s is the network or broadcast address of %s (%s)", r.IP, n.Name, p.Masked())
			}
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
		return errs.New(errs.Usage, "%s is not in the subnet of %s (%s)", r.IP, n.Name, cidrs(n))
	}
	// libvirt serves DHCP on one IPv4 address of a network and puts every reservation there;
	// dnsmasq ignores one outside that subnet, so an address of another of the network's
	// subnets would be accepted and never given.
	if p, ok := dhcpSubnet(n); ok && !p.Contains(o.IP) {
		return errs.New(errs.Usage, "%s is not in %s, the subnet %s serves DHCP on", r.IP, p.Masked(), n.Name)
	}
	if err := conn.Reserve(ctx, n.Name, r, false); err != nil {
		return errs.Wrap(err, "reserve %s on %s", r.IP, n.Name)
	}
	o.F.Infof("%s: %s: %s now always gets %s", o.F.Prog, n.Name, r.MAC, r.IP)
	return printChange(o.F, format, model.ReservationChange{Network: n.Name, Action: "reserved", Reservation: r})
}

// dhcpSubnet is the IPv4 subnet libvirt adds a network's reservations to: the first with a
// DHCP range or reservations, else the first IPv4 one.
func dhcpSubnet(n model.Network) (netip.Prefix, bool) {
	var first netip.Prefix
	for _, a := range n.Addresses {
		p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", a.Address, a.Prefix))
		if err != nil || a.Family != "ipv4" {
			continue
		}
		if a.DHCPStart != "" || len(a.Reservations) > 0 {
			return p, true
		}
		if !first.IsValid() {
			first = p
		}
	}
	return first, first.IsValid()
}

// printChange prints what reserve or unreserve did: a JSON object under --json, the MAC with
// -o name; on a table nothing more than the message on stderr already says.
func printChange(f *cmdutil.Factory, format output.Format, c model.ReservationChange) error {
	switch {
	case format.IsJSON():
		return output.WriteJSON(f.IO.Out, format, c)
	case format.Kind == output.Name:
		return output.List(f.IO.Out, format, []model.ReservationChange{c}, nil, func(c model.ReservationChange) string { return c.MAC })
	}
	return nil
}
