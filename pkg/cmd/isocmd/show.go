package isocmd

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ShowOptions of `isoctl show`.
type ShowOptions struct {
	F    *cmdutil.Factory
	Name string // a file name, or a catalogue entry's (its newest image)
}

// NewCmdShow builds `isoctl show`.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show NAME",
		Short:             "Show an image's provenance record, where it is and which VMs use it",
		Example:           "  isoctl show debian-12-netinst.iso\n  isoctl show debian-12-netinst.iso --jq .used_by",
		Args:              cmdutil.ExactArgs(1, "one image name"),
		ValidArgsFunction: completeImages(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runShow(ctx context.Context, o *ShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	s, r, err := find(ctx, o.F, o.Name)
	if err != nil {
		return err
	}
	im := describe(ctx, o.F, s, r)
	return output.Object(o.F.IO.Out, format, im, imagePairs(im))
}
