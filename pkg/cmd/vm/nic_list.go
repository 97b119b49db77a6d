package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NICListOptions of `vm nic list`.
type NICListOptions struct {
	F  *cmdutil.Factory
	VM string
}

// nicColumns is the table view of model.VMNIC.
var nicColumns = []output.Column[model.VMNIC]{
	{Header: "mac", Value: func(n model.VMNIC) string { return output.Dash(n.MAC) }},
	{Header: "target", Value: func(n model.VMNIC) string { return output.Dash(n.Device) }},
	{Header: "type", Value: func(n model.VMNIC) string { return output.Dash(n.Type) }},
	{Header: "source", Value: func(n model.VMNIC) string { return output.Dash(n.Source) }},
	{Header: "model", Value: func(n model.VMNIC) string { return output.Dash(n.Model) }},
	{Header: "link", Value: func(n model.VMNIC) string { return n.Link }},
	{Header: "definition", Value: func(n model.VMNIC) string { return n.Definition }},
	{Header: "addresses", Wide: true, Value: func(n model.VMNIC) string {
		var a []string
		for _, addr := range n.Addresses {
			a = append(a, addr.Address)
		}
		return output.Dash(strings.Join(a, ","))
	}},
}

// NewCmdNICList builds `vm nic list`.
func NewCmdNICList(f *cmdutil.Factory, runF func(context.Context, *NICListOptions) error) *cobra.Command {
	opts := &NICListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list VM",
		Aliases: []string{"ls"},
		Short:   "List a VM's network interfaces: MAC, device, source, model, link",
		Long: `List the VM's NICs, running or not: MAC, host-side device (TARGET, while it runs), type,
source (network or bridge), model, link state and DEFINITION (both, live or config, as in
vmctl disk list). -o wide and --json add the addresses the guest has (from DHCP leases and
the guest agent).`,
		Example: `  vmctl nic list web01
  vmctl nic list web01 -o name     # MACs, one per line`,
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNICList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runNICList(ctx context.Context, o *NICListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var nics []model.VMNIC
	err = withDomain(ctx, o.F, o.VM, true, func(d *virt.Domain) error {
		defs, err := d.Definitions(ctx)
		if err != nil {
			return err
		}
		nics = d.NICs(ctx, defs)
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "nic list %s", o.VM)
	}
	return output.List(o.F.IO.Out, format, nics, nicColumns, func(n model.VMNIC) string { return n.MAC })
}
