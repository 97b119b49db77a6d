package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// VolumeCreateOptions of `vm volume create`.
type VolumeCreateOptions struct {
	F      *cmdutil.Factory
	Ref    volumeRef
	Size   uint64
	Format string
}

// NewCmdVolumeCreate builds `vm volume create`.
func NewCmdVolumeCreate(f *cmdutil.Factory, runF func(context.Context, *VolumeCreateOptions) error) *cobra.Command {
	opts := &VolumeCreateOptions{F: f}
	var size string
	cmd := &cobra.Command{
		Use:         "create POOL/NAME --size SIZE",
		Annotations: cmdutil.Journaled("volume", nil),
		Short:       "Create an empty volume (qcow2 by default)",
		Long: `Create an empty volume in an active pool: qcow2 (thin, compat 1.1, so it can grow while it
holds snapshots) or raw. A name that exists is exit 4. Prints the volume as show does.`,
		Example:           "  vmctl volume create default/data01.qcow2 --size 50GiB\n  vmctl volume create vg0/scratch --size 10GiB --format raw",
		Args:              cmdutil.ExactArgs(1, "the new volume as POOL/NAME"),
		ValidArgsFunction: completePoolsSlash(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseVolumeRef(args[0])
			if err != nil {
				return err
			}
			if err := cmdutil.ValidateName("volume", ref.Name); err != nil {
				return err
			}
			if size == "" {
				return errs.New(errs.Usage, "volume create needs --size").WithHint("e.g. --size 20GiB")
			}
			if opts.Size, err = units.ParseSize(size); err != nil || opts.Size == 0 {
				return errs.New(errs.Usage, "--size %q: want a size above zero such as 20GiB", output.Escape(size))
			}
			opts.Ref = ref
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&size, "size", "", "the volume's capacity (`SIZE`, e.g. 20GiB)")
	cmdutil.StringEnumFlag(cmd, &opts.Format, "format", "", "qcow2", []string{"qcow2", "raw"}, "volume format")
	f.AddOutputFlags(cmd)
	return cmd
}

// completePoolsSlash completes POOL/ for a new volume's name.
func completePoolsSlash(f *cmdutil.Factory) cobra.CompletionFunc {
	pools := completePools(f, false)
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		names, d := pools(cmd, args, s)
		for i := range names {
			names[i] += "/"
		}
		return names, d | cobra.ShellCompDirectiveNoSpace
	}
}

func runVolumeCreate(ctx context.Context, o *VolumeCreateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var v model.Volume
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		if exists, err := c.VolumeExists(ctx, o.Ref.Pool, o.Ref.Name); err != nil {
			if errs.KindOf(err) == errs.NotFound {
				return virt.ErrNoPool(o.Ref.Pool)
			}
			return err
		} else if exists {
			return errs.New(errs.Conflict, "volume %s exists", o.Ref)
		}
		if _, err := c.CreateVolume(ctx, virt.NewVolume{Pool: o.Ref.Pool, Name: o.Ref.Name, Format: o.Format, Capacity: o.Size}); err != nil {
			return err
		}
		v, err = c.VolumeInfo(ctx, o.Ref.Pool, o.Ref.Name)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "volume create %s", o.Ref)
	}
	return output.Object(o.F.IO.Out, format, v, volumePairs(v))
}
