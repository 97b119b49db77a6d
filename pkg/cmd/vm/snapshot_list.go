package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// SnapshotListOptions of `vm snapshot list`.
type SnapshotListOptions struct {
	F  *cmdutil.Factory
	VM string
}

// NewCmdSnapshotList builds `vm snapshot list`.
func NewCmdSnapshotList(f *cmdutil.Factory, runF func(context.Context, *SnapshotListOptions) error) *cobra.Command {
	opts := &SnapshotListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list VM",
		Aliases: []string{"ls"},
		Short:   "List a VM's snapshots as a tree",
		Example: "  vmctl snapshot list web01\n  vmctl snapshot list web01 --jq '.[] | select(.current) | .name'",
		Long: `List a VM's snapshots depth-first from each root. The NAME column holds only names and
the PARENT column the tree, on a terminal and in a pipe alike; -o wide adds a TREE column
with the names indented by depth.`,
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSnapshotList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runSnapshotList(ctx context.Context, o *SnapshotListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var snaps []virt.Snapshot
	err = withDomain(ctx, o.F, o.VM, true, func(d *virt.Domain) error {
		snaps, err = d.Snapshots(ctx)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "snapshot list %s", o.VM)
	}
	cols := snapshotColumns()
	return output.List(o.F.IO.Out, format, tree(o.VM, snaps), cols, func(s model.Snapshot) string { return s.Name })
}
