package vm

import (
	"context"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/snapshot"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PruneOptions of `vm snapshot prune`.
type PruneOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
	Policy  snapshot.Policy
	DryRun  bool
	Local   bool
	Yes     bool
}

// NewCmdSnapshotPrune builds `vm snapshot prune`.
func NewCmdSnapshotPrune(f *cmdutil.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	opts := &PruneOptions{F: f}
	cmd := &cobra.Command{
		Use:   "prune VM|PATTERN... --keep-last N --keep-daily N …",
		Short: "Delete the snapshots a retention policy does not keep",
		Long: `Delete snapshots the policy does not keep, restic-style: each --keep rule picks its own
set and every snapshot any rule picks survives. --keep-last N keeps the N newest;
--keep-hourly/daily/weekly/monthly N keep the newest snapshot of each of the N most recent
hours, days, ISO weeks or months that have one. Buckets are in UTC unless --local-time.
At least one rule is required. Made for timers: --dry-run shows the decisions first. Nothing
is deleted until every VM's decisions are made. ` + cmdutil.ConfirmHelp,
		Example:           "  vmctl snapshot prune --all --keep-last 3 --keep-daily 7 --keep-weekly 4 --yes",
		ValidArgsFunction: completeVMs(f, true),
		Annotations:       cmdutil.Journaled("vm", map[string]string{cmdutil.AnnTimeout: "30m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			p := opts.Policy
			if p.Last < 0 || p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 {
				return errs.New(errs.Usage, "--keep-* counts cannot be negative")
			}
			if p.Empty() {
				return errs.New(errs.Usage, "prune needs at least one --keep-* rule; it never deletes every snapshot")
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPrune(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Policy.Last, "keep-last", 0, "keep the `N` newest snapshots")
	fl.IntVar(&opts.Policy.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last `N` hours that have one")
	fl.IntVar(&opts.Policy.Daily, "keep-daily", 0, "the same for days")
	fl.IntVar(&opts.Policy.Weekly, "keep-weekly", 0, "the same for ISO weeks")
	fl.IntVar(&opts.Policy.Monthly, "keep-monthly", 0, "the same for months")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "show what would be deleted; delete nothing")
	fl.BoolVar(&opts.Local, "local-time", false, "bucket by local time instead of UTC")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	cmdutil.AddBulkFlags(cmd, &opts.Bulk)
	f.AddOutputFlags(cmd)
	return cmd
}

// PruneColumns is the table view of model.PruneDecision.
var PruneColumns = []output.Column[model.PruneDecision]{
	{Header: "vm", Value: func(d model.PruneDecision) string { return d.VM }},
	{Header: "snapshot", Value: func(d model.PruneDecision) string { return d.Name }},
	{Header: "created", Value: func(d model.PruneDecision) string { return d.Created }},
	{Header: "action", Value: func(d model.PruneDecision) string { return d.Action }},
	{Header: "reasons", Value: func(d model.PruneDecision) string {
		if d.Error != "" {
			return "error: " + d.Error
		}
		return dash(strings.Join(d.Reasons, ", "))
	}},
}

func runPrune(ctx context.Context, o *PruneOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	existing, err := conn.DomainNames(ctx)
	if err == nil {
		existing, err = o.Bulk.Scope(ctx, conn, existing) // --profile, --owner
	}
	if err != nil {
		return err
	}
	targets, unmatched := o.Bulk.Resolve(o.Targets, existing)
	if len(unmatched) > 0 {
		return errs.New(errs.NotFound, "no VM matches %s", strings.Join(unmatched, ", "))
	}
	loc := time.UTC
	if o.Local {
		loc = time.Local
	}
	// Decide for every VM first: the confirmation lists everything that will go, and a VM
	// whose snapshots cannot be read fails before anything is deleted anywhere.
	type pending struct {
		vm  string
		row int // index in out
	}
	out := []model.PruneDecision{}
	var doomed []pending
	failed := 0
	for _, vm := range targets {
		err := onDomain(ctx, conn, vm, func(d *virt.Domain) error {
			snaps, err := d.Snapshots(ctx)
			if err != nil {
				return err
			}
			items := make([]snapshot.Item, len(snaps))
			for i, s := range snaps {
				items[i] = snapshot.Item{Name: s.Name, Created: s.Created}
			}
			for _, dec := range o.Policy.Apply(items, loc) {
				pd := model.PruneDecision{VM: vm, Name: dec.Name, Created: dec.Created.UTC().Format(time.RFC3339), Reasons: dec.Reasons, Action: "kept"}
				if pd.Reasons == nil {
					pd.Reasons = []string{}
				}
				if !dec.Keep {
					pd.Action = "would_delete"
					doomed = append(doomed, pending{vm: vm, row: len(out)})
				}
				out = append(out, pd)
			}
			return nil
		})
		if err != nil {
			out = append(out, model.PruneDecision{VM: vm, Action: "failed", Error: err.Error(), Reasons: []string{}})
			failed++
		}
	}
	if !o.DryRun && len(doomed) > 0 {
		names := make([]string, len(doomed))
		for i, p := range doomed {
			names[i] = p.vm + "/" + out[p.row].Name
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "delete", What: "snapshots", Done: "deleted", Objects: names}); err != nil {
			return err
		}
		for _, p := range doomed {
			pd := &out[p.row]
			err := onDomain(ctx, conn, p.vm, func(d *virt.Domain) error { return d.DeleteSnapshot(ctx, pd.Name) })
			if err != nil {
				pd.Action, pd.Error = "failed", err.Error()
				failed++
			} else {
				pd.Action = "deleted"
			}
		}
	}
	if err := output.List(o.F.IO.Out, format, out, PruneColumns, func(d model.PruneDecision) string { return d.VM + "/" + d.Name }); err != nil {
		return err
	}
	if failed > 0 {
		return errs.New(errs.Partial, "prune: %d failure(s)", failed)
	}
	return nil
}

// onDomain runs fn on the domain name of conn.
func onDomain(ctx context.Context, conn *virt.Conn, name string, fn func(d *virt.Domain) error) error {
	d, err := conn.Domain(ctx, name)
	if err != nil {
		return err
	}
	defer d.Free()
	return fn(d)
}
