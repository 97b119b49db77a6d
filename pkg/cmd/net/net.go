// Package net is netctl: libvirt virtual networks — list, inspect, leases, create, start,
// stop, autostart, delete.
package net

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdNet builds the netctl tree.
func NewCmdNet(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "net",
		Aliases: []string{"netctl"},
		Short:   "Manage libvirt virtual networks",
		Long: `Manage libvirt virtual networks: list and inspect them with their DHCP leases (matched to
the VMs holding them), create them (isolated unless asked otherwise), start, stop, mark for
autostart, and delete them. Networks VMs are running on are not stopped or deleted without
--force.`,
	}
	cmd.AddCommand(newList(f), newShow(f), newLeases(f), newCreate(f), newStart(f), newStop(f),
		newAutostart(f), newDelete(f), newXML(f), newReserve(f), newUnreserve(f))
	return cmd
}

func completeNetworks(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := f.Connect(ctx, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer conn.Close()
		names, _ := conn.NetworkNames(ctx)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func state(n model.Network) string {
	if n.Active {
		return "active"
	}
	return "inactive"
}

func cidrs(n model.Network) string {
	var out []string
	for _, a := range n.Addresses {
		out = append(out, fmt.Sprintf("%s/%d", a.Address, a.Prefix))
	}
	return dash(strings.Join(out, ","))
}

func dhcp(n model.Network) string {
	var out []string
	for _, a := range n.Addresses {
		if a.DHCPStart != "" {
			out = append(out, a.DHCPStart+"-"+a.DHCPEnd)
		}
	}
	return dash(strings.Join(out, ","))
}

func leaseCount(n model.Network) string {
	if n.Leases == nil {
		return "-"
	}
	return strconv.Itoa(*n.Leases)
}

// ListColumns is the table view of model.Network.
var ListColumns = []output.Column[model.Network]{
	{Header: "name", Value: func(n model.Network) string { return n.Name }},
	{Header: "state", Value: state},
	{Header: "autostart", Value: func(n model.Network) string { return yesNo(n.Autostart) }},
	{Header: "forward", Value: func(n model.Network) string { return n.Forward }},
	{Header: "bridge", Value: func(n model.Network) string { return dash(n.Bridge) }},
	{Header: "address", Value: cidrs},
	{Header: "leases", Value: leaseCount},
	{Header: "dhcp", Wide: true, Value: dhcp},
	{Header: "used-by", Wide: true, Value: func(n model.Network) string { return dash(strings.Join(n.UsedBy, ",")) }},
	{Header: "persistent", Wide: true, Value: func(n model.Network) string { return yesNo(n.Persistent) }},
	{Header: "uuid", Wide: true, Value: func(n model.Network) string { return n.UUID }},
}

func newList(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list [PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List networks with state, forwarding, bridge, addresses and lease counts",
		Long: `List every libvirt network, active or not: whether it starts with the host, how it
forwards (isolated: no <forward>, the guests reach only each other and the host), its bridge,
its addresses, and how many DHCP leases it holds. -o wide adds the DHCP range and the VMs
with a NIC on it. Patterns are shell-style globs on the name.`,
		Example:           "  netctl list\n  netctl list -o wide\n  netctl list --jq '.[] | select(.forward == \"isolated\") | .name'",
		ValidArgsFunction: completeNetworks(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if _, err := path.Match(p, ""); err != nil {
					return errs.New(errs.Usage, "invalid pattern %q", output.Escape(p))
				}
			}
			format, conn, err := reader(cmd.Context(), f)
			if err != nil {
				return err
			}
			defer conn.Close()
			all, err := conn.Networks(cmd.Context())
			if err != nil {
				return errs.Wrap(err, "list")
			}
			rows := []model.Network{}
			for _, n := range all {
				if matches(n.Name, args) {
					rows = append(rows, n)
				}
			}
			return output.List(f.IO.Out, format, rows, ListColumns, func(n model.Network) string { return n.Name })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func matches(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// reader is what every read-only command starts with: the output format, then a read-only
// connection (in that order, so a bad -o fails before libvirt is asked).
func reader(ctx context.Context, f *cmdutil.Factory) (output.Format, *virt.Conn, error) {
	format, err := f.Format()
	if err != nil {
		return format, nil, err
	}
	conn, err := f.Connect(ctx, true)
	return format, conn, err
}
