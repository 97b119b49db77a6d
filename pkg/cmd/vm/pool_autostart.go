package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolAutostartOptions of `vm pool autostart`.
type PoolAutostartOptions struct {
	F       *cmdutil.Factory
	On      bool
	Targets []string
	Bulk    cmdutil.BulkFlags
}

// NewCmdPoolAutostart builds `vm pool autostart on|off`.
func NewCmdPoolAutostart(f *cmdutil.Factory, runF func(context.Context, *PoolAutostartOptions) error) *cobra.Command {
	opts := &PoolAutostartOptions{F: f}
	cmd := &cobra.Command{
		Use:         "autostart on|off POOL|PATTERN...",
		Annotations: cmdutil.Journaled("pool", nil),
		Short:       "Set whether storage pools start with the daemon",
		Long:        "Set or clear the pools' autostart flag: libvirtd starts such pools when it starts." + poolBulkHelp,
		Example:     "  vmctl pool autostart on vms\n  vmctl pool autostart off 'scratch-*'",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"on", "off"}, cobra.ShellCompDirectiveNoFileComp
			}
			return completePools(f, true)(cmd, args[1:], s)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || (args[0] != "on" && args[0] != "off") {
				return errs.New(errs.Usage, "pool autostart takes on or off first, then pools").WithHint("e.g. vmctl pool autostart on vms")
			}
			opts.On = args[0] == "on"
			if err := opts.Bulk.Check(args[1:]); err != nil {
				return err
			}
			opts.Targets = args[1:]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolAutostart(cmd.Context(), opts)
		},
	}
	poolBulk(f, cmd, &opts.Bulk)
	return cmd
}

func runPoolAutostart(ctx context.Context, o *PoolAutostartOptions) error {
	return runPoolBulk(ctx, o.F, "autostart", o.Targets, o.Bulk, nil, func(ctx context.Context, c *virt.Conn, name string) (string, error) {
		return c.SetPoolAutostart(ctx, name, o.On)
	})
}
