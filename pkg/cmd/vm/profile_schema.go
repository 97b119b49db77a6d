package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/spf13/cobra"
)

// ProfileSchemaOptions of `vm profile schema`.
type ProfileSchemaOptions struct{ F *cmdutil.Factory }

// NewCmdProfileSchema builds `vm profile schema`.
func NewCmdProfileSchema(f *cmdutil.Factory, runF func(context.Context, *ProfileSchemaOptions) error) *cobra.Command {
	opts := &ProfileSchemaOptions{F: f}
	cmd := &cobra.Command{
		Use:     "schema",
		Short:   "Print the profile format as a JSON Schema, for editors and linters",
		Example: "  vmctl profile schema > ~/.config/hvctl/profile.schema.json",
		Long: `Print a JSON Schema (draft 2020-12) of the profile format. TOML language servers such as
taplo and Even Better TOML validate as you type with it:  #:schema ./profile.schema.json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runProfileSchema(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runProfileSchema(_ context.Context, o *ProfileSchemaOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if format.Kind == output.Name {
		return output.NoNameError() // the schema has no name; printing it all would feed xargs a document
	}
	format.Pretty = true // a schema is read by people as often as by programs
	return output.WriteJSON(o.F.IO.Out, format, profile.Schema())
}
