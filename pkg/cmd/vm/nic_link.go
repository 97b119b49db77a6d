package vm

import (
	"cmp"
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// NICLinkOptions of `vm nic link`.
type NICLinkOptions struct {
	F       *cmdutil.Factory
	VM, NIC string
	Up      bool
	Scope   scopeFlags
}

// NewCmdNICLink builds `vm nic link`.
func NewCmdNICLink(f *cmdutil.Factory, runF func(context.Context, *NICLinkOptions) error) *cobra.Command {
	opts := &NICLinkOptions{F: f}
	nics := completeNICs(f)
	cmd := &cobra.Command{
		Use:         "link VM MAC|TARGET up|down",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Set a network interface's link up or down (the cable plugged in or pulled)",
		Long: `Set the link state of the NIC with the MAC address (or, while the VM runs, host-side device): down
is a pulled cable (the guest sees no carrier), up plugs it back in. A running VM changes at
once and keeps the state in its definition unless --live or --config narrows it. A NIC that
is in that state already is left alone (action none).`,
		Example: `  vmctl nic link web01 52:54:00:12:34:56 down
  vmctl nic link web01 vnet3 up --live`,
		Args: cmdutil.ExactArgs(3, "a VM, a NIC's MAC or device, and up or down"),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 2 {
				return []string{"up", "down"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nics(cmd, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.NIC = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if err := checkNICKey(&opts.NIC); err != nil {
				return err
			}
			switch args[2] {
			case "up", "down":
				opts.Up = args[2] == "up"
			default:
				return errs.New(errs.Usage, "invalid link state %q: want up or down", output.Escape(args[2]))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNICLink(cmd.Context(), opts)
		},
	}
	addScopeFlags(cmd, &opts.Scope, "change the running VM only (its definition keeps its own state)", "change the persistent definition only (the running VM keeps its state)")
	f.AddOutputFlags(cmd)
	return cmd
}

func runNICLink(ctx context.Context, o *NICLinkOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = linkNIC(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "nic link %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

func linkState(nic *libvirtxml.DomainInterface) string {
	if nic.Link != nil && nic.Link.State == "down" {
		return "down"
	}
	return "up"
}

func linkNIC(ctx context.Context, o *NICLinkOptions, d *virt.Domain) (model.DeviceChange, error) {
	want := map[bool]string{true: "up", false: "down"}[o.Up]
	change := model.DeviceChange{VM: d.Name, Kind: "nic", Action: "link_" + want}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	liveNIC, cfgNIC := findNICs(defs, o.NIC)
	scope, err := detachScope(o.Scope, d.Name, "NIC "+o.NIC, defs, liveNIC != nil, cfgNIC != nil)
	if err != nil {
		return change, err
	}
	m := domainxml.DescribeNIC(*cmp.Or(cfgNIC, liveNIC))
	change.MAC, change.Source = m.MAC, m.Source
	if liveNIC != nil && liveNIC.Target != nil {
		change.Target = liveNIC.Target.Dev
	}
	// Each definition is updated from its own copy of the NIC: the live one names its host
	// device and alias, the persistent one does not, and libvirt compares the whole device.
	changed := false
	for _, step := range []struct {
		on  bool
		nic *libvirtxml.DomainInterface
		s   virt.Scope
	}{{scope.Live, liveNIC, virt.Scope{Live: true}}, {scope.Config, cfgNIC, virt.Scope{Config: true}}} {
		if !step.on || linkState(step.nic) == want {
			continue
		}
		nic := *step.nic
		nic.Link = &libvirtxml.DomainInterfaceLink{State: want}
		x, err := nic.Marshal()
		if err != nil {
			return change, err
		}
		if err := d.UpdateDevice(ctx, x, step.s); err != nil {
			return change, err
		}
		changed = true
	}
	change.Live, change.Config = scope.Live, scope.Config
	if !changed {
		change.Action = "none"
		return change, nil
	}
	if scope.Live && !scope.Config && cfgNIC != nil {
		o.F.Infof("%s: note: the link of NIC %s is %s in the running %s only: its definition has it %s at the next start", o.F.Prog, m.MAC, want, d.Name, linkState(cfgNIC))
	}
	if scope.Config && !scope.Live && liveNIC != nil {
		o.F.Infof("%s: note: the link of NIC %s is %s in the definition of %s only: the running VM keeps it %s", o.F.Prog, m.MAC, want, d.Name, linkState(liveNIC))
	}
	warnProfile(o.F, d.Name, profileOf(ctx, d), scope)
	return change, nil
}
