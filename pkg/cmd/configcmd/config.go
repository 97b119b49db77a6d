// Package configcmd implements `hvctl config`.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package configcmd

import (
	"context"
	"fmt"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/config"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// NewCmdConfig builds `config` and its subcommands.
func NewCmdConfig(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect hvctl's configuration"}
	cmd.AddCommand(NewCmdShow(f, nil))
	return cmd
}

// ShowOptions of `config show`.
type ShowOptions struct{ F *cmdutil.Factory }

// NewCmdShow builds `config show`.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Long: `Print every setting with its effective value and its source: default, a file, an
HVCTL_* (or LIBVIRT_DEFAULT_URI) environment variable, or a flag. Files are read in this order,
later ones winning: /etc/hvctl/config.toml, $XDG_CONFIG_HOME/hvctl/config.toml (or --config
alone). Unknown keys are errors that name file:line:col.`,
		Example: "  hvctl config show\n  hvctl config show --jq '.[] | select(.source != \"default\") | .key'",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// showColumns is the table view of the settings.
var showColumns = []output.Column[config.Setting]{
	{Header: "key", Value: func(s config.Setting) string { return s.Key }},
	{Header: "value", Value: func(s config.Setting) string { return fmt.Sprint(s.Value) }},
	{Header: "source", Value: func(s config.Setting) string { return s.Source }},
}

func runShow(_ context.Context, o *ShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	l, err := o.F.Config()
	if err != nil {
		return err
	}
	return output.List(o.F.IO.Out, format, l.Settings, showColumns, func(s config.Setting) string { return s.Key })
}
