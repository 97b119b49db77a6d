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

// GCOptions of `vm gc`.
type GCOptions struct {
	F      *cmdutil.Factory
	VMs    []string // names or globs of the dead VMs to look for; all when empty
	Pool   string   // default: vm.defaults.pool
	Yes    bool
	DryRun bool
}

// NewCmdGC builds `vm gc`.
func NewCmdGC(f *cmdutil.Factory, runF func(context.Context, *GCOptions) error) *cobra.Command {
	opts := &GCOptions{F: f}
	cmd := &cobra.Command{
		Use:         "gc [VM|PATTERN...]",
		Annotations: cmdutil.Journaled("vm", nil),
		Short:       "List and remove the volumes a killed create or clone left behind",
		Long: `A create or clone that is killed (SIGKILL, a crash, a daemon gone for good) cannot roll
back, and its volumes then make every new create of that name fail ("volume … exists").
gc finds them in the VM pool (--pool, default vm.defaults.pool): volumes named as hvctl
names a VM's volumes (VM.qcow2, VM-dataN.qcow2, VM-cidata.iso) for a VM that does not
exist, used by no domain (its disks and their backing chains) and backing no other
volume. If any VM's definition cannot be read, gc refuses: it cannot tell what is in use.

It lists what it found and removes it only when confirmed. ` + cmdutil.ConfirmHelp + `
--dry-run lists only. Names or globs limit gc to those dead VMs.`,
		Example: "  vmctl gc --dry-run\n  vmctl gc web01 --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			opts.VMs = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGC(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Pool, "pool", "", "the pool to look in (default: vm.defaults.pool)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be removed; remove nothing")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

var orphanColumns = []output.Column[model.Orphan]{
	{Header: "vm", Value: func(o model.Orphan) string { return o.VM }},
	{Header: "volume", Value: func(o model.Orphan) string { return o.Pool + "/" + o.Volume }},
	{Header: "path", Value: func(o model.Orphan) string { return o.Path }, Wide: true},
	{Header: "action", Value: func(o model.Orphan) string { return o.Action }},
	{Header: "result", Value: func(o model.Orphan) string { return output.ResultCell(o.Error == "", o.Error) }},
}

func runGC(ctx context.Context, o *GCOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	pool := o.Pool
	if pool == "" {
		l, err := o.F.Config()
		if err != nil {
			return err
		}
		pool = l.Config.VM.Defaults.Pool
	}
	conn, err := o.F.Connect(ctx, o.DryRun)
	if err != nil {
		return err
	}
	defer conn.Close()
	found, err := conn.Orphans(ctx, pool)
	if err != nil {
		return errs.Wrap(err, "gc")
	}
	var orphans []virt.Orphan
	for _, v := range found {
		if cmdutil.MatchAny(o.VMs, v.VM) {
			orphans = append(orphans, v)
		}
	}
	out := make([]model.Orphan, 0, len(orphans))
	objects := make([]string, 0, len(orphans))
	for _, v := range orphans {
		out = append(out, model.Orphan{VM: v.VM, Pool: v.Pool, Volume: v.Name, Path: v.Path, Action: virt.ActNone})
		objects = append(objects, v.Pool+"/"+v.Name)
	}
	if len(out) == 0 {
		o.F.Infof("%s: no orphaned volumes in pool %s", o.F.Prog, pool)
	}
	if o.DryRun || len(out) == 0 {
		return output.List(o.F.IO.Out, format, out, orphanColumns, func(v model.Orphan) string { return v.Pool + "/" + v.Volume })
	}
	if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "remove", What: "orphaned volumes", Done: "removed", Objects: objects}); err != nil {
		return err
	}
	failed := 0
	for i := range out {
		if err := conn.DeleteVolume(ctx, out[i].Path); err != nil {
			out[i].Error = err.Error()
			failed++
			continue
		}
		out[i].Action = "removed"
	}
	if err := output.List(o.F.IO.Out, format, out, orphanColumns, func(v model.Orphan) string { return v.Pool + "/" + v.Volume }); err != nil {
		return err
	}
	if failed > 0 {
		return errs.New(errs.Partial, "gc: could not remove %d of %d volumes", failed, len(out))
	}
	return nil
}
