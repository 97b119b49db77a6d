package vm

import (
	"context"
	"regexp"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// NewCmdDisk builds `vm disk` and its subcommands, one file each. The helpers below are shared
// with `vm nic`: which definitions a change touches, what it leaves to say, and the report.
func NewCmdDisk(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disk",
		Short: "Attach, detach, resize and list a VM's disks",
		Long: `Change a VM's disks while it runs or not. A running VM gets a change both live and in its
persistent definition unless --live or --config says otherwise; a stopped VM only in its
definition. A change the running VM alone has (--live) is gone at its shutdown; one only the
definition has (--config) reaches the running VM at its next start: both are said on stderr.
A VM made from a profile then differs from it (vmctl diff shows where).`,
	}
	cmd.AddCommand(NewCmdDiskAttach(f, nil), NewCmdDiskDetach(f, nil), NewCmdDiskResize(f, nil), NewCmdDiskList(f, nil))
	return cmd
}

// diskBuses are the buses a disk can be attached on, each with its target prefix.
var diskBuses = []string{"virtio", "scsi", "sata", "usb"}

func targetPrefix(bus string) string {
	if bus == "virtio" {
		return "vd"
	}
	return "sd"
}

var targetPattern = regexp.MustCompile(`^(vd|sd|hd)[a-z]{1,3}$`)

// checkTarget refuses a target name libvirt would not accept for the bus.
func checkTarget(target, bus string) error {
	if !targetPattern.MatchString(target) {
		return errs.New(errs.Usage, "invalid target %q: want the bus prefix and letters, e.g. vdb", output.Escape(target))
	}
	if want := targetPrefix(bus); !strings.HasPrefix(target, want) {
		return errs.New(errs.Usage, "target %s does not fit bus %s: its disks are named %sX", target, bus, want)
	}
	return nil
}

// nextTarget is the first name prefix+a, prefix+b, …, prefix+z, prefix+aa, … that taken does
// not hold, counting as libvirt does.
func nextTarget(prefix string, taken map[string]bool) string {
	for i := 0; ; i++ {
		if name := prefix + targetSuffix(i); !taken[name] {
			return name
		}
	}
}

// targetSuffix is libvirt's disk index as letters: 0 → a, 25 → z, 26 → aa.
func targetSuffix(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

// takenTargets are the disk targets of both definitions: a target the persistent definition
// holds for its next start is as taken as a live one.
func takenTargets(defs virt.Definitions) map[string]bool {
	taken := map[string]bool{}
	for _, def := range []*libvirtxml.Domain{defs.Config, defs.Live} {
		if def == nil || def.Devices == nil {
			continue
		}
		for _, d := range def.Devices.Disks {
			if d.Target != nil {
				taken[d.Target.Dev] = true
			}
		}
	}
	return taken
}

// scopeFlags are --live and --config of the device verbs.
type scopeFlags struct{ Live, Config bool }

func addScopeFlags(cmd *cobra.Command, s *scopeFlags, liveHelp, configHelp string) {
	cmd.Flags().BoolVar(&s.Live, "live", false, liveHelp)
	cmd.Flags().BoolVar(&s.Config, "config", false, configHelp)
}

// The --live and --config help of attaching, detaching and changing verbs.
const (
	attachLiveHelp   = "attach to the running VM only (gone at its shutdown)"
	attachConfigHelp = "attach to the persistent definition only (the running VM gets it at its next start)"
	detachLiveHelp   = "detach from the running VM only (back at its next start if the definition has it)"
	detachConfigHelp = "detach from the persistent definition only (the running VM keeps it until it shuts down)"
)

// resolve says which definitions to change: both of a running VM unless a flag narrows it, the
// persistent one of a stopped VM. --live on a stopped VM has nothing to change: a conflict.
func (s scopeFlags) resolve(vm string, running bool) (virt.Scope, error) {
	switch {
	case s.Live && !running:
		return virt.Scope{}, errs.New(errs.Conflict, "%s is not running: --live has nothing to change", vm).
			WithHint("leave --live out to change its definition")
	case s.Live || s.Config:
		return virt.Scope{Live: s.Live, Config: s.Config}, nil
	case running:
		return virt.Scope{Live: true, Config: true}, nil
	}
	return virt.Scope{Config: true}, nil
}

// noteAttach says on stderr what an attach that reaches one definition only means for the VM.
func noteAttach(f *cmdutil.Factory, vm, what string, s virt.Scope, running bool) {
	switch {
	case s.Live && !s.Config:
		f.Infof("%s: note: %s is attached to the running %s only: it goes away when the VM shuts down", f.Prog, what, vm)
	case s.Config && !s.Live && running:
		f.Infof("%s: note: %s is in the definition of %s only: the running VM gets it at its next start", f.Prog, what, vm)
	}
}

// noteDetach says on stderr that a detached device stays in the other definition.
func noteDetach(f *cmdutil.Factory, vm, what string, keptLive, keptConfig bool) {
	switch {
	case keptConfig:
		f.Infof("%s: note: %s is detached from the running %s only: its definition keeps it, so the VM has it again at its next start", f.Prog, what, vm)
	case keptLive:
		f.Infof("%s: note: %s is gone from the definition of %s only: the running VM keeps it until it shuts down", f.Prog, what, vm)
	}
}

// profileOf is the profile hvctl made the VM from (its metadata), or "" for any other VM.
func profileOf(ctx context.Context, d *virt.Domain) string {
	x, err := d.Metadata(ctx, domainxml.Namespace)
	if err != nil || x == "" {
		return ""
	}
	info, err := domainxml.ParseMetadata(x)
	if err != nil {
		return ""
	}
	return info.Profile
}

// warnProfile says that a persistent change made the VM differ from its profile.
func warnProfile(f *cmdutil.Factory, vm, prof string, s virt.Scope) {
	if prof == "" || !s.Config {
		return
	}
	f.Warnf("%s was made from profile %s, which now differs from it: see vmctl diff %s", vm, prof, prof)
}

// changeColumns is the table view of model.DeviceChange.
func reportChange(f *cmdutil.Factory, format output.Format, c model.DeviceChange) error {
	size := "-"
	if c.CapacityBytes != nil {
		size = units.Human(*c.CapacityBytes)
	}
	pairs := [][2]string{{"vm", c.VM}, {"action", c.Action}}
	if c.Kind == "nic" {
		pairs = append(pairs, [2]string{"mac", c.MAC})
	}
	pairs = append(pairs, [2]string{"target", output.Dash(c.Target)}, [2]string{"source", output.Dash(c.Source)})
	if c.Kind == "disk" {
		pairs = append(pairs, [2]string{"capacity", size})
	}
	pairs = append(pairs, [2]string{"live", output.YesNo(c.Live)}, [2]string{"config", output.YesNo(c.Config)})
	if c.VolumeCreated != "" {
		pairs = append(pairs, [2]string{"volume created", c.VolumeCreated})
	}
	if c.VolumeRemoved != "" {
		pairs = append(pairs, [2]string{"volume removed", c.VolumeRemoved})
	}
	if c.Profile != "" {
		pairs = append(pairs, [2]string{"profile updated", c.Profile})
	}
	return output.Object(f.IO.Out, format, c, pairs)
}

// completeDiskTargets completes a VM's name, then the targets of its disks.
func completeDiskTargets(f *cmdutil.Factory) cobra.CompletionFunc {
	return completeDevices(f, func(def *libvirtxml.Domain) []string {
		var out []string
		for _, d := range def.Devices.Disks {
			if d.Target != nil {
				out = append(out, d.Target.Dev)
			}
		}
		return out
	})
}

// completeDevices completes a VM's name as the first argument and, as the second, what keys
// lists of its definition, bounded like every completion.
func completeDevices(f *cmdutil.Factory, keys func(*libvirtxml.Domain) []string) cobra.CompletionFunc {
	vms := completeVMs(f, false)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return vms(cmd, args, toComplete)
		}
		if len(args) > 1 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		var out []string
		err := withDomain(ctx, f, args[0], true, func(d *virt.Domain) error {
			def, err := d.Definition(ctx, false)
			if err != nil {
				return err
			}
			if def.Devices != nil {
				out = keys(def)
			}
			return nil
		})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// parseSize reads a size flag or argument, naming it in the error.
func parseSize(what, s string) (uint64, error) {
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, errs.New(errs.Usage, "%s: %v", what, err)
	}
	if n == 0 {
		return 0, errs.New(errs.Usage, "%s: a disk needs a size above zero", what)
	}
	return n, nil
}

func sizePtr(n uint64) *uint64 { return &n }

// attachError explains libvirt's refusal to hot-plug into a VM without a free PCI slot: a q35
// VM gets the PCIe root ports its devices need and one spare, so a second live attach finds
// none.
func attachError(err error, vm string, s virt.Scope) error {
	if err == nil || !s.Live || !strings.Contains(err.Error(), "No more available PCI slots") {
		return err
	}
	return errs.New(errs.Conflict, "%s has no free PCI slot to plug the device into while it runs", vm).
		WithHint("attach it with --config and restart the VM (libvirt then adds the slot), or detach another hot-plugged device first")
}
