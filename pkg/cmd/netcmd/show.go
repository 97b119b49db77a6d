package netcmd

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ShowOptions of `net show`.
type ShowOptions struct {
	F    *cmdutil.Factory
	Name string
}

// NewCmdShow builds `net show`.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show a network: forwarding, bridge, addresses, DHCP range, reservations, users, leases",
		Example:           "  netctl show lab\n  netctl show lab --jq '.addresses[0].reservations'",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runShow(ctx context.Context, o *ShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	n, err := conn.Network(ctx, o.Name)
	if err != nil {
		return err
	}
	return output.Object(o.F.IO.Out, format, n, networkPairs(n))
}
