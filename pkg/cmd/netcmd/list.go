package netcmd

import (
	"context"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// listColumns is the table view of model.Network.
var listColumns = []output.Column[model.Network]{
	{Header: "name", Value: func(n model.Network) string { return n.Name }},
	{Header: "state", Value: state},
	{Header: "autostart", Value: func(n model.Network) string { return output.YesNo(n.Autostart) }},
	{Header: "forward", Value: func(n model.Network) string { return n.Forward }},
	{Header: "bridge", Value: func(n model.Network) string { return output.Dash(n.Bridge) }},
	{Header: "address", Value: cidrs},
	{Header: "leases", Value: leaseCount},
	{Header: "dhcp", Wide: true, Value: dhcp},
	{Header: "used-by", Wide: true, Value: func(n model.Network) string { return output.Dash(strings.Join(n.UsedBy, ",")) }},
	{Header: "persistent", Wide: true, Value: func(n model.Network) string { return output.YesNo(n.Persistent) }},
	{Header: "uuid", Wide: true, Value: func(n model.Network) string { return n.UUID }},
}

// ListOptions of `net list`.
type ListOptions struct {
	F        *cmdutil.Factory
	Patterns []string
}

// NewCmdList builds `net list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list [NAME|PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List networks with state, forwarding, bridge, addresses and lease counts",
		Long: `List every libvirt network, active or not: whether it starts with the host, how it
forwards (isolated: no <forward>, the guests reach only each other and the host), its bridge,
its addresses, and how many DHCP leases it holds. -o wide adds the DHCP range and the VMs
with a NIC on it. Patterns are shell-style globs on the name; a plain name that matches no
network is an error (exit 3), a glob that matches none is an empty list.`,
		Example:           "  netctl list\n  netctl list -o wide\n  netctl list --jq '.[] | select(.forward == \"isolated\") | .name'",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			opts.Patterns = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	all, err := conn.Networks(ctx)
	if err != nil {
		return errs.Wrap(err, "list")
	}
	rows := []model.Network{}
	for _, n := range all {
		if cmdutil.MatchAny(o.Patterns, n.Name) {
			rows = append(rows, n)
		}
	}
	if err := output.List(o.F.IO.Out, format, rows, listColumns, func(n model.Network) string { return n.Name }); err != nil {
		return err
	}
	// A plain name asks for that network: its absence is an error, as in show.
	for _, p := range o.Patterns {
		if !cmdutil.IsGlob(p) && !slices.ContainsFunc(all, func(n model.Network) bool { return n.Name == p }) {
			return errs.New(errs.NotFound, "network %s not found", output.Escape(p)).WithHint("see them with: netctl list")
		}
	}
	return nil
}
