package netcmd

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
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
	Hosts    cmdutil.HostFlags
	Cmd      *cobra.Command // for how a failing host is reported (--json)
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
network is an error (exit 3), a glob that matches none is an empty list.

With --host the networks of several configured hosts are listed at once, by host then name,
under a leading HOST column (a "host" field in JSON); HOST:PATTERN applies on that host only.
A host that does not answer is reported and the rest still answer (exit 6; --strict fails).`,
		Example: `  netctl list
  netctl list -o wide
  netctl list --jq '.[] | select(.forward == "isolated") | .name'
  netctl list --host all 'lab-*'`,
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			opts.Patterns = args
			opts.Cmd = cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if o.Hosts.Enabled() {
		return runListHosts(ctx, o)
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

// runListHosts lists the networks of several hosts at once, ordered by host then name. A plain
// name is missing only when no host that answered has it (qualified, only that host).
func runListHosts(ctx context.Context, o *ListOptions) error {
	rows := cmdutil.HostRows[model.Network]{Columns: listColumns,
		Host: func(n *model.Network) *string { return &n.Host }, Name: func(n model.Network) string { return n.Name }}
	err := cmdutil.ListHosts(ctx, o.F, o.Cmd, &o.Hosts, "network", o.Patterns, rows,
		func(ctx context.Context, conn *virt.Conn, patterns []string) ([]model.Network, []string, error) {
			all, err := conn.Networks(ctx)
			if err != nil {
				return nil, nil, errs.Wrap(err, "list")
			}
			var matching []model.Network
			names := make([]string, 0, len(all))
			for _, n := range all {
				names = append(names, n.Name)
				if cmdutil.MatchAny(patterns, n.Name) {
					matching = append(matching, n)
				}
			}
			return matching, names, nil
		})
	var missing *errs.Error
	if errors.As(err, &missing) && missing.Kind == errs.NotFound && missing.Hint == "" {
		return missing.WithHint("see them with: netctl list --host %s", strings.Join(o.Hosts.Hosts, ","))
	}
	return err
}
