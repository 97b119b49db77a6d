package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolStopOptions of `vm pool stop`.
type PoolStopOptions struct {
	F       *cmdutil.Factory
	Targets []string
	Bulk    cmdutil.BulkFlags
	Force   bool
}

// NewCmdPoolStop builds `vm pool stop`.
func NewCmdPoolStop(f *cmdutil.Factory, runF func(context.Context, *PoolStopOptions) error) *cobra.Command {
	opts := &PoolStopOptions{F: f}
	cmd := &cobra.Command{
		Use:         "stop POOL|PATTERN...",
		Annotations: cmdutil.Journaled("pool", nil),
		Short:       "Stop storage pools (refused while running VMs use them, unless --force)",
		Long: `Deactivate the pools (unmount an export, deactivate a volume group). The data stays. A pool
with disks of running VMs in it is not stopped unless --force (which then asks on a terminal
and needs --yes elsewhere): their disks would vanish under them. --all asks too.` + poolBulkHelp,
		Example:           "  vmctl pool stop scratch\n  vmctl pool stop nas --force --yes",
		ValidArgsFunction: completePools(f, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Bulk.Check(args); err != nil {
				return err
			}
			opts.Targets = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolStop(cmd.Context(), opts)
		},
	}
	opts.Bulk.Destructive = true
	poolBulk(f, cmd, &opts.Bulk)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "stop even while running VMs use it")
	return cmd
}

func runPoolStop(ctx context.Context, o *PoolStopOptions) error {
	var users map[string][]string
	prepare := func(ctx context.Context, c *virt.Conn, targets []string) error {
		var err error
		if users, err = runningPoolUsers(ctx, c, targets); err != nil {
			return err
		}
		q := cmdutil.Question{Verb: "stop", What: "storage pools", Done: "stopped"}
		for _, t := range targets {
			if vms := users[t]; len(vms) > 0 {
				if !o.Force {
					continue // refused for this pool in act
				}
				q.Objects = append(q.Objects, t+" (under running VMs "+strings.Join(vms, ", ")+")")
			} else if o.Bulk.All {
				q.Objects = append(q.Objects, t)
			}
		}
		return cmdutil.Confirm(o.F.IO, o.Bulk.Yes, q)
	}
	return runPoolBulk(ctx, o.F, "stop", o.Targets, o.Bulk, prepare, func(ctx context.Context, c *virt.Conn, name string) (string, error) {
		if vms := users[name]; len(vms) > 0 && !o.Force {
			return "", errs.New(errs.Conflict, "running VMs use pool %s: %s", name, strings.Join(vms, ", ")).
				WithHint("stop them first, or --force (their disks vanish under them)")
		}
		stopped, err := c.StopPool(ctx, name)
		if err != nil || !stopped {
			return "none", err
		}
		return "stopped", nil
	})
}
