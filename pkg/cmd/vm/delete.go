package vm

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// NewCmdDelete builds `vm delete`.
func NewCmdDelete(f *cmdutil.Factory, runF func(context.Context, *LifecycleOptions) error) *cobra.Command {
	cmd := newLifecycleCmd(f, verbSpec{
		use:   "delete NAME|PATTERN...",
		short: "Delete VMs: their definition, NVRAM and snapshot metadata; disks only when asked",
		long: `Remove the VMs' definitions together with their NVRAM, managed-save image and snapshot and
checkpoint metadata. Disks stay unless --remove-storage is given (with the files below them
that the VM's external snapshots name: the disk it wrote until each), and even then install
media (but not the VM's own cloud-init seed), read-only and shareable disks, files in the
image and ISO stores, volumes another VM
uses or that back another volume, and files outside libvirt storage pools are kept (and
reported). A disk whose pool is inactive or gone cannot be resolved: the VM is then not
deleted at all (exit 4), so no volume is left behind unseen. Under --json each result
lists the volumes removed and those kept, with why. A running VM is refused unless --force
powers it off first.

On a terminal the command asks for confirmation; elsewhere it needs --yes.`,
		example: `  vmctl delete web01
  vmctl delete 'test-*' --yes --force --remove-storage`,
		perVM:   60 * time.Second,
		act:     deleteOne,
		prepare: confirmDelete,
		flags: func(cmd *cobra.Command, o *LifecycleOptions) {
			cmdutil.AddYesFlag(cmd, &o.Yes)
			cmd.Flags().BoolVar(&o.Force, "force", false, "power running VMs off before deleting them")
			cmd.Flags().BoolVar(&o.Storage, "remove-storage", false, "also delete the VMs' own disk volumes")
		},
	}, runF)
	cmd.Aliases = []string{"rm", "undefine"}
	return cmd
}

// confirmDelete asks about the VMs that will go: a name that does not exist, or a running VM
// without --force, is refused per target anyway, so asking first would make the user confirm
// a delete that then does not happen (and, off a terminal, turn its "not found" into exit 2).
func confirmDelete(ctx context.Context, o *LifecycleOptions, sets []targetSet) error {
	var targets []string
	for _, s := range sets {
		for _, n := range s.names {
			d, err := s.conn.Domain(ctx, n)
			if errs.KindOf(err) == errs.NotFound {
				continue
			}
			if err == nil {
				state, _, serr := d.State(ctx)
				d.Free()
				if serr == nil && state != virt.StateShutOff && !o.Force {
					continue
				}
			}
			targets = append(targets, s.label(n))
		}
	}
	what := "VM definitions"
	if o.Storage {
		what = "VM definitions and their own disk volumes"
	}
	return cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "delete", What: what, Done: "deleted", Objects: targets})
}

func deleteOne(ctx context.Context, d *virt.Domain, o *LifecycleOptions) (string, error) {
	var plan virt.StoragePlan
	if o.Storage {
		cfg, err := o.F.Config()
		if err != nil {
			return "", err
		}
		// Decide before undefining: afterwards the disk list is gone.
		own := []string{domainxml.SeedVolume(d.Name)}
		if plan, err = d.PlanStorage(ctx, []string{cfg.Config.Paths.Images, cfg.Config.Paths.ISOs}, own); err != nil {
			return "", err
		}
		if len(plan.Unresolved) > 0 {
			// Undefining now would lose the only record of these disks: refuse, change nothing.
			var why []string
			for _, v := range slices.Sorted(maps.Keys(plan.Unresolved)) {
				why = append(why, v+" ("+plan.Unresolved[v]+")")
			}
			return "", errs.New(errs.Conflict, "cannot remove the storage of %s: %s; nothing deleted", d.Name, strings.Join(why, ", ")).
				WithHint("start the pool (virsh pool-start POOL) and delete again, or delete without --remove-storage to keep the disks")
		}
	}
	undefined, err := d.Undefine(ctx, o.Force)
	if err != nil {
		return "", err
	}
	var report model.Result
	if undefined.KeptNVRAM != "" {
		why := "NVRAM also used by " + strings.Join(undefined.NVRAMUsers, ", ")
		o.F.Infof("%s: %s: kept %s (%s)", o.F.Prog, d.Name, undefined.KeptNVRAM, why)
		report.Kept = append(report.Kept, model.KeptVolume{Path: undefined.KeptNVRAM, Reason: why})
	}
	for _, p := range slices.Sorted(maps.Keys(plan.Keep)) {
		o.F.Infof("%s: %s: kept %s (%s)", o.F.Prog, d.Name, p, plan.Keep[p])
		report.Kept = append(report.Kept, model.KeptVolume{Path: p, Reason: plan.Keep[p]})
	}
	var failed []string
	for _, p := range plan.Remove {
		if err := d.Conn().DeleteVolume(ctx, p); err != nil {
			failed = append(failed, p+": "+err.Error())
			report.Kept = append(report.Kept, model.KeptVolume{Path: p, Reason: "could not remove: " + err.Error()})
			continue
		}
		o.F.Infof("%s: %s: removed %s", o.F.Prog, d.Name, p)
		report.Removed = append(report.Removed, p)
	}
	o.storage.Store(storageKey{d.Conn(), d.Name}, report)
	if len(failed) > 0 {
		return virt.ActDeleted, errs.New(errs.Failure, "deleted, but could not remove %s", strings.Join(failed, "; "))
	}
	return virt.ActDeleted, nil
}
