package vm

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdSnapshot builds `vm snapshot` and its subcommands, one file each.
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
	cmd.AddCommand(NewCmdSnapshotCreate(f, nil), NewCmdSnapshotList(f, nil), NewCmdSnapshotRevert(f, nil),
		NewCmdSnapshotDelete(f, nil), NewCmdSnapshotPrune(f, nil))
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

// snapshotColumns is the table view of model.Snapshot, the same on a terminal and in a pipe:
// NAME holds only names (for awk and cut) and PARENT the tree; -o wide adds TREE, the names
// indented by depth, beside them.
func snapshotColumns() []output.Column[model.Snapshot] {
	return []output.Column[model.Snapshot]{
		{Header: "name", Value: func(s model.Snapshot) string { return s.Name }},
		{Header: "tree", Wide: true, Value: func(s model.Snapshot) string {
			if s.Depth == 0 {
				return s.Name
			}
			return strings.Repeat("  ", s.Depth-1) + "└─ " + s.Name
		}},
		{Header: "parent", Value: func(s model.Snapshot) string { return dash(s.Parent) }},
		{Header: "created", Value: func(s model.Snapshot) string { return dash(s.Created) }},
		{Header: "state", Value: func(s model.Snapshot) string { return s.State }},
		{Header: "memory", Value: func(s model.Snapshot) string { return yesNo(s.Memory) }},
		{Header: "state-size", Value: func(s model.Snapshot) string {
			if s.StateBytes == nil {
				return "-"
			}
			return units.Human(*s.StateBytes)
		}},
		// yes/no as MEMORY, and a dash for no description: an empty cell shifts awk's columns.
		{Header: "current", Value: func(s model.Snapshot) string { return yesNo(s.Current) }},
		{Header: "kind", Wide: true, Value: func(s model.Snapshot) string { return s.Kind }},
		{Header: "description", Wide: true, Value: func(s model.Snapshot) string { return dash(s.Description) }},
	}
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

// requireSnapshots fails with "not found" (exit 3) for the first of names d has no snapshot of,
// so that destructive verbs ask about what exists rather than about what was typed.
func requireSnapshots(ctx context.Context, d *virt.Domain, names ...string) error {
	have, err := d.Snapshots(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !slices.ContainsFunc(have, func(s virt.Snapshot) bool { return s.Name == n }) {
			return errs.New(errs.NotFound, "snapshot %s of %s not found", n, d.Name).WithHint("list them with: vmctl snapshot list %s", d.Name)
		}
	}
	return nil
}
