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
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdSnapshot builds `vm snapshot` and its subcommands.
func NewCmdSnapshot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "snapshot",
		Aliases: []string{"snap"},
		Short:   "Take, list, revert, delete and prune VM snapshots",
		Long: `Internal snapshots: the disks' state and, for a running VM, its memory, kept inside the
qcow2 disks. What libvirt 9 cannot do safely is refused (exit 4) before anything happens:
internal snapshots of UEFI (pflash) VMs, reverting or deleting external snapshots, and
mixing internal and external snapshots in one chain.`,
	}
	cmd.AddCommand(newSnapshotCreate(f), newSnapshotList(f), newSnapshotRevert(f), newSnapshotDelete(f), NewCmdSnapshotPrune(f, nil))
	return cmd
}

func toModel(vm string, s virt.Snapshot, depth int) model.Snapshot {
	kind := "internal"
	if s.External {
		kind = "external"
	}
	created := ""
	if !s.Created.IsZero() {
		created = s.Created.UTC().Format(time.RFC3339)
	}
	return model.Snapshot{VM: vm, Name: s.Name, Parent: s.Parent, Created: created, State: s.State, Current: s.Current,
		Memory: s.Memory, Kind: kind, Description: s.Description, Depth: depth, StateBytes: s.StateBytes}
}

func newSnapshotCreate(f *cmdutil.Factory) *cobra.Command {
	var description string
	cmd := &cobra.Command{
		Use:               "create VM [NAME]",
		Short:             "Take a snapshot (with memory if the VM runs)",
		Long:              "Take an internal snapshot. NAME defaults to the time, e.g. 20261126-143000 (UTC).",
		Example:           "  vmctl snapshot create web01 before-upgrade --description 'nginx 1.24'",
		Args:              cmdutil.RangeArgs(1, 2, "a VM and an optional snapshot name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "10m"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := f.Now().UTC().Format("20060102-150405")
			if len(args) == 2 {
				name = args[1]
			}
			if err := cmdutil.ValidateName("snapshot", name); err != nil {
				return err
			}
			format, err := f.Format()
			if err != nil {
				return err
			}
			var snap virt.Snapshot
			err = withDomain(ctx, f, args[0], false, func(d *virt.Domain) error {
				snap, err = d.CreateSnapshot(ctx, name, description)
				return err
			})
			if err != nil {
				return errs.Wrap(err, "snapshot create %s", args[0])
			}
			m := toModel(args[0], snap, 0)
			return output.Object(f.IO.Out, format, m, [][2]string{{"vm", m.VM}, {"snapshot", m.Name}, {"created", m.Created}, {"memory", yesNo(m.Memory)}})
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "what the snapshot is for")
	f.AddOutputFlags(cmd)
	return cmd
}

// SnapshotColumns is the table view of model.Snapshot; the name is indented by its depth so
// the table reads as the tree.
var SnapshotColumns = []output.Column[model.Snapshot]{
	{Header: "name", Value: func(s model.Snapshot) string {
		if s.Depth == 0 {
			return s.Name
		}
		return strings.Repeat("  ", s.Depth-1) + "└─ " + s.Name
	}},
	{Header: "created", Value: func(s model.Snapshot) string { return dash(s.Created) }},
	{Header: "state", Value: func(s model.Snapshot) string { return s.State }},
	{Header: "memory", Value: func(s model.Snapshot) string { return yesNo(s.Memory) }},
	{Header: "state-size", Value: func(s model.Snapshot) string {
		if s.StateBytes == nil {
			return "-"
		}
		return units.Human(*s.StateBytes)
	}},
	{Header: "current", Value: func(s model.Snapshot) string {
		if s.Current {
			return "*"
		}
		return ""
	}},
	{Header: "kind", Wide: true, Value: func(s model.Snapshot) string { return s.Kind }},
	{Header: "description", Wide: true, Value: func(s model.Snapshot) string { return s.Description }},
}

// tree orders snapshots depth-first from each root, oldest child first.
func tree(vm string, snaps []virt.Snapshot) []model.Snapshot {
	children := map[string][]virt.Snapshot{}
	known := map[string]bool{}
	for _, s := range snaps {
		known[s.Name] = true
	}
	for _, s := range snaps {
		parent := s.Parent
		if !known[parent] {
			parent = ""
		}
		children[parent] = append(children[parent], s)
	}
	var out []model.Snapshot
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range children[parent] {
			out = append(out, toModel(vm, s, depth))
			walk(s.Name, depth+1)
		}
	}
	walk("", 0)
	return out
}

func newSnapshotList(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "list VM",
		Aliases:           []string{"ls"},
		Short:             "List a VM's snapshots as a tree",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			format, err := f.Format()
			if err != nil {
				return err
			}
			var snaps []virt.Snapshot
			err = withDomain(ctx, f, args[0], true, func(d *virt.Domain) error {
				snaps, err = d.Snapshots(ctx)
				return err
			})
			if err != nil {
				return errs.Wrap(err, "snapshot list %s", args[0])
			}
			return output.List(f.IO.Out, format, tree(args[0], snaps), SnapshotColumns, func(s model.Snapshot) string { return s.Name })
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func newSnapshotRevert(f *cmdutil.Factory) *cobra.Command {
	var running, paused bool
	cmd := &cobra.Command{
		Use:               "revert VM NAME",
		Short:             "Return a VM to a snapshot (its disks, and memory if it has any)",
		Args:              cmdutil.ExactArgs(2, "a VM and a snapshot name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "10m"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if running && paused {
				return errs.New(errs.Usage, "--running and --paused contradict each other")
			}
			state := ""
			if running {
				state = "running"
			} else if paused {
				state = "paused"
			}
			ctx := cmd.Context()
			err := withDomain(ctx, f, args[0], false, func(d *virt.Domain) error { return d.RevertSnapshot(ctx, args[1], state) })
			if err != nil {
				return errs.Wrap(err, "snapshot revert %s", args[0])
			}
			f.Infof("%s: %s reverted to %s", f.Prog, args[0], args[1])
			return nil
		},
	}
	cmd.Flags().BoolVar(&running, "running", false, "leave the VM running afterwards, whatever the snapshot's state")
	cmd.Flags().BoolVar(&paused, "paused", false, "leave the VM paused afterwards")
	return cmd
}

func newSnapshotDelete(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "delete VM NAME...",
		Aliases:           []string{"rm"},
		Short:             "Delete snapshots and their data",
		Args:              cmdutil.MinimumArgs(2, "a VM and snapshot names"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "10m"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			format, err := f.Format()
			if err != nil {
				return err
			}
			var results []model.Result
			var failures []error
			err = withDomain(ctx, f, args[0], false, func(d *virt.Domain) error {
				results, failures = cmdutil.RunBulk(ctx, args[1:], 1, func(ctx context.Context, name string) (string, error) {
					return "deleted", d.DeleteSnapshot(ctx, name)
				})
				return nil
			})
			if err != nil {
				return errs.Wrap(err, "snapshot delete %s", args[0])
			}
			if err := output.List(f.IO.Out, format, results, cmdutil.ResultColumns, func(r model.Result) string { return r.Name }); err != nil {
				return err
			}
			return cmdutil.BulkResultError("snapshot delete", results, failures)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// PruneOptions of `vm snapshot prune`.
type PruneOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
	Policy  snapshot.Policy
	DryRun  bool
	Local   bool
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
At least one rule is required. Made for timers: --dry-run shows the decisions first.`,
		Example:           "  vmctl snapshot prune --all --keep-last 3 --keep-daily 7 --keep-weekly 4",
		ValidArgsFunction: completeVMs(f, true),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "30m"},
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
	out := []model.PruneDecision{}
	failed := 0
	for _, vm := range targets {
		err := func() error {
			d, err := conn.Domain(ctx, vm)
			if err != nil {
				return err
			}
			defer d.Free()
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
					if !o.DryRun {
						pd.Action = "deleted"
						if err := d.DeleteSnapshot(ctx, dec.Name); err != nil {
							pd.Action, pd.Error = "failed", err.Error()
							failed++
						}
					}
				}
				out = append(out, pd)
			}
			return nil
		}()
		if err != nil {
			out = append(out, model.PruneDecision{VM: vm, Action: "failed", Error: err.Error(), Reasons: []string{}})
			failed++
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
