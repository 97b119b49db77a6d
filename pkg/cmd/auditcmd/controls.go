package auditcmd

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ControlsOptions of `audit controls`.
type ControlsOptions struct {
	F      *cmdutil.Factory
	Format output.Format
}

// NewCmdControls builds `audit controls`.
func NewCmdControls(f *cmdutil.Factory, runF func(context.Context, *ControlsOptions) error) *cobra.Command {
	opts := &ControlsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "List the controls the audit evaluates",
		Long: `List the controls the audit evaluates, in the catalogue's order. -o wide adds the DISA VMM
SRG requirements each serves and its generic fix; JSON also carries what each looks for
and why it matters, and how it is checked ('audit explain ID' prints one).`,
		Example: "  auditctl controls -o wide\n  auditctl controls --jq '.[] | select(.group == \"daemon\") | .id'",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Format, err = f.Format(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runControls(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runControls(_ context.Context, o *ControlsOptions) error {
	var rows []model.AuditControl
	for _, c := range audit.All() {
		rows = append(rows, controlModel(c))
	}
	return output.List(o.F.IO.Out, o.Format, rows, ControlColumns, func(c model.AuditControl) string { return c.ID })
}

// controlModel is a control as JSON shows it.
func controlModel(c audit.Control) model.AuditControl {
	return model.AuditControl{ID: c.ID, Group: c.Group, Severity: string(c.Severity), Title: c.Title, References: audit.References(c.ID),
		Description: c.Description, HowChecked: c.HowChecked, Remediation: c.Remediation}
}
