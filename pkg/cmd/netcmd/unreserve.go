package netcmd

import (
	"context"
	"net/netip"
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// UnreserveOptions of `net unreserve`: one of MAC and IP is set.
type UnreserveOptions struct {
	F       *cmdutil.Factory
	Network string
	MAC     string // canonical, as reserve writes it
	IP      string
}

// NewCmdUnreserve builds `net unreserve`.
func NewCmdUnreserve(f *cmdutil.Factory, runF func(context.Context, *UnreserveOptions) error) *cobra.Command {
	opts := &UnreserveOptions{F: f}
	var mac, ip string
	cmd := &cobra.Command{
		Use:               "unreserve NETWORK (--mac MAC | --ip IP)",
		Annotations:       cmdutil.Journaled("network", nil),
		Short:             "Remove a fixed DHCP address",
		Long:              "Remove the DHCP host entry of a MAC or an address, from the running network and its\npersistent definition alike. --mac and --ip complete the network's reservations.",
		Example:           "  netctl unreserve lab --mac 52:54:00:12:34:56\n  netctl unreserve lab --ip 10.50.0.10",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (mac == "") == (ip == "") {
				return errs.New(errs.Usage, "give --mac or --ip")
			}
			if mac != "" {
				var err error
				if opts.MAC, err = parseMAC(mac); err != nil {
					return err
				}
			}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil || !a.Is4() {
					return errs.New(errs.Usage, "--ip %q: want an IPv4 address", output.Escape(ip))
				}
				opts.IP = a.String()
			}
			opts.Network = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUnreserve(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&mac, "mac", "", "the reserved `MAC`")
	cmd.Flags().StringVar(&ip, "ip", "", "the reserved `ADDRESS`")
	cmd.MarkFlagsMutuallyExclusive("mac", "ip")
	f.AddOutputFlags(cmd)
	reserved := func(pick func(model.Reservation) string) cobra.CompletionFunc {
		return withNetwork(f, func(ctx context.Context, conn *virt.Conn, network string) []string {
			n, err := conn.Network(ctx, network)
			if err != nil {
				return nil
			}
			var out []string
			for _, a := range n.Addresses {
				for _, r := range a.Reservations {
					out = append(out, pick(r))
				}
			}
			slices.Sort(out)
			return out
		})
	}
	_ = cmd.RegisterFlagCompletionFunc("mac", reserved(func(r model.Reservation) string { return r.MAC + "\t" + r.IP }))
	_ = cmd.RegisterFlagCompletionFunc("ip", reserved(func(r model.Reservation) string { return r.IP + "\t" + r.MAC }))
	return cmd
}

func runUnreserve(ctx context.Context, o *UnreserveOptions) error {
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
	for _, a := range n.Addresses {
		for _, x := range a.Reservations {
			if (o.MAC != "" && x.MAC == o.MAC) || (o.IP != "" && x.IP == o.IP) {
				if err := conn.Reserve(ctx, n.Name, x, true); err != nil {
					return errs.Wrap(err, "unreserve %s on %s", x.IP, n.Name)
				}
				o.F.Infof("%s: %s: %s no longer reserved for %s", o.F.Prog, n.Name, x.IP, x.MAC)
				return printChange(o.F, format, model.ReservationChange{Network: n.Name, Action: "unreserved", Reservation: x})
			}
		}
	}
	return errs.New(errs.NotFound, "%s has no reservation for %s%s", n.Name, o.MAC, o.IP)
}
