package app

import (
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// refuseEmptyFlagValues makes every command refuse a flag given an empty value (`--since ""`,
// `-c ""`, `--jq ""`, `--pool ""`): the commands read "" as "not given", so a script whose
// variable was unset silently got the default (all of the history, the local libvirt, the
// table instead of the jq filter). The check runs before the command's own argument check, so
// it names the flag whatever else is wrong. A flag whose empty value means what leaving it out
// means carries cmdutil.AnnEmptyOK.
func refuseEmptyFlagValues(c *cobra.Command) {
	if c.Runnable() {
		own := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := emptyFlagValue(cmd); err != nil {
				return err
			}
			if own == nil {
				return nil // cobra's default for a subcommand: any arguments
			}
			return own(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		refuseEmptyFlagValues(sub)
	}
}

// emptyFlagValue is the usage error for the first flag of cmd's command line that was given
// an empty value: a string flag, or a list flag given an empty element.
func emptyFlagValue(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(fl *pflag.Flag) { // the flags on the command line, in name order
		if err != nil {
			return
		}
		if _, ok := fl.Annotations[cmdutil.AnnEmptyOK]; ok {
			return
		}
		var empty bool
		if list, ok := fl.Value.(pflag.SliceValue); ok {
			empty = len(list.GetSlice()) == 0 || slices.Contains(list.GetSlice(), "")
		} else {
			empty = fl.Value.Type() == "string" && fl.Value.String() == ""
		}
		if empty {
			err = errs.New(errs.Usage, "--%s: empty value: give one, or leave the flag out for its default", fl.Name)
		}
	})
	return err
}
