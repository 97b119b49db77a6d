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

// VolumeListOptions of `vm volume list`.
type VolumeListOptions struct {
	F        *cmdutil.Factory
	Pool     string
	Patterns []string
}

// NewCmdVolumeList builds `vm volume list`.
func NewCmdVolumeList(f *cmdutil.Factory, runF func(context.Context, *VolumeListOptions) error) *cobra.Command {
	opts := &VolumeListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list POOL [PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List a pool's volumes with format, sizes and the VMs using them",
		Long: `List the volumes of an active pool: format, capacity, allocation and USED-BY, the VMs whose
disks use each one directly or as an overlay's backing file. Patterns are shell-style globs
on the volume name.`,
		Example: `  vmctl volume list default
  vmctl volume list default '*.qcow2' -o wide
  vmctl volume list default --jq '.[] | select(.used_by == []) | .name'`,
		Args:              cmdutil.MinimumArgs(1, "a pool and optional patterns"),
		ValidArgsFunction: completePools(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Pool, opts.Patterns = args[0], args[1:]
			if err := cmdutil.ValidateLookupName("pool", opts.Pool); err != nil {
				return err
			}
			if err := cmdutil.ValidatePatterns(opts.Patterns); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runVolumeList(ctx context.Context, o *VolumeListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var all []model.Volume
	err = withConn(ctx, o.F, true, func(c *virt.Conn) error {
		if all, err = c.Volumes(ctx, o.Pool); err != nil {
			return err
		}
		return fillUsedBy(ctx, c, all)
	})
	if err != nil {
		return errs.Wrap(err, "volume list %s", o.Pool)
	}
	vols := make([]model.Volume, 0, len(all))
	names := make([]string, 0, len(all))
	for _, v := range all {
		names = append(names, v.Name)
		if cmdutil.MatchAny(o.Patterns, v.Name) {
			vols = append(vols, v)
		}
	}
	if err := output.List(o.F.IO.Out, format, vols, VolumeColumns, func(v model.Volume) string { return v.Pool + "/" + v.Name }); err != nil {
		return err
	}
	return cmdutil.MissingNames("volume", o.Patterns, names)
}
