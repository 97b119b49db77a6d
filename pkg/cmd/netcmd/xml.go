package netcmd

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// XMLOptions of `net xml`.
type XMLOptions struct {
	F        *cmdutil.Factory
	Name     string
	Inactive bool
}

// NewCmdXML builds `net xml`.
func NewCmdXML(f *cmdutil.Factory, runF func(context.Context, *XMLOptions) error) *cobra.Command {
	opts := &XMLOptions{F: f}
	cmd := &cobra.Command{
		Use:               "xml NAME",
		Short:             "Print a network's libvirt XML",
		Example:           "  netctl xml lab\n  netctl xml lab --inactive",
		Args:              cmdutil.ExactArgs(1, "one network"),
		ValidArgsFunction: completeNetworks(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runXML(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Inactive, "inactive", false, "the persistent definition, not the running one")
	return cmd
}

func runXML(ctx context.Context, o *XMLOptions) error {
	conn, err := o.F.Connect(ctx, true)
	if err != nil {
		return err
	}
	defer conn.Close()
	x, err := conn.NetworkXML(ctx, o.Name, o.Inactive)
	if err != nil {
		return errs.Wrap(err, "xml %s", o.Name)
	}
	return output.WriteText(o.F.IO.Out, o.F.IO.IsStdoutTTY(), strings.TrimRight(x, "\n")+"\n")
}
