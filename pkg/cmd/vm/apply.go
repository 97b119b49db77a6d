package vm

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ApplyOptions of `vm apply`.
type ApplyOptions struct {
	F        *cmdutil.Factory
	Profiles []string
	DryRun   bool // plan only
	Force    bool // apply to the template of linked clones all the same
}

// NewCmdApply builds `vm apply`.
func NewCmdApply(f *cmdutil.Factory, runF func(context.Context, *ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "apply PROFILE...",
		Short: "Make VMs match their profiles: create what is missing, redefine what drifted",
		Long: `For each profile: a missing VM is created (as 'vmctl create'); an existing one whose
definition drifted gets the profile's definition as its persistent definition, keeping its
UUID, MACs and NVRAM. Everything 'vmctl diff' reports is in the plan, including what the
redefinition drops (rows marked "added": a hand edit the profile does not have).

Every profile is planned before anything changes, so a profile or volume that fails a check
stops the run with nothing applied. Then, VM by VM: the definition is replaced, disks that
are smaller than their profile's size are grown (through QEMU while the VM runs; sizes are
floors, no disk is ever shrunk) and, should growing fail, the old definition is put back. On
a running VM the current memory (up to the maximum it was started with), the vCPU count (up
to the max_vcpus it was started with) and the description change at once; the rest is
flagged "restart" and takes effect at the next restart ('vmctl show' says a restart is
pending until then). Disks are not rebuilt, nor is the cloud-init seed: a seed that differs
takes effect on a new instance. The table printed at the end says what was done; when a VM
fails, its rows and those of the VMs after it say not_applied. --dry-run prints only the plan.`,
		Example:     "  vmctl apply web01 --dry-run\n  vmctl apply /etc/hvctl/profiles/*.toml",
		Annotations: cmdutil.Journaled("vm:0", map[string]string{cmdutil.AnnTimeout: "10m"}),
		Args:        cmdutil.MinimumArgs(1, "one or more profiles"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runApply(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the plan; change nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "apply to a VM even though linked clones overlay its disks")
	f.AddOutputFlags(cmd)
	return cmd
}

func runApply(ctx context.Context, o *ApplyOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	pl, err := newPlanner(ctx, o.F, o.DryRun)
	if err != nil {
		return err
	}
	defer pl.conn.Close()
	plans, err := pl.planAll(ctx, o.Profiles)
	if err != nil {
		return err
	}
	for _, p := range plans {
		cmdutil.ReportTargets(ctx, p.name) // the operations journal's targets
	}
	if err := refuseForeignVMs(plans); err != nil {
		return err
	}
	if o.DryRun {
		return printDrift(o.F, format, rowsOf(plans, func(_ *vmPlan, r planRow) string { return "would_" + r.verb }))
	}
	// A template of linked clones is refused before anything changes (vmsafe's check).
	for _, p := range plans {
		if p.create || !p.redefines() && len(p.grow) == 0 {
			continue
		}
		d, err := pl.conn.Domain(ctx, p.name)
		if err != nil {
			return errs.Wrap(err, "apply %s", p.name)
		}
		err = d.RefuseIfTemplate(ctx, "applying its profile", o.Force)
		d.Free()
		if err != nil {
			return errs.Wrap(err, "apply %s", p.name)
		}
	}
	done := map[*vmPlan]bool{}
	var failure error
	for _, p := range plans {
		if p.create {
			// create prints its own result; the drift table says what was planned.
			failure = runCreate(ctx, &CreateOptions{F: o.F, Profile: p.path})
		} else {
			failure = applyPlan(ctx, pl.conn, p, o.F.Now())
		}
		if failure != nil {
			failure = errs.Wrap(failure, "apply %s", p.name)
			break
		}
		done[p] = true
	}
	rows := rowsOf(plans, func(p *vmPlan, r planRow) string {
		if !done[p] {
			return "not_applied"
		}
		return pastTense[r.verb]
	})
	if err := printDrift(o.F, format, rows); err != nil {
		return err
	}
	return failure
}

// applyPlan makes one existing VM match its plan, in an order that can be undone: the new
// definition first (the old one is kept), then disk growth (on failure the old definition is
// put back), then what can change on the running VM.
func applyPlan(ctx context.Context, conn *virt.Conn, p *vmPlan, now time.Time) error {
	if !p.redefines() && len(p.grow) == 0 {
		return nil
	}
	d, err := conn.Domain(ctx, p.name)
	if err != nil {
		return err
	}
	defer d.Free()
	if p.redefines() {
		if err := redefine(ctx, conn, p, now); err != nil {
			return err
		}
	}
	if err := growDisks(ctx, conn, d, p.grow); err != nil {
		if p.redefines() {
			if _, uerr := conn.DefineDomain(ctx, p.name, p.liveXML); uerr != nil {
				return errs.Wrap(err, "and the old definition could not be put back (%v)", uerr)
			}
		}
		return err
	}
	if p.redefines() && p.running {
		return applyLive(ctx, d, p)
	}
	return nil
}

// growDisks grows through QEMU on a running VM (the guest sees it at once), else the volume.
func growDisks(ctx context.Context, conn *virt.Conn, d *virt.Domain, grow []growth) error {
	if len(grow) == 0 {
		return nil
	}
	state, _, err := d.State(ctx)
	if err != nil {
		return err
	}
	for _, g := range grow {
		if state == virt.StateRunning || state == virt.StatePaused {
			err = d.GrowDisk(ctx, g.target, g.to)
		} else {
			err = conn.GrowVolume(ctx, g.pool, g.volume, g.to)
		}
		if err != nil {
			return errs.Wrap(err, "grow %s to %s", g.target, units.Human(g.to))
		}
	}
	return nil
}

// redefine makes the profile's domain the persistent definition, keeping what identifies the
// VM (its UUID, its NVRAM and the loader chosen for it), the display passwords set on it (a
// profile has none) and other applications' metadata.
func redefine(ctx context.Context, conn *virt.Conn, p *vmPlan, at time.Time) error {
	desired, live := p.desired, p.live
	desired.UUID = live.UUID
	if live.OS != nil && desired.OS != nil && live.OS.NVRam != nil {
		desired.OS.NVRam = live.OS.NVRam
		if live.OS.Loader != nil && desired.OS.Loader == nil {
			desired.OS.Loader = live.OS.Loader
		}
	}
	if err := domainxml.SetDefined(desired, at.UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	domainxml.KeepDisplayPasswords(desired, live)
	if err := domainxml.KeepForeignMetadata(desired, live); err != nil {
		return errs.Wrap(err, "%s", p.name)
	}
	x, err := desired.Marshal()
	if err != nil {
		return err
	}
	nd, err := conn.DefineDomain(ctx, desired.Name, x)
	if err != nil {
		return err
	}
	nd.Free()
	return nil
}

// applyLive changes on the running VM what can change there. When everything could, the
// running VM also gets the new hvctl metadata, so no restart shows as pending.
func applyLive(ctx context.Context, d *virt.Domain, p *vmPlan) error {
	desired := p.desired
	pending := false
	for _, c := range p.changes {
		switch {
		case c.Key == "memory.current" && !c.Restart && desired.CurrentMemory != nil:
			kib := domainxml.KiB(desired.CurrentMemory.Value, desired.CurrentMemory.Unit)
			if err := d.SetLiveMemory(ctx, kib); err != nil {
				if !strings.Contains(err.Error(), "cannot set memory higher") {
					return err
				}
				pending = true
			}
		case c.Key == "description":
			if err := d.SetLiveDescription(ctx, desired.Description); err != nil {
				return errs.Wrap(err, "the definition is updated, but the running VM kept its description")
			}
		case c.Key == "vcpus" && !c.Restart:
			n, err := strconv.Atoi(c.Desired)
			if err != nil {
				return err
			}
			// The drift is in the persistent definition; the running VM may already agree.
			if now, err := d.LiveVCPUs(ctx); err == nil && now == n {
				continue
			}
			if err := d.SetLiveVCPUs(ctx, uint(n)); err != nil {
				return errs.Wrap(err, "the definition is updated, but the running VM kept %s vCPUs", c.Live)
			}
		case c.Restart:
			pending = true
		}
	}
	if pending || desired.Metadata == nil {
		return nil
	}
	x, err := domainxml.MetadataElement(desired)
	if err != nil {
		return err
	}
	return d.SetLiveMetadata(ctx, domainxml.Namespace, "hvctl", x)
}

// refuseForeignVMs stops apply, before anything changes, at a VM of a profile's name that hvctl
// did not make (it has no hvctl metadata): redefining it from the profile would replace its
// whole definition, its disks' sources included. diff still shows how far it is from the profile.
func refuseForeignVMs(plans []*vmPlan) error {
	for _, p := range plans {
		for _, c := range p.changes {
			if c.Key == "metadata.profile" && c.Kind == domainxml.Removed {
				return errs.New(errs.Conflict, "%s: a VM of that name exists and hvctl did not make it: apply does not take it over", p.name).
					WithHint("see how it differs with: vmctl diff %s; or rename the profile's VM", p.path)
			}
		}
	}
	return nil
}
