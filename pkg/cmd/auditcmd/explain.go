package auditcmd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/auditreport"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ExplainOptions of `audit explain`.
type ExplainOptions struct {
	F      *cmdutil.Factory
	ID     string
	Format output.Format
}

// NewCmdExplain builds `audit explain ID`.
func NewCmdExplain(f *cmdutil.Factory, runF func(context.Context, *ExplainOptions) error) *cobra.Command {
	opts := &ExplainOptions{F: f}
	cmd := &cobra.Command{
		Use:   "explain ID",
		Short: "Say what a control checks, why it matters and how to fix a failure",
		Long: `Print one control of the catalogue: its title, group, severity and the DISA VMM SRG
requirements it serves, what it looks for and why that matters, how the audit checks it,
and how to fix a failure. IDs are matched without regard to case; an unknown ID exits 3
with the closest one.`,
		Example: "  auditctl explain VM-007\n  auditctl explain daemon-013 --json",
		Args:    cmdutil.ExactArgs(1, "one control ID"),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return controlIDs(audit.All()), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.ToUpper(strings.TrimSpace(args[0]))
			var err error
			if opts.Format, err = f.Format(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExplain(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runExplain(_ context.Context, o *ExplainOptions) error {
	all := audit.All()
	for _, c := range all {
		if c.ID != o.ID {
			continue
		}
		m := controlModel(c)
		switch {
		case o.Format.IsJSON():
			return output.WriteJSON(o.F.IO.Out, o.Format, m)
		case o.Format.Kind == output.Name:
			return output.List(o.F.IO.Out, o.Format, []model.AuditControl{m}, ControlColumns, func(c model.AuditControl) string { return c.ID })
		}
		_, err := fmt.Fprint(o.F.IO.Out, explainText(m))
		return err
	}
	e := errs.New(errs.NotFound, "no control %q", output.Escape(o.ID))
	if g := strings.ToLower(o.ID); slices.Contains(audit.Groups, g) {
		return e.WithHint("%s is a group: explain takes one control ID; 'hvctl audit controls' lists the group's controls", g)
	}
	if s := auditreport.Suggest(o.ID, controlIDs(all)); s != "" {
		return e.WithHint("did you mean %s? 'hvctl audit controls' lists them all", s)
	}
	return e.WithHint("'hvctl audit controls' lists them all")
}

// explainText is a control for people: a heading line, then one paragraph per question.
func explainText(c model.AuditControl) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", c.ID, c.Title)
	fmt.Fprintf(&b, "group %s, severity %s", c.Group, c.Severity)
	if len(c.References) > 0 {
		fmt.Fprintf(&b, ", DISA VMM SRG %s", strings.Join(c.References, ", "))
	}
	b.WriteString("\n")
	for _, p := range [][2]string{{"Why it matters", c.Description}, {"How it is checked", c.HowChecked}, {"How to fix", c.Remediation}} {
		text := p[1]
		if text == "" {
			text = "(not written yet)"
		}
		fmt.Fprintf(&b, "\n%s:\n%s\n", p[0], wrap(output.Escape(text), 80, "  "))
	}
	return b.String()
}

// wrap folds text into lines of at most width columns (a longer word stays whole), each
// starting with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}
