package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ShowOptions of `vm show`.
type ShowOptions struct {
	F     *cmdutil.Factory
	Name  string
	Hosts cmdutil.HostFlags
	Cmd   *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdShow builds `vm show`.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *ShowOptions) error) *cobra.Command {
	opts := &ShowOptions{F: f}
	cmd := &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"info"},
		Short:   "Show everything about one VM",
		Long: `Show one VM in full: identity, state and reason, vCPUs, memory, OS type, architecture,
machine and firmware, autostart and persistence, disks (with capacity and allocation in
bytes), network interfaces with their addresses, graphics, snapshot count and metadata.
It answers in one go what virsh needs dominfo, domblklist, domiflist, domifaddr,
domdisplay and snapshot-list for.

With --host, the VM is looked for on those hosts at once and shown with its host; NAME may be
qualified HOST:NAME. A name on several hosts must be qualified.`,
		Example:           "  vmctl show web01\n  vmctl show web01 --jq '.disks[].source'\n  vmctl show --host all web01\n  vmctl show --host all h2:web01",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Cmd = args[0], cmd
			if err := cmdutil.ValidateLookupName("VM", opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Hosts.Enabled() {
				return runShowHosts(cmd.Context(), opts)
			}
			return runShow(cmd.Context(), opts)
		},
	}
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

func runShow(ctx context.Context, o *ShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var v *model.VMDetail
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error {
		v, err = detail(ctx, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "show %s", o.Name)
	}
	return output.Object(o.F.IO.Out, format, v, detailPairs(v)) // -o name: v.ObjectName
}

// runShowHosts shows the VM from the host of --host that has it, with a host field and line
// leading; a host that did not answer is reported after it (exit 6).
func runShowHosts(ctx context.Context, o *ShowOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	hit, hostsErr := withDomainOnHosts(ctx, o.F, o.Cmd, &o.Hosts, o.Name, false, detail)
	if hit == nil {
		return errs.Wrap(hostsErr, "show %s", o.Name)
	}
	v := hit.Value
	v.Host = hit.Host
	pairs := append([][2]string{{"Host:", v.Host}}, detailPairs(v)...)
	if err := output.Object(o.F.IO.Out, format, v, pairs); err != nil {
		return err
	}
	return hostsErr
}

// detail is everything show says about a VM.
func detail(ctx context.Context, d *virt.Domain) (*model.VMDetail, error) {
	v, err := d.Detail(ctx)
	if err != nil {
		return nil, err
	}
	return v, hvctlState(ctx, d, v)
}

// hvctlState adds what hvctl's metadata says (virt.HvctlState, as list reads it): the ordered
// autostart that 'autostart run' acts on, and whether a restart is pending.
func hvctlState(ctx context.Context, d *virt.Domain, v *model.VMDetail) error {
	if !v.Persistent {
		return nil
	}
	st, err := d.HvctlState(ctx, v.ID != nil)
	if err != nil {
		return err
	}
	if st.AutostartOrder != "" {
		v.Autostart, v.AutostartOrder = true, st.AutostartOrder
	}
	v.PendingRestart = st.PendingRestart
	return nil
}

func detailPairs(v *model.VMDetail) [][2]string {
	p := [][2]string{
		{"Name:", v.Name}, {"UUID:", v.UUID},
	}
	if v.Title != "" {
		p = append(p, [2]string{"Title:", v.Title})
	}
	if v.Description != "" {
		p = append(p, [2]string{"Description:", v.Description})
	}
	id := "-"
	if v.ID != nil {
		id = strconv.Itoa(*v.ID)
	}
	cpu := "-"
	if v.CPUTimeSeconds != nil {
		cpu = fmt.Sprintf("%.1fs", *v.CPUTimeSeconds)
	}
	state := v.State + " (" + v.StateReason + ")"
	if v.Saved {
		state += ", saved: start restores it"
	}
	p = append(p,
		[2]string{"State:", state},
		[2]string{"ID:", id},
		[2]string{"Type:", v.DomainType},
		[2]string{"vCPUs:", fmt.Sprintf("%d (max %d)", v.VCPUs, v.MaxVCPUs)},
		[2]string{"Memory:", fmt.Sprintf("%s (max %s)", units.Human(v.MemoryBytes), units.Human(v.MaxMemoryBytes))},
		[2]string{"CPU time:", cpu},
		[2]string{"Uptime:", uptime(v.UptimeSeconds)},
		[2]string{"OS:", fmt.Sprintf("%s/%s, machine %s, %s firmware", v.OSType, v.Arch, v.Machine, v.Firmware)},
		[2]string{"Autostart:", autostartText(v)},
		[2]string{"Persistent:", yesNo(v.Persistent)},
		[2]string{"Pending restart:", yesNo(v.PendingRestart)},
		[2]string{"Snapshots:", strconv.Itoa(v.Snapshots)},
	)
	for _, d := range v.Disks {
		size := ""
		if d.CapacityBytes != nil {
			size = fmt.Sprintf(", %s (%s allocated)", units.Human(*d.CapacityBytes), units.Human(*d.AllocationBytes))
		}
		ro := ""
		if d.ReadOnly {
			ro = ", read-only"
		}
		backing := ""
		if len(d.Backing) > 0 { // an overlay: what lies under it (vmsafe)
			backing = ", backed by " + strings.Join(d.Backing, " ← ")
		}
		p = append(p, [2]string{"Disk " + d.Target + ":", fmt.Sprintf("%s %s %s%s%s%s", d.Device, dash(d.Format), dash(d.Source), size, ro, backing)})
	}
	if len(v.LinkedClones) > 0 { // its disks back these VMs' overlays (vmsafe)
		p = append(p, [2]string{"Template of:", strings.Join(v.LinkedClones, ", ") + " (linked clones)"})
	}
	for _, n := range v.NICs {
		var addrs []string
		for _, a := range n.Addresses {
			addrs = append(addrs, fmt.Sprintf("%s/%d (%s)", a.Address, a.Prefix, a.Source))
		}
		p = append(p, [2]string{"NIC " + n.MAC + ":", fmt.Sprintf("%s %s, model %s, %s", n.Type, dash(n.Source), dash(n.Model), dash(strings.Join(addrs, ", ")))})
	}
	for _, g := range v.Graphics {
		p = append(p, [2]string{"Graphics:", fmt.Sprintf("%s listen %s port %d", g.Type, dash(g.Listen), g.Port)})
	}
	for _, t := range v.TPMs {
		p = append(p, [2]string{"TPM:", strings.TrimSpace(fmt.Sprintf("%s %s %s %s", t.Model, t.Backend, t.Version, t.Source))})
	}
	for _, h := range v.Hostdevs {
		managed := ""
		if h.Managed {
			managed = ", managed"
		}
		p = append(p, [2]string{"Hostdev:", fmt.Sprintf("%s %s%s", h.Type, dash(h.Source), managed)})
	}
	for _, fs := range v.Filesystems {
		ro := ""
		if fs.ReadOnly {
			ro = ", read-only"
		}
		p = append(p, [2]string{"Filesystem:", fmt.Sprintf("%s %s -> %s, driver %s%s", fs.Type, dash(fs.Source), dash(fs.Target), dash(fs.Driver), ro)})
	}
	for _, w := range v.Watchdogs {
		p = append(p, [2]string{"Watchdog:", fmt.Sprintf("%s, action %s", w.Model, w.Action)})
	}
	for _, r := range v.RNGs {
		p = append(p, [2]string{"RNG:", strings.TrimSpace(fmt.Sprintf("%s %s %s", r.Model, r.Backend, r.Source))})
	}
	for _, x := range v.Videos {
		p = append(p, [2]string{"Video:", fmt.Sprintf("%s, %d head(s)", x.Model, x.Heads)})
	}
	for _, x := range v.Sounds {
		p = append(p, [2]string{"Sound:", x})
	}
	for _, x := range v.Shmems {
		p = append(p, [2]string{"Shared memory:", fmt.Sprintf("%s %s %s", x.Name, dash(x.Model), units.Human(x.SizeBytes))})
	}
	if v.Balloon != "" {
		p = append(p, [2]string{"Balloon:", v.Balloon})
	}
	for _, c := range v.Chardevs {
		p = append(p, [2]string{capitalFirst(c.Kind) + ":", strings.TrimSpace(fmt.Sprintf("%s %s %s", c.Type, c.Source, targetText(c.Target)))})
	}
	for _, s := range v.SecLabels {
		p = append(p, [2]string{"Security label:", strings.TrimSpace(fmt.Sprintf("%s %s %s", s.Model, s.Type, s.Label))})
	}
	for _, m := range v.Metadata {
		p = append(p, [2]string{"Metadata:", m.Namespace})
	}
	return p
}

func capitalFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func targetText(t string) string {
	if t == "" {
		return ""
	}
	return "-> " + t
}

func autostartText(v *model.VMDetail) string {
	if v.AutostartOrder != "" {
		return "yes (hvctl: " + v.AutostartOrder + ")"
	}
	return yesNo(v.Autostart)
}

func uptime(s *int64) string {
	if s == nil {
		return "-"
	}
	return (time.Duration(*s) * time.Second).String()
}
