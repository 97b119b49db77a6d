package vm

import (
	"context"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdRestore builds `vm restore`: start from the managed save image, never a fresh boot.
func NewCmdRestore(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	var paused bool
	return newLifecycleCmd(f, verbSpec{
		use:   "restore NAME|PATTERN...",
		short: "Resume saved VMs from their saved memory (vmctl save)",
		long: `Start each VM from its managed save image: the guest resumes where 'vmctl save' left it.
Unlike start, restore refuses (exit 4) a VM without saved state rather than boot it afresh;
a running VM is left alone (action none). --paused leaves the restored guest paused.`,
		example: "  vmctl restore web01\n  vmctl list --state saved -o name -0 | xargs -0r vmctl restore",
		perVM:   2 * time.Minute,
		flags: func(cmd *cobra.Command, _ *LifecycleOptions) {
			cmd.Flags().BoolVar(&paused, "paused", false, "leave the restored guest paused")
		},
		act: func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) {
			return d.Restore(ctx, paused)
		},
	}, runF)
}
