package vm

import (
	"context"
	"strconv"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolShowOptions of `vm pool show`.
type PoolShowOptions struct {
	F    *cmdutil.Factory
	Name string
}

// NewCmdPoolShow builds `vm pool show`.
func NewCmdPoolShow(f *cmdutil.Factory, runF func(context.Context, *PoolShowOptions) error) *cobra.Command {
	opts := &PoolShowOptions{F: f}
	cmd := &cobra.Command{
		Use:               "show POOL",
		Short:             "Show one storage pool: type, state, source, path and sizes",
		Example:           "  vmctl pool show default\n  vmctl pool show default --jq .available_bytes",
		Args:              cmdutil.ExactArgs(1, "one pool name"),
		ValidArgsFunction: completePools(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := cmdutil.ValidateLookupName("pool", opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolShow(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runPoolShow(ctx context.Context, o *PoolShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var p model.Pool
	err = withConn(ctx, o.F, true, func(c *virt.Conn) error {
		p, err = c.Pool(ctx, o.Name)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "pool show %s", o.Name)
	}
	return output.Object(o.F.IO.Out, format, p, poolPairs(p))
}

// poolPairs is the key/value view of a pool, for show and create.
func poolPairs(p model.Pool) [][2]string {
	volumes := "-"
	if p.Volumes >= 0 {
		volumes = strconv.Itoa(p.Volumes)
	}
	return [][2]string{
		{"name", p.Name}, {"uuid", p.UUID}, {"type", p.Type}, {"state", p.State}, {"autostart", output.YesNo(p.Autostart)},
		{"persistent", output.YesNo(p.Persistent)}, {"path", output.Dash(p.Path)}, {"source", output.Dash(p.Source)},
		{"capacity", poolSize(p, p.CapacityBytes)}, {"allocation", poolSize(p, p.AllocationBytes)},
		{"available", poolSize(p, p.AvailableBytes)}, {"volumes", volumes},
	}
}
