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

// SnapshotRevertOptions of `vm snapshot revert`.
type SnapshotRevertOptions struct {
	F        *cmdutil.Factory
	VM, Name string
	State    string // "running", "paused" or "" (the snapshot's own)
	Yes      bool
	Force    bool // revert the template of linked clones all the same
}

// NewCmdSnapshotRevert builds `vm snapshot revert`.
func NewCmdSnapshotRevert(f *cmdutil.Factory, runF func(context.Context, *SnapshotRevertOptions) error) *cobra.Command {
	opts := &SnapshotRevertOptions{F: f}
	var running, paused bool
	cmd := &cobra.Command{
		Use:   "revert VM NAME",
		Short: "Return a VM to a snapshot (its disks, and memory if it has any)",
		Long: `Return a VM to a snapshot: what was written since is lost. ` + cmdutil.ConfirmHelp + `
With --json the result is one object: vm, snapshot, action and the state the VM is left in.`,
		Example:           "  vmctl snapshot revert web01 before-upgrade --yes",
		Args:              cmdutil.ExactArgs(2, "a VM and a snapshot name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnTimeout: "10m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if running && paused {
				return errs.New(errs.Usage, "--running and --paused contradict each other")
			}
			opts.VM, opts.Name = args[0], args[1]
			switch {
			case running:
				opts.State = "running"
			case paused:
				opts.State = "paused"
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSnapshotRevert(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&running, "running", false, "leave the VM running afterwards, whatever the snapshot's state")
	cmd.Flags().BoolVar(&paused, "paused", false, "leave the VM paused afterwards")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "revert a VM even though linked clones overlay its disks")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func runSnapshotRevert(ctx context.Context, o *SnapshotRevertOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	res := model.SnapshotResult{VM: o.VM, Snapshot: o.Name, Action: "reverted"}
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		if err := d.RefuseIfTemplate(ctx, "reverting it", o.Force); err != nil {
			return err
		}
		// Asked only once the VM and the snapshot are known to exist.
		if err := requireSnapshots(ctx, d, o.Name); err != nil {
			return err
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "revert", What: "to snapshot " + o.Name + " (later changes are lost)",
			Done: "reverted", Objects: []string{o.VM}}); err != nil {
			return err
		}
		if err := d.RevertSnapshot(ctx, o.Name, o.State); err != nil {
			return err
		}
		res.State, _, err = d.State(ctx)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "snapshot revert %s", o.VM)
	}
	return output.Object(o.F.IO.Out, format, res, [][2]string{{"vm", res.VM}, {"snapshot", res.Snapshot}, {"action", res.Action}, {"state", res.State}})
}
