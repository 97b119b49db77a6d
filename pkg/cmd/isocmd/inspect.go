package isocmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// InspectOptions of `isoctl inspect`.
type InspectOptions struct {
	F      *cmdutil.Factory
	Target string // a file, else a stored image's name
}

// NewCmdInspect builds `isoctl inspect`.
func NewCmdInspect(f *cmdutil.Factory, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{F: f}
	cmd := &cobra.Command{
		Use:     "inspect FILE|NAME",
		Short:   "Tell what an image is: format, volume id, bootable or not, size, likely OS",
		Example: "  isoctl inspect ~/Downloads/alpine-virt-3.20.iso\n  isoctl inspect debian-12-netinst.iso --json",
		Args:    cmdutil.ExactArgs(1, "a file or a stored image"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			names, _ := completeImages(f)(cmd, args, toComplete)
			return names, cobra.ShellCompDirectiveDefault // files too
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInspect(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runInspect(ctx context.Context, o *InspectOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	path := o.Target
	if _, err := os.Stat(path); err != nil {
		s, r, ferr := find(ctx, o.F, o.Target)
		if ferr != nil {
			return &errs.Error{Kind: errs.NotFound, Msg: fmt.Sprintf("inspect: %s is neither a file nor a stored image", o.Target), Err: ferr}
		}
		path = filepath.Join(s.dir, r.Name)
	}
	in, err := iso.Inspect(path)
	if err != nil {
		return &errs.Error{Kind: errs.Failure, Msg: "inspect: " + err.Error(), Err: err}
	}
	return output.Object(o.F.IO.Out, format, in, [][2]string{
		{"file", in.File}, {"format", in.Format}, {"size", units.Human(uint64(in.SizeBytes))},
		{"volume id", output.Dash(in.VolumeID)}, {"bootable", fmt.Sprint(in.Bootable)}, {"hybrid", fmt.Sprint(in.Hybrid)}, {"os", output.Dash(in.OS)},
	})
}
