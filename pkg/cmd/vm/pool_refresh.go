package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolRefreshOptions of `vm pool refresh`.
type PoolRefreshOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
}

// NewCmdPoolRefresh builds `vm pool refresh`.
func NewCmdPoolRefresh(f *cmdutil.Factory, runF func(context.Context, *PoolRefreshOptions) error) *cobra.Command {
	opts := &PoolRefreshOptions{F: f}
	cmd := &cobra.Command{
		Use:               "refresh POOL|PATTERN...",
		Short:             "Rescan storage pools for volumes made outside libvirt",
		Long:              "Rescan the active pools, so that files copied into a directory pool show as volumes (with their formats and sizes)." + poolBulkHelp,
		Example:           "  cp debian.qcow2 /var/lib/libvirt/images/vms/ && vmctl pool refresh vms",
		ValidArgsFunction: completePools(f, true),
		Annotations:       cmdutil.Journaled("pool", nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolRefresh(cmd.Context(), opts)
		},
	}
	poolBulk(f, cmd, &opts.Bulk)
	return cmd
}

func runPoolRefresh(ctx context.Context, o *PoolRefreshOptions) error {
	return runPoolBulk(ctx, o.F, "refresh", o.Targets, o.Bulk, nil, func(ctx context.Context, c *virt.Conn, name string) (string, error) {
		return "refreshed", c.RefreshPool(ctx, name)
	})
}
