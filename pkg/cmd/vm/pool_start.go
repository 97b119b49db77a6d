package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolStartOptions of `vm pool start`.
type PoolStartOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
}

// NewCmdPoolStart builds `vm pool start`.
func NewCmdPoolStart(f *cmdutil.Factory, runF func(context.Context, *PoolStartOptions) error) *cobra.Command {
	opts := &PoolStartOptions{F: f}
	cmd := &cobra.Command{
		Use:               "start POOL|PATTERN...",
		Annotations:       cmdutil.Journaled("pool", nil),
		Short:             "Start storage pools",
		Long:              "Activate the pools (mount an export, find a volume group); an active one is left as it is (action none)." + poolBulkHelp,
		Example:           "  vmctl pool start vms\n  vmctl pool start --all",
		ValidArgsFunction: completePools(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolStart(cmd.Context(), opts)
		},
	}
	poolBulk(f, cmd, &opts.Bulk)
	return cmd
}

func runPoolStart(ctx context.Context, o *PoolStartOptions) error {
	return runPoolBulk(ctx, o.F, "start", o.Targets, o.Bulk, nil, func(ctx context.Context, c *virt.Conn, name string) (string, error) {
		started, err := c.StartPool(ctx, name)
		if err != nil || !started {
			return "none", err
		}
		return "started", nil
	})
}
