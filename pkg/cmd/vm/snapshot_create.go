package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// SnapshotCreateOptions of `vm snapshot create`.
type SnapshotCreateOptions struct {
	F           *cmdutil.Factory
	VM          string
	Name        string // the time, e.g. 20261126-143000, when not given
	Description string
}

// NewCmdSnapshotCreate builds `vm snapshot create`.
func NewCmdSnapshotCreate(f *cmdutil.Factory, runF func(context.Context, *SnapshotCreateOptions) error) *cobra.Command {
	opts := &SnapshotCreateOptions{F: f}
	cmd := &cobra.Command{
		Use:               "create VM [NAME]",
		Short:             "Take a snapshot (with memory if the VM runs)",
		Long:              "Take an internal snapshot. NAME defaults to the time, e.g. 20261126-143000 (UTC).",
		Example:           "  vmctl snapshot create web01 before-upgrade --description 'nginx 1.24'",
		Args:              cmdutil.RangeArgs(1, 2, "a VM and an optional snapshot name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnTimeout: "10m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			opts.Name = f.Now().UTC().Format("20060102-150405")
			if len(args) == 2 {
				opts.Name = args[1]
			}
			if err := cmdutil.ValidateName("snapshot", opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSnapshotCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Description, "description", "", "what the snapshot is for")
	_ = cmd.Flags().SetAnnotation("description", cmdutil.AnnEmptyOK, []string{"true"}) // an empty description is none
	f.AddOutputFlags(cmd)
	return cmd
}

func runSnapshotCreate(ctx context.Context, o *SnapshotCreateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var snap virt.Snapshot
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		snap, err = d.CreateSnapshot(ctx, o.Name, o.Description)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "snapshot create %s", o.VM)
	}
	m := toModel(o.VM, snap, 0)
	return output.Object(o.F.IO.Out, format, m, [][2]string{{"vm", m.VM}, {"snapshot", m.Name}, {"created", m.Created}, {"memory", yesNo(m.Memory)}})
}
