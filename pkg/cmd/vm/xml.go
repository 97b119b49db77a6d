package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// XMLOptions of `vm xml`.
type XMLOptions struct {
	F        *cmdutil.Factory
	Name     string
	Inactive bool
}

// NewCmdXML builds `vm xml`.
func NewCmdXML(f *cmdutil.Factory, runF func(context.Context, *XMLOptions) error) *cobra.Command {
	opts := &XMLOptions{F: f}
	cmd := &cobra.Command{
		Use:   "xml NAME",
		Short: "Print the libvirt domain XML of a VM",
		Long: "Print the domain XML as libvirt has it: the live definition of a running VM, or with\n" +
			"--inactive the persistent one that the next boot will use. On a terminal, control characters\n" +
			"other than newline and tab are shown escaped; in a pipe the XML is printed as it is.",
		Example:           "  vmctl xml web01 > web01.xml\n  vmctl xml web01 --inactive | xmllint --xpath '//disk/source' -",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runXML(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Inactive, "inactive", false, "the persistent definition instead of the live one")
	return cmd
}

func runXML(ctx context.Context, o *XMLOptions) error {
	err := withDomain(ctx, o.F, o.Name, true, func(d *virt.Domain) error {
		x, err := d.XML(ctx, o.Inactive)
		if err != nil {
			return err
		}
		return output.WriteText(o.F.IO.Out, o.F.IO.IsStdoutTTY(), x)
	})
	return errs.Wrap(err, "xml %s", o.Name)
}
