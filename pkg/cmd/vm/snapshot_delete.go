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

// SnapshotDeleteOptions of `vm snapshot delete`.
type SnapshotDeleteOptions struct {
	F         *cmdutil.Factory
	VM        string
	Snapshots []string
	Yes       bool
}

// NewCmdSnapshotDelete builds `vm snapshot delete`.
func NewCmdSnapshotDelete(f *cmdutil.Factory, runF func(context.Context, *SnapshotDeleteOptions) error) *cobra.Command {
	opts := &SnapshotDeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:     "delete VM NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete snapshots and their data",
		Long: `Delete snapshots and the data they keep in the disks. ` + cmdutil.ConfirmHelp + `
With --json each snapshot's result is an object (name, ok, action, error).`,
		Example:           "  vmctl snapshot delete web01 before-upgrade --yes",
		Args:              cmdutil.MinimumArgs(2, "a VM and snapshot names"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnTimeout: "10m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.Snapshots = args[0], args[1:]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSnapshotDelete(cmd.Context(), opts)
		},
	}
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func runSnapshotDelete(ctx context.Context, o *SnapshotDeleteOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var results []model.Result
	var failures []error
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		// The question names what exists: a missing VM or snapshot is "not found", not a
		// confirmation to answer first.
		if err := requireSnapshots(ctx, d, o.Snapshots...); err != nil {
			return err
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "delete", What: "snapshots of " + o.VM,
			Done: "deleted", Objects: o.Snapshots}); err != nil {
			return err
		}
		results, failures = cmdutil.RunBulk(ctx, o.Snapshots, 1, func(ctx context.Context, name string) (string, error) {
			return "deleted", d.DeleteSnapshot(ctx, name)
		})
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "snapshot delete %s", o.VM)
	}
	if err := output.List(o.F.IO.Out, format, results, cmdutil.ResultColumns, func(r model.Result) string { return r.Name }); err != nil {
		return err
	}
	return cmdutil.BulkResultError("snapshot delete", results, failures)
}
