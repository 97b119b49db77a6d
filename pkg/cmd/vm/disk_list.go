package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// DiskListOptions of `vm disk list`.
type DiskListOptions struct {
	F  *cmdutil.Factory
	VM string
}

func sizeCell(n *uint64) string {
	if n == nil {
		return "-"
	}
	return units.Human(*n)
}

// diskColumns is the table view of model.VMDisk.
var diskColumns = []output.Column[model.VMDisk]{
	{Header: "target", Value: func(d model.VMDisk) string { return d.Target }},
	{Header: "bus", Value: func(d model.VMDisk) string { return output.Dash(d.Bus) }},
	{Header: "device", Wide: true, Value: func(d model.VMDisk) string { return d.Device }},
	{Header: "type", Wide: true, Value: func(d model.VMDisk) string { return output.Dash(d.Type) }},
	{Header: "source", Value: func(d model.VMDisk) string { return output.Dash(d.Source) }},
	{Header: "format", Value: func(d model.VMDisk) string { return output.Dash(d.Format) }},
	{Header: "capacity", Value: func(d model.VMDisk) string { return sizeCell(d.CapacityBytes) }},
	{Header: "allocation", Value: func(d model.VMDisk) string { return sizeCell(d.AllocationBytes) }},
	{Header: "definition", Value: func(d model.VMDisk) string { return d.Definition }},
	{Header: "read-only", Wide: true, Value: func(d model.VMDisk) string { return output.YesNo(d.ReadOnly) }},
	{Header: "backing", Value: func(d model.VMDisk) string { return output.Dash(strings.Join(d.Backing, ",")) }},
}

// NewCmdDiskList builds `vm disk list`.
func NewCmdDiskList(f *cmdutil.Factory, runF func(context.Context, *DiskListOptions) error) *cobra.Command {
	opts := &DiskListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list VM",
		Aliases: []string{"ls"},
		Short:   "List a VM's disks: target, bus, source, format, sizes and backing chain",
		Long: `List the VM's disks, running or not: target, bus, source (pool/volume, file, device or URL),
format, capacity and allocation, the backing chain under an overlay (nearest first), and
DEFINITION: "both" for a disk the running VM and its persistent definition have, "live" for
one attached to the running VM only (gone at its shutdown), "config" for one in the
definition only (a stopped VM's disks, or one the running VM gets at its next start).
-o wide adds the device kind, source type and read-only flag.`,
		Example: `  vmctl disk list web01
  vmctl disk list web01 --jq '.[] | select(.definition != "both") | .target'`,
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
			return runDiskList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runDiskList(ctx context.Context, o *DiskListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var disks []model.VMDisk
	err = withDomain(ctx, o.F, o.VM, true, func(d *virt.Domain) error {
		defs, err := d.Definitions(ctx)
		if err != nil {
			return err
		}
		disks = d.Disks(ctx, defs)
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "disk list %s", o.VM)
	}
	return output.List(o.F.IO.Out, format, disks, diskColumns, func(d model.VMDisk) string { return d.Target })
}
