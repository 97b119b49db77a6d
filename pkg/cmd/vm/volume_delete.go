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

// VolumeDeleteOptions of `vm volume delete`.
type VolumeDeleteOptions struct {
	F    *cmdutil.Factory
	Refs []volumeRef
	Yes  bool
}

// NewCmdVolumeDelete builds `vm volume delete`.
func NewCmdVolumeDelete(f *cmdutil.Factory, runF func(context.Context, *VolumeDeleteOptions) error) *cobra.Command {
	opts := &VolumeDeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:         "delete POOL/NAME...",
		Annotations: cmdutil.Journaled("volume", nil),
		Short:       "Delete volumes no VM uses",
		Long: `Delete the volumes. A volume any VM uses (running or not, directly or as the backing file of
an overlay) or that backs another volume is refused (exit 4, naming them), and then none is
deleted; so is the lot when some VM cannot be read, rather than guess.

` + cmdutil.ConfirmHelp,
		Example:           "  vmctl volume delete default/old.qcow2 --yes\n  vmctl volume delete default/a.qcow2 default/b.qcow2",
		Args:              cmdutil.MinimumArgs(1, "one or more volumes as POOL/NAME"),
		ValidArgsFunction: completeVolumes(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Refs = nil
			for _, a := range args {
				ref, err := parseVolumeRef(a)
				if err != nil {
					return err
				}
				opts.Refs = append(opts.Refs, ref)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeDelete(cmd.Context(), opts)
		},
	}
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func runVolumeDelete(ctx context.Context, o *VolumeDeleteOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var results []model.Result
	var failed error
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		// Every volume is looked up and checked before anything is asked or deleted.
		vols := make([]model.Volume, 0, len(o.Refs))
		for _, r := range o.Refs {
			v, err := c.VolumeInfo(ctx, r.Pool, r.Name)
			if err != nil {
				return err
			}
			vols = append(vols, v)
		}
		if err := fillUsedBy(ctx, c, vols); err != nil {
			return errs.Wrap(err, "not deleting")
		}
		backed, err := c.BackedVolumes(ctx)
		if err != nil {
			return errs.Wrap(err, "not deleting")
		}
		var refused []string
		names := make([]string, 0, len(vols))
		for _, v := range vols {
			ref := v.Pool + "/" + v.Name
			names = append(names, ref)
			switch {
			case len(v.UsedBy) > 0:
				refused = append(refused, ref+" (used by "+strings.Join(v.UsedBy, ", ")+")")
			case c.OverlayOn(backed, v.Path) != "":
				refused = append(refused, ref+" (backing file of "+c.OverlayOn(backed, v.Path)+")")
			}
		}
		if len(refused) > 0 {
			return errs.New(errs.Conflict, "in use: %s; nothing deleted", strings.Join(refused, "; ")).
				WithHint("delete or change the VMs first (vmctl delete VM --remove-storage removes a VM with its own disks)")
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "delete", What: "volumes", Done: "deleted", Objects: names}); err != nil {
			return err
		}
		results, failed = deleteVolumes(ctx, c, o.Refs)
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "volume delete")
	}
	if err := output.List(o.F.IO.Out, format, results, cmdutil.ResultColumns, func(r model.Result) string { return r.Name }); err != nil {
		return err
	}
	return failed
}

// deleteVolumes deletes each volume and reports each; the error is the first failure.
func deleteVolumes(ctx context.Context, c *virt.Conn, refs []volumeRef) ([]model.Result, error) {
	var results []model.Result
	var first error
	for _, r := range refs {
		res := model.Result{Name: r.String(), OK: true, Action: "deleted"}
		if err := c.DeleteVolumeIn(ctx, r.Pool, r.Name); err != nil {
			res = model.Result{Name: r.String(), Error: err.Error(), Code: errs.KindOf(err).String()}
			if first == nil {
				first = errs.Wrap(err, "%s", r)
			}
		}
		results = append(results, res)
	}
	if first != nil && len(refs) > 1 {
		first = &errs.Error{Kind: errs.Partial, Msg: "some volumes were not deleted", Err: first}
	}
	return results, first
}
