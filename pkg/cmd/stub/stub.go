// Package stub provides the command trees whose work has not landed yet, so dispatch, help and
// completion already work for them.
package stub

import (
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/spf13/cobra"
)

// NewCmdTree returns a tree that answers every invocation with "not yet implemented" (exit 1).
func NewCmdTree(f *cmdutil.Factory, name, link, short string) *cobra.Command {
	return &cobra.Command{
		Use:     name,
		Aliases: []string{link},
		Short:   short + " (not yet implemented)",
		Long:    short + ". This tree is not implemented yet; it is reserved so scripts and links can rely on its name.",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errs.New(errs.Failure, "%s is not yet implemented", cmd.CommandPath())
		},
	}
}
