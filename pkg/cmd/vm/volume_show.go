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

// VolumeShowOptions of `vm volume show`.
type VolumeShowOptions struct {
	F   *cmdutil.Factory
	Ref volumeRef
}

// NewCmdVolumeShow builds `vm volume show`.
func NewCmdVolumeShow(f *cmdutil.Factory, runF func(context.Context, *VolumeShowOptions) error) *cobra.Command {
	opts := &VolumeShowOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show POOL/NAME",
		Short:             "Show one volume: format, path, sizes, backing file and users",
		Example:           "  vmctl volume show default/web01.qcow2\n  vmctl volume show default/web01.qcow2 --jq .used_by",
		Args:              cmdutil.ExactArgs(1, "one volume as POOL/NAME"),
		ValidArgsFunction: completeVolumes(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseVolumeRef(args[0])
			if err != nil {
				return err
			}
			opts.Ref = ref
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runVolumeShow(ctx context.Context, o *VolumeShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var v model.Volume
	err = withConn(ctx, o.F, true, func(c *virt.Conn) error {
		if v, err = c.VolumeInfo(ctx, o.Ref.Pool, o.Ref.Name); err != nil {
			return err
		}
		vols := []model.Volume{v}
		err = fillUsedBy(ctx, c, vols)
		v = vols[0]
		return err
	})
	if err != nil {
		return errs.Wrap(err, "volume show %s", o.Ref)
	}
	return output.Object(o.F.IO.Out, format, v, volumePairs(v))
}
