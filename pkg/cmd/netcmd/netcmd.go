// Package netcmd is netctl: libvirt virtual networks — list, show, leases, create, start,
// stop, autostart, delete, xml, reserve, unreserve. One file per verb; each verb has an
// exported XOptions, NewCmdX(f, runF) and runX, so its flags can be tested without libvirt.
package netcmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
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
--force.

start, stop, autostart and delete take network names, shell-style globs ('lab-*') or --all,
as vmctl's lifecycle verbs do.`,
	}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdShow(f, nil), NewCmdLeases(f, nil), NewCmdCreate(f, nil),
		NewCmdStart(f, nil), NewCmdStop(f, nil), NewCmdAutostart(f, nil), NewCmdDelete(f, nil),
		NewCmdXML(f, nil), NewCmdReserve(f, nil), NewCmdUnreserve(f, nil))
	return cmd
}

// completeNetworks offers network names: for one argument, or (many) for every argument.
func completeNetworks(f *cmdutil.Factory, many bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
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

// withNetwork completes a flag from the network named by the first argument.
func withNetwork(f *cmdutil.Factory, values func(ctx context.Context, conn *virt.Conn, network string) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		conn, err := f.Connect(ctx, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer conn.Close()
		return values(ctx, conn, args[0]), cobra.ShellCompDirectiveNoFileComp
	}
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
	return output.Dash(strings.Join(out, ","))
}

func dhcp(n model.Network) string {
	var out []string
	for _, a := range n.Addresses {
		if a.DHCPStart != "" {
			out = append(out, a.DHCPStart+"-"+a.DHCPEnd)
		}
	}
	return output.Dash(strings.Join(out, ","))
}

func leaseCount(n model.Network) string {
	if n.Leases == nil {
		return "-"
	}
	return strconv.Itoa(*n.Leases)
}

func reservations(n model.Network) string {
	var out []string
	for _, a := range n.Addresses {
		for _, r := range a.Reservations {
			out = append(out, strings.TrimSpace(r.IP+" "+r.MAC+" "+r.Name))
		}
	}
	return output.Dash(strings.Join(out, ", "))
}

// networkPairs is the table view of one network (show, and create's answer); every value comes
// from a field of model.Network, so --json carries all of it.
func networkPairs(n model.Network) [][2]string {
	return [][2]string{
		{"name", n.Name}, {"uuid", n.UUID}, {"state", state(n)}, {"autostart", output.YesNo(n.Autostart)},
		{"persistent", output.YesNo(n.Persistent)}, {"forward", n.Forward}, {"bridge", output.Dash(n.Bridge)},
		{"address", cidrs(n)}, {"dhcp", dhcp(n)}, {"reserved", reservations(n)}, {"leases", leaseCount(n)},
		{"used by", output.Dash(strings.Join(n.UsedBy, ", "))},
	}
}
