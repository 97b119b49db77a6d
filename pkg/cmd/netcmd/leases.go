package netcmd

import (
	"context"
	"fmt"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// leaseColumns is the table view of model.Lease.
var leaseColumns = []output.Column[model.Lease]{
	{Header: "network", Value: func(l model.Lease) string { return l.Network }},
	{Header: "vm", Value: func(l model.Lease) string { return output.Dash(l.VM) }},
	{Header: "mac", Value: func(l model.Lease) string { return l.MAC }},
	{Header: "address", Value: func(l model.Lease) string { return fmt.Sprintf("%s/%d", l.Address, l.Prefix) }},
	{Header: "hostname", Value: func(l model.Lease) string { return output.Dash(l.Hostname) }},
	{Header: "expires", Value: func(l model.Lease) string { return output.Dash(l.ExpiresAt) }},
}

// LeasesOptions of `net leases`.
type LeasesOptions struct {
	F       *cmdutil.Factory
	Targets []string // names and globs; none means every active network
}

// NewCmdLeases builds `net leases`.
func NewCmdLeases(f *cmdutil.Factory, runF func(context.Context, *LeasesOptions) error) *cobra.Command {
	opts := &LeasesOptions{F: f}
	cmd := &cobra.Command{
		Use:   "leases [NAME|PATTERN...]",
		Short: "List the DHCP leases of networks, with the VM that holds each",
		Long: `List the DHCP leases handed out by the named networks (every active network when none is
named; globs such as 'lab-*' pick among all networks), each matched by MAC to the VM on this
host that holds it. A lease whose MAC belongs to no VM here shows "-" (a guest that was
deleted, or a foreign machine on a bridge). -o name prints the addresses.`,
		Example:           "  netctl leases\n  netctl leases default --jq '.[] | select(.vm == \"web01\") | .address'",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkTargets(args, false); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runLeases(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runLeases(ctx context.Context, o *LeasesOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	var names []string
	if len(o.Targets) > 0 {
		existing, err := conn.NetworkNames(ctx)
		if err != nil {
			return errs.Wrap(err, "leases")
		}
		var unmatched []string
		names, unmatched = (cmdutil.BulkFlags{}).Resolve(o.Targets, existing)
		if len(unmatched) > 0 {
			return errs.New(errs.NotFound, "no network matches %s", output.Escape(unmatched[0])).WithHint("see them with: netctl list")
		}
	}
	leases, err := conn.Leases(ctx, names)
	if err != nil {
		return errs.Wrap(err, "leases")
	}
	return output.List(o.F.IO.Out, format, leases, leaseColumns, func(l model.Lease) string { return l.Address })
}
