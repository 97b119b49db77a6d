package vm

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// NICDetachOptions of `vm nic detach`.
type NICDetachOptions struct {
	F       *cmdutil.Factory
	VM, NIC string // NIC: a MAC or a running VM's host-side device
	Scope   scopeFlags
	Wait    time.Duration // --timeout: how long the guest has to release the NIC
}

// NewCmdNICDetach builds `vm nic detach`.
func NewCmdNICDetach(f *cmdutil.Factory, runF func(context.Context, *NICDetachOptions) error) *cobra.Command {
	opts := &NICDetachOptions{F: f}
	cmd := &cobra.Command{
		Use:   "detach VM MAC|TARGET",
		Short: "Detach a network interface from a VM, waiting for the guest to release it",
		Long: `Detach the NIC with the MAC address (or, while the VM runs, the host-side device such as vnet3).
As with vmctl disk detach, a running guest must release it: the command waits for libvirt's
device-removed event up to --timeout, and exits 5 when the guest does not let go in time (4
when it refuses), saying that the NIC is still attached and whether the definition still has
it. Without --live or --config it goes from every definition that has it.`,
		Example: `  vmctl nic detach web01 52:54:00:12:34:56
  vmctl nic detach web01 vnet3 --timeout 1m`,
		Args:              cmdutil.ExactArgs(2, "a VM and a NIC's MAC or device"),
		ValidArgsFunction: completeNICs(f),
		Annotations: cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnSlack: detachSlack.String(),
			cmdutil.AnnTimeoutHelp: cmdutil.ShortDuration(cmdutil.DefaultTimeout) + " for the guest to release the NIC"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.NIC = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if err := checkNICKey(&opts.NIC); err != nil {
				return err
			}
			opts.Wait, _ = f.EffectiveTimeout(cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNICDetach(cmd.Context(), opts)
		},
	}
	addScopeFlags(cmd, &opts.Scope, detachLiveHelp, detachConfigHelp)
	f.AddOutputFlags(cmd)
	return cmd
}

// checkNICKey accepts a MAC (made canonical) or a host-side device name.
func checkNICKey(key *string) error {
	if strings.Count(*key, ":") == 5 || strings.Count(*key, "-") == 5 {
		mac, err := cmdutil.ParseMAC("MAC", *key)
		if err != nil {
			return err
		}
		*key = mac
		return nil
	}
	if !validBridge(*key) {
		return errs.New(errs.Usage, "invalid NIC %q: give its MAC address or its host-side device (vnet3)", *key)
	}
	return nil
}

// findNICs finds the NIC key names in both definitions: a device name is known only to the
// running VM, whose NIC's MAC then finds it in the persistent definition.
func findNICs(defs virt.Definitions, key string) (live, config *libvirtxml.DomainInterface) {
	live = virt.FindNIC(defs.Live, key)
	config = virt.FindNIC(defs.Config, key)
	if config == nil && live != nil && live.MAC != nil {
		config = virt.FindNIC(defs.Config, live.MAC.Address)
	}
	if live == nil && config != nil && config.MAC != nil {
		live = virt.FindNIC(defs.Live, config.MAC.Address)
	}
	return live, config
}

func runNICDetach(ctx context.Context, o *NICDetachOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = detachNIC(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "nic detach %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

func detachNIC(ctx context.Context, o *NICDetachOptions, d *virt.Domain) (model.DeviceChange, error) {
	change := model.DeviceChange{VM: d.Name, Kind: "nic", Action: "detached"}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	liveNIC, cfgNIC := findNICs(defs, o.NIC)
	scope, err := detachScope(o.Scope, d.Name, "NIC "+o.NIC, defs, liveNIC != nil, cfgNIC != nil)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.NotFound && e.Hint == "" {
			e.WithHint("see its NICs with: vmctl nic list %s", d.Name)
		}
		return change, err
	}
	nic := cfgNIC
	if !scope.Config {
		nic = liveNIC
	}
	m := domainxml.DescribeNIC(*nic)
	change.MAC, change.Source = m.MAC, m.Source
	if liveNIC != nil && liveNIC.Target != nil {
		change.Target = liveNIC.Target.Dev
	}
	var watch *virt.Removal
	if scope.Live {
		alias := ""
		if liveNIC.Alias != nil {
			alias = liveNIC.Alias.Name
		}
		if watch, err = d.WatchRemoval(ctx, alias); err != nil {
			return change, err
		}
		defer watch.Close()
	}
	x, err := nicXML(*nic)
	if err != nil {
		return change, err
	}
	// The guest's time starts now: libvirt's detach call itself waits a few seconds for it.
	wctx, cancel := virt.WithTimeout(ctx, o.Wait)
	defer cancel()
	if err := d.DetachDevice(ctx, x, scope); err != nil {
		return change, err
	}
	change.Live, change.Config = scope.Live, scope.Config
	if scope.Live {
		if err := watch.Wait(wctx, func(ctx context.Context) (bool, error) { return d.NICGone(ctx, m.MAC) }); err != nil {
			return change, stillAttached(err, d.Name, "NIC "+m.MAC, o.Wait, scope, cfgNIC != nil, "")
		}
	}
	noteDetach(o.F, d.Name, "NIC "+m.MAC, liveNIC != nil && !scope.Live, cfgNIC != nil && !scope.Config)
	warnProfile(o.F, d.Name, profileOf(ctx, d), scope)
	return change, nil
}
