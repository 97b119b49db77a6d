package vm

import (
	"context"
	"strconv"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolListOptions of `vm pool list`.
type PoolListOptions struct {
	F        *cmdutil.Factory
	Patterns []string
}

// NewCmdPoolList builds `vm pool list`.
func NewCmdPoolList(f *cmdutil.Factory, runF func(context.Context, *PoolListOptions) error) *cobra.Command {
	opts := &PoolListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list [PATTERN...]",
		Aliases: []string{"ls"},
		Short:   "List storage pools with type, state, size and path",
		Long: `List every storage pool, active or not: type, state, autostart, capacity, free space, the
number of volumes and the path it serves. Sizes and volumes are known only while a pool is
active. Patterns are shell-style globs on the name.`,
		Example: `  vmctl pool list
  vmctl pool list -o wide
  vmctl pool list --jq '.[] | select(.active | not) | .name'`,
		ValidArgsFunction: completePools(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Patterns = args
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// PoolColumns is the table view of model.Pool.
var PoolColumns = []output.Column[model.Pool]{
	{Header: "name", Value: func(p model.Pool) string { return p.Name }},
	{Header: "type", Value: func(p model.Pool) string { return p.Type }},
	{Header: "state", Value: func(p model.Pool) string { return p.State }},
	{Header: "autostart", Value: func(p model.Pool) string { return output.YesNo(p.Autostart) }},
	{Header: "capacity", Value: func(p model.Pool) string { return poolSize(p, p.CapacityBytes) }},
	{Header: "available", Value: func(p model.Pool) string { return poolSize(p, p.AvailableBytes) }},
	{Header: "volumes", Value: func(p model.Pool) string {
		if p.Volumes < 0 {
			return "-"
		}
		return strconv.Itoa(p.Volumes)
	}},
	{Header: "path", Value: func(p model.Pool) string { return output.Dash(p.Path) }},
	{Header: "allocation", Wide: true, Value: func(p model.Pool) string { return poolSize(p, p.AllocationBytes) }},
	{Header: "source", Wide: true, Value: func(p model.Pool) string { return output.Dash(p.Source) }},
	{Header: "persistent", Wide: true, Value: func(p model.Pool) string { return output.YesNo(p.Persistent) }},
	{Header: "uuid", Wide: true, Value: func(p model.Pool) string { return p.UUID }},
}

func poolSize(p model.Pool, n uint64) string {
	if !p.Active {
		return "-"
	}
	return units.Human(n)
}

func runPoolList(ctx context.Context, o *PoolListOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var all []model.Pool
	err = withConn(ctx, o.F, true, func(c *virt.Conn) error {
		all, err = c.Pools(ctx)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "pool list")
	}
	pools := make([]model.Pool, 0, len(all))
	names := make([]string, 0, len(all))
	for _, p := range all {
		names = append(names, p.Name)
		if cmdutil.MatchAny(o.Patterns, p.Name) {
			pools = append(pools, p)
		}
	}
	if err := output.List(o.F.IO.Out, format, pools, PoolColumns, func(p model.Pool) string { return p.Name }); err != nil {
		return err
	}
	return cmdutil.MissingNames("pool", o.Patterns, names)
}
