package vm

import (
	"context"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// DiffOptions of `vm diff` and `vm apply`.
type DiffOptions struct {
	F        *cmdutil.Factory
	Profiles []string
	ExitCode bool // diff: exit 1 when there is drift
	DryRun   bool // apply: plan only
}

// DriftColumns is the table view of model.Drift.
var DriftColumns = []output.Column[model.Drift]{
	{Header: "vm", Value: func(d model.Drift) string { return d.VM }},
	{Header: "key", Value: func(d model.Drift) string { return d.Key }},
	{Header: "live", Value: func(d model.Drift) string { return dash(d.Live) }},
	{Header: "profile", Value: func(d model.Drift) string { return dash(d.Desired) }},
	{Header: "restart", Value: func(d model.Drift) string { return yesNo(d.Restart) }},
	{Header: "action", Value: func(d model.Drift) string { return dash(d.Action) }},
}

// NewCmdDiff builds `vm diff`.
func NewCmdDiff(f *cmdutil.Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{F: f}
	cmd := &cobra.Command{
		Use:   "diff PROFILE...",
		Short: "Show where VMs' definitions differ from their profiles",
		Long: `Render each profile as 'create' would and compare it with its VM's persistent definition,
after setting aside what libvirt adds or rewrites itself (controllers, PCI addresses, aliases,
expanded machine names, generated MACs, units). Each difference is one row. With
--exit-code the status is 1 when there is any difference, as with git diff: for timers that
watch for hand edits.`,
		Example: "  vmctl diff web01 db01 --exit-code || vmctl apply web01 db01",
		Args:    cmdutil.MinimumArgs(1, "one or more profiles"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiff(cmd.Context(), opts, false)
		},
	}
	cmd.Flags().BoolVar(&opts.ExitCode, "exit-code", false, "exit 1 when there is drift")
	f.AddOutputFlags(cmd)
	return cmd
}

// NewCmdApply builds `vm apply`.
func NewCmdApply(f *cmdutil.Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{F: f}
	cmd := &cobra.Command{
		Use:   "apply PROFILE...",
		Short: "Make VMs match their profiles: create what is missing, redefine what drifted",
		Long: `For each profile: a missing VM is created (as 'vmctl create'); an existing one whose
definition drifted gets the profile's definition as its persistent definition, keeping its
UUID, MACs and NVRAM. On a running VM the current memory (up to max_memory), the vCPU count
(up to the max_vcpus it was started with) and the description change at once; the rest is
flagged "restart" and takes effect at the next restart. A disk smaller than its profile's
size is grown (through QEMU while the VM runs, so the guest sees it at once); sizes are
floors, and no disk is ever shrunk. The plan is printed first; --dry-run prints only the
plan. Disks are not rebuilt, nor is the seed.`,
		Example:     "  vmctl apply web01 --dry-run\n  vmctl apply /etc/hvctl/profiles/*.toml",
		Annotations: map[string]string{cmdutil.AnnTimeout: "10m"},
		Args:        cmdutil.MinimumArgs(1, "one or more profiles"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Profiles = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiff(cmd.Context(), opts, true)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print the plan; change nothing")
	f.AddOutputFlags(cmd)
	return cmd
}

// errDrift is diff --exit-code's "there are differences": exit 1, no message of its own.
var errDrift = &errs.Error{Kind: errs.Failure, Msg: "profiles and VMs differ"}

func runDiff(ctx context.Context, o *DiffOptions, apply bool) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	lo, bridges, err := profileOptions(o.F)
	if err != nil {
		return err
	}
	l, err := o.F.Config()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, !apply)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows := []model.Drift{}
	var toCreate []string
	for _, arg := range o.Profiles {
		path, err := profile.Resolve(arg, lo.Dir)
		if err != nil {
			return err
		}
		p, err := profile.Load(path, lo)
		if err != nil {
			return err
		}
		bo, err := buildOptions(ctx, conn, l.Config, p, bridges)
		if err != nil {
			return errs.Wrap(err, "%s", p.Name)
		}
		desired, err := domainxml.Build(p, bo)
		if err != nil {
			return errs.New(errs.Usage, "%s: %v", p.Name, err)
		}
		d, err := conn.Domain(ctx, p.Name)
		if errs.KindOf(err) == errs.NotFound {
			rows = append(rows, model.Drift{VM: p.Name, Key: "(vm)", Desired: "defined", Restart: false, Action: planned(apply, o.DryRun, "create")})
			toCreate = append(toCreate, path)
			continue
		}
		if err != nil {
			return err
		}
		live, err := d.Definition(ctx, true)
		if err != nil {
			d.Free()
			return err
		}
		domainxml.MACsFrom(desired, live)
		changes := domainxml.Diff(domainxml.Facts(live), domainxml.Facts(desired))
		var vmRows []model.Drift
		for _, c := range changes {
			vmRows = append(vmRows, model.Drift{VM: p.Name, Key: c.Key, Live: c.Live, Desired: c.Desired, Restart: c.Restart, Action: planned(apply, o.DryRun, "redefine")})
		}
		grow, err := diskGrowth(ctx, conn, p, live)
		if err != nil {
			d.Free()
			return err
		}
		for _, g := range grow {
			vmRows = append(vmRows, model.Drift{VM: p.Name, Key: "disk." + g.target + ".size", Live: units.Human(g.from), Desired: units.Human(g.to), Action: planned(apply, o.DryRun, "grow")})
		}
		if apply && !o.DryRun && len(changes) > 0 {
			if err := redefine(ctx, conn, d, desired, live, changes); err != nil {
				d.Free()
				return errs.Wrap(err, "apply %s", p.Name)
			}
		}
		if apply && !o.DryRun {
			if err := growDisks(ctx, conn, d, grow); err != nil {
				d.Free()
				return errs.Wrap(err, "apply %s", p.Name)
			}
		}
		d.Free()
		rows = append(rows, vmRows...)
	}
	if apply && !o.DryRun {
		for _, path := range toCreate {
			co := &CreateOptions{F: o.F, Profile: path}
			// create prints its own result; the drift table says what was planned.
			if err := runCreate(ctx, co); err != nil {
				return err
			}
		}
	}
	if err := output.List(o.F.IO.Out, format, rows, DriftColumns, func(d model.Drift) string { return d.VM + " " + d.Key }); err != nil {
		return err
	}
	if !apply && o.ExitCode && len(rows) > 0 {
		return errDrift
	}
	return nil
}

func planned(apply, dryRun bool, what string) string {
	switch {
	case !apply:
		return ""
	case dryRun:
		return "would_" + what
	}
	return what + "d"
}

// growth is a disk whose volume is smaller than its profile says. A profile's size is a
// floor (an overlay on a larger base keeps the base's size), and disks are never shrunk.
type growth struct {
	target, pool, volume string
	from, to             uint64
}

func diskGrowth(ctx context.Context, conn *virt.Conn, p *profile.Profile, live *libvirtxml.Domain) ([]growth, error) {
	want := map[string]string{domainxml.SystemVolume(p.Name): p.Disk.Size}
	for i, x := range p.ExtraDisks {
		want[domainxml.ExtraVolume(p.Name, i)] = x.Size
	}
	var out []growth
	for _, disk := range live.Devices.Disks {
		if disk.Device != "disk" || disk.Source == nil || disk.Source.Volume == nil || disk.Target == nil {
			continue
		}
		size := want[disk.Source.Volume.Volume]
		if size == "" {
			continue
		}
		to, err := units.ParseSize(size)
		if err != nil {
			return nil, errs.New(errs.Usage, "%s: disk size %q: %v", p.Name, size, err)
		}
		v, err := conn.LookupVolume(ctx, disk.Source.Volume.Pool, disk.Source.Volume.Volume)
		if err != nil {
			return nil, err
		}
		if v.Capacity < to {
			out = append(out, growth{target: disk.Target.Dev, pool: v.Pool, volume: v.Name, from: v.Capacity, to: to})
		}
	}
	return out, nil
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

// redefine makes desired the persistent definition, keeping what identifies the VM, and
// applies to a running VM what can change live.
func redefine(ctx context.Context, conn *virt.Conn, d *virt.Domain, desired, live *libvirtxml.Domain, changes []domainxml.Change) error {
	desired.UUID = live.UUID
	if live.OS != nil && desired.OS != nil && live.OS.NVRam != nil {
		desired.OS.NVRam = live.OS.NVRam
		if live.OS.Loader != nil && desired.OS.Loader == nil {
			desired.OS.Loader = live.OS.Loader
		}
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
	state, _, err := d.State(ctx)
	if err != nil || state != virt.StateRunning {
		return err
	}
	for _, c := range changes {
		switch {
		case c.Key == "memory.current" && desired.CurrentMemory != nil:
			kib := uint64(desired.CurrentMemory.Value)
			if err := d.SetLiveMemory(ctx, kib); err != nil && !strings.Contains(err.Error(), "cannot set memory higher") {
				return err
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
		}
	}
	return nil
}
