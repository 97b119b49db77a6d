// Package audit is auditctl: the security audit of a libvirt host and its VMs.
package audit

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdAudit builds the auditctl tree.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "audit",
		Aliases: []string{"auditctl"},
		Short:   "Security audit of the host and its VMs",
		Long: `Audit a libvirt host and its VMs against the project's control catalogue (IDs such as
HOST-010, DAEMON-013, VM-007): the host's kernel and confinement, the QEMU driver's
configuration, every VM definition, the networks and the image stores. Each control
reports pass, fail, error (could not tell: never read as a pass) or skipped (does not
apply, e.g. host files of a remote libvirt host).`,
	}
	cmd.AddCommand(newRun(f), newControls(f))
	return cmd
}

// FindingColumns is the table view of model.Finding.
var FindingColumns = []output.Column[model.Finding]{
	{Header: "severity", Value: func(x model.Finding) string { return x.Severity }},
	{Header: "id", Value: func(x model.Finding) string { return x.ID }},
	{Header: "status", Value: func(x model.Finding) string { return x.Status }},
	{Header: "target", Value: func(x model.Finding) string { return x.Target }},
	{Header: "detail", Value: func(x model.Finding) string {
		if x.Detail == "" {
			return x.Title
		}
		return x.Detail
	}},
	{Header: "group", Wide: true, Value: func(x model.Finding) string { return x.Group }},
	{Header: "title", Wide: true, Value: func(x model.Finding) string { return x.Title }},
	{Header: "srg", Wide: true, Value: func(x model.Finding) string {
		if len(x.References) == 0 {
			return "-"
		}
		return strings.Join(x.References, ",")
	}},
}

type runOptions struct {
	groups []string
	failOn string
	all    bool
	root   string
}

func newRun(f *cmdutil.Factory) *cobra.Command {
	o := runOptions{failOn: "low", root: "/"}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the audit; exit 9 when a control fails at or above --fail-on",
		Long: `Run every control (or those of --group) and print what failed or could not be evaluated,
worst first; --all prints the passes and skips too. JSON has the same rows.

Exit status: 9 when any control failed at or above --fail-on (default low: every real
finding; info findings never fail the run); 6 when none did but some controls could not
be evaluated (an incomplete audit is never reported as a clean one); 0 otherwise.

Run it as root on the host itself: the QEMU processes, /etc/libvirt and the image files
are root's, and graphics passwords are only in the definitions a read-write connection
reads. Against a remote host only the libvirt-side controls run; the rest are skipped.`,
		Example: "  auditctl run\n  auditctl run --group vm,network --fail-on high\n  auditctl run --json --jq '.[] | select(.status == \"fail\") | .id'",
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd.Context(), f, o)
		},
	}
	cmdutil.StringSliceEnumFlag(cmd, &o.groups, "group", "", nil, audit.Groups, "only these groups")
	cmdutil.StringEnumFlag(cmd, &o.failOn, "fail-on", "", o.failOn, audit.Severities, "exit 9 for failures of this severity or worse")
	cmd.Flags().BoolVar(&o.all, "all", false, "print passed and skipped controls too")
	cmd.Flags().StringVar(&o.root, "root", o.root, "host file system root (for auditing a mounted copy, and tests)")
	_ = cmd.Flags().MarkHidden("root")
	f.AddOutputFlags(cmd)
	return cmd
}

func runAudit(ctx context.Context, f *cmdutil.Factory, o runOptions) error {
	if audit.Rank(o.failOn) < 0 {
		return errs.New(errs.Usage, "--fail-on %q: want one of %s", o.failOn, strings.Join(audit.Severities, ", "))
	}
	for _, g := range o.groups {
		if !contains(audit.Groups, g) {
			return errs.New(errs.Usage, "--group %q: want some of %s", g, strings.Join(audit.Groups, ", "))
		}
	}
	format, err := f.Format()
	if err != nil {
		return err
	}
	uri, err := f.URI()
	if err != nil {
		return err
	}
	// Read-write for the secure XML (graphics passwords); read-only when that is all we get.
	secure := true
	conn, err := f.Connect(ctx, false)
	if err != nil {
		if errs.KindOf(err) == errs.Unreachable || errs.KindOf(err) == errs.Timeout {
			return err
		}
		secure = false
		if conn, err = f.Connect(ctx, true); err != nil {
			return err
		}
	}
	defer conn.Close()
	data, err := conn.Inventory(ctx, secure)
	if err != nil {
		return errs.Wrap(err, "audit")
	}
	inv := &audit.Inventory{Root: o.root, Networks: data.Networks, Pools: data.Pools, Caps: data.Caps, Filters: data.Filters,
		Secrets: data.Secrets, Versions: data.Versions, NetworkActive: data.NetworkActive,
		NetworksErr: data.NetworksErr, PoolsErr: data.PoolsErr, FiltersErr: data.FiltersErr, SecretsErr: data.SecretsErr,
		Local: o.root != "/" || !virt.IsRemote(uri) && !strings.HasPrefix(uri, "test:")}
	for _, d := range data.Domains {
		inv.Domains = append(inv.Domains, audit.Domain{Name: d.Name, UUID: d.UUID, Def: d.Def, Live: d.Live, Autostart: d.Autostart, Secure: d.Secure, Err: d.Err})
	}
	if inv.Local {
		inv.LoadHost(ctx)
	}
	found := audit.Run(inv, audit.All(), o.groups)
	rows := []model.Finding{}
	failed, incomplete := 0, 0
	for _, x := range found {
		switch {
		case x.Status == "fail" && audit.Rank(x.Severity) >= audit.Rank(o.failOn) && x.Severity != "info":
			failed++
		case x.Status == "error":
			incomplete++
		}
		if o.all || x.Status == "fail" || x.Status == "error" {
			rows = append(rows, x)
		}
	}
	if err := output.List(f.IO.Out, format, rows, FindingColumns, func(x model.Finding) string { return x.ID + " " + x.Target }); err != nil {
		return err
	}
	switch {
	case failed > 0:
		return errs.New(errs.Findings, "%d finding(s) at or above %s", failed, o.failOn)
	case incomplete > 0:
		return errs.New(errs.Partial, "audit incomplete: %d control result(s) could not be evaluated", incomplete).
			WithHint("run it as root on the host itself")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type controlRow struct {
	ID       string `json:"id"`
	Group    string `json:"group"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
}

func newControls(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controls",
		Short: "List the controls the audit evaluates",
		Args:  cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			format, err := f.Format()
			if err != nil {
				return err
			}
			var rows []controlRow
			for _, c := range audit.All() {
				rows = append(rows, controlRow{c.ID, c.Group, string(c.Severity), c.Title})
			}
			return output.List(f.IO.Out, format, rows, []output.Column[controlRow]{
				{Header: "id", Value: func(r controlRow) string { return r.ID }},
				{Header: "group", Value: func(r controlRow) string { return r.Group }},
				{Header: "severity", Value: func(r controlRow) string { return r.Severity }},
				{Header: "title", Value: func(r controlRow) string { return r.Title }},
			}, func(r controlRow) string { return r.ID })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}
