package vm

import (
	"context"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// VolumeResizeOptions of `vm volume resize`.
type VolumeResizeOptions struct {
	F    *cmdutil.Factory
	Ref  volumeRef
	Size uint64
}

// NewCmdVolumeResize builds `vm volume resize`.
func NewCmdVolumeResize(f *cmdutil.Factory, runF func(context.Context, *VolumeResizeOptions) error) *cobra.Command {
	opts := &VolumeResizeOptions{F: f}
	cmd := &cobra.Command{
		Use:         "resize POOL/NAME SIZE",
		Annotations: cmdutil.Journaled("volume:1", nil),
		Short:       "Grow a volume no running VM uses",
		Long: `Grow the volume to SIZE. Shrinking is refused (exit 4): it is how file systems are lost. A
volume a running VM uses is refused too: QEMU holds it open and would not see the change;
'vmctl disk resize VM TARGET SIZE' grows it live through QEMU instead. The guest's partitions
and file systems are not grown. Prints the volume as show does.`,
		Example:           "  vmctl volume resize default/data01.qcow2 100GiB",
		Args:              cmdutil.ExactArgs(2, "a volume as POOL/NAME and its new size"),
		ValidArgsFunction: completeVolumes(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseVolumeRef(args[0])
			if err != nil {
				return err
			}
			if opts.Size, err = units.ParseSize(args[1]); err != nil || opts.Size == 0 {
				return errs.New(errs.Usage, "size %q: want a size above zero such as 20GiB", output.Escape(args[1]))
			}
			opts.Ref = ref
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeResize(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runVolumeResize(ctx context.Context, o *VolumeResizeOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var v model.Volume
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		if v, err = c.VolumeInfo(ctx, o.Ref.Pool, o.Ref.Name); err != nil {
			return err
		}
		vols := []model.Volume{v}
		if err := fillUsedBy(ctx, c, vols); err != nil {
			return errs.Wrap(err, "not resizing")
		}
		running, err := c.ActiveDomainNames(ctx)
		if err != nil {
			return err
		}
		var live []string
		for _, vm := range vols[0].UsedBy {
			if slices.Contains(running, vm) {
				live = append(live, vm)
			}
		}
		if len(live) > 0 {
			return errs.New(errs.Conflict, "running VMs use %s: %s", o.Ref, strings.Join(live, ", ")).
				WithHint("grow it through QEMU: vmctl disk resize VM TARGET SIZE, or stop the VMs first")
		}
		if err := c.GrowVolume(ctx, o.Ref.Pool, o.Ref.Name, o.Size); err != nil {
			return err
		}
		if v, err = c.VolumeInfo(ctx, o.Ref.Pool, o.Ref.Name); err != nil {
			return err
		}
		v.UsedBy = vols[0].UsedBy
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "volume resize %s", o.Ref)
	}
	return output.Object(o.F.IO.Out, format, v, volumePairs(v))
}
