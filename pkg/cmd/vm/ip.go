package vm

import (
	"context"
	"strconv"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// AddressSources are the places an address can come from, in the order they are asked.
var AddressSources = []string{"lease", "agent", "arp"}

// IPOptions of `vm ip`.
type IPOptions struct {
	F       *cmdutil.Factory
	Name    string
	Sources []string
	Hosts   cmdutil.HostFlags
	Cmd     *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdIP builds `vm ip`.
func NewCmdIP(f *cmdutil.Factory, runF func(context.Context, *IPOptions) error) *cobra.Command {
	opts := &IPOptions{F: f}
	cmd := &cobra.Command{
		Use:   "ip NAME",
		Short: "Print the IP addresses of a running VM and where they were learnt",
		Long: `Print the VM's IP addresses with their source: the DHCP lease of a libvirt network,
the guest agent, or the host's ARP table. Sources are asked in order and the first that
knows any address answers. An empty list means no source knows one yet (see vmctl wait
--for ip).

With --host, the VM is looked for on those hosts at once and its addresses carry its host;
NAME may be qualified HOST:NAME. A name on several hosts must be qualified.`,
		Example:           "  vmctl ip web01\n  ssh root@$(vmctl ip web01 --jq '.[0].address')\n  vmctl ip --host all web01",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Cmd = args[0], cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Hosts.Enabled() {
				return runIPHosts(cmd.Context(), opts)
			}
			return runIP(cmd.Context(), opts)
		},
	}
	cmdutil.StringSliceEnumFlag(cmd, &opts.Sources, "source", "", AddressSources, AddressSources, "where to look, in order")
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

// AddressColumns is the table view of model.Address.
var AddressColumns = []output.Column[model.Address]{
	{Header: "interface", Value: func(a model.Address) string { return output.Dash(a.Interface) }},
	{Header: "mac", Value: func(a model.Address) string { return a.MAC }},
	{Header: "family", Value: func(a model.Address) string { return a.Family }},
	{Header: "address", Value: func(a model.Address) string { return a.Address + "/" + strconv.Itoa(a.Prefix) }},
	{Header: "source", Value: func(a model.Address) string { return a.Source }},
}

func runIP(ctx context.Context, o *IPOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var addrs []model.Address
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error {
		addrs, err = addresses(ctx, d, o.Sources)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "ip %s", o.Name)
	}
	return output.List(o.F.IO.Out, format, addrs, AddressColumns, func(a model.Address) string { return a.Address })
}

// runIPHosts prints the addresses of the VM from the host of --host that has it, with a host
// column leading; a host that did not answer is reported after them (exit 6).
func runIPHosts(ctx context.Context, o *IPOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	hit, hostsErr := withDomainOnHosts(ctx, o.F, o.Cmd, &o.Hosts, o.Name, false, func(ctx context.Context, d *virt.Domain) ([]model.Address, error) {
		return addresses(ctx, d, o.Sources)
	})
	if hit == nil {
		return errs.Wrap(hostsErr, "ip %s", o.Name)
	}
	addrs := hit.Value
	for i := range addrs {
		addrs[i].Host = hit.Host
	}
	cols := append([]output.Column[model.Address]{{Header: "host", Value: func(a model.Address) string { return a.Host }}}, AddressColumns...)
	if err := output.List(o.F.IO.Out, format, addrs, cols, func(a model.Address) string { return a.Address }); err != nil {
		return err
	}
	return hostsErr
}

// addresses are a running VM's addresses from sources, asked in order.
func addresses(ctx context.Context, d *virt.Domain, sources []string) ([]model.Address, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return nil, err
	}
	if state != virt.StateRunning && state != virt.StatePaused {
		return nil, errs.New(errs.Conflict, "domain is %s, not running", state)
	}
	return d.Addresses(ctx, sources)
}
