package vm

import (
	"context"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdSave builds `vm save`: libvirt's managed save, and --discard to drop it.
func NewCmdSave(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	var discard bool
	return newLifecycleCmd(f, verbSpec{
		use:   "save NAME|PATTERN...",
		short: "Save running VMs' memory to disk and stop them; start or restore resumes them",
		long: `Write each running (or paused) VM's memory to its managed save image (libvirt's
managedsave, under /var/lib/libvirt/qemu/save) and stop it. The next 'vmctl start' or
'vmctl restore' resumes the guest where it was, its uptime and processes intact; 'vmctl list'
shows it as saved (its JSON state stays shut_off, with "saved": true). A VM already saved is
left alone (action none); a stopped one without saved state is an error.

--discard removes the saved state instead (action discarded): the next start boots afresh and
what the guest had in memory is lost, so it asks on a terminal and needs --yes elsewhere.`,
		example: "  vmctl save web01\n  vmctl save 'lab-*'          # before a host reboot\n  vmctl save web01 --discard --yes",
		perVM:   5 * time.Minute,
		flags: func(cmd *cobra.Command, o *LifecycleOptions) {
			cmd.Flags().BoolVar(&discard, "discard", false, "remove the saved state instead of saving (the next start boots afresh)")
			cmdutil.AddYesFlag(cmd, &o.Yes)
		},
		prepare: func(ctx context.Context, o *LifecycleOptions, sets []targetSet) error {
			if !discard {
				return nil
			}
			var objects []string
			for _, s := range sets {
				saved, err := s.conn.SavedDomainNames(ctx)
				if err != nil {
					return err
				}
				for _, n := range s.names {
					if saved[n] {
						objects = append(objects, s.label(n))
					}
				}
			}
			return cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "discard", What: "saved state (memory) of VMs", Done: "discarded", Objects: objects})
		},
		act: func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) {
			if discard {
				return d.DiscardSavedState(ctx)
			}
			return d.Save(ctx)
		},
	}, runF)
}
