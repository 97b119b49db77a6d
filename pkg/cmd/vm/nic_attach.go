package vm

import (
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// NICAttachOptions of `vm nic attach`.
type NICAttachOptions struct {
	F       *cmdutil.Factory
	VM      string
	Network string
	Bridge  string
	Model   string
	MAC     string // canonical; "" lets libvirt choose
	Filter  string // nwfilter, or "none"
	Scope   scopeFlags
	Update  bool // --update-profile
	// filterSet: --filter was given (with --update-profile the profile's network_filter rules).
	filterSet bool
}

// NewCmdNICAttach builds `vm nic attach`.
func NewCmdNICAttach(f *cmdutil.Factory, runF func(context.Context, *NICAttachOptions) error) *cobra.Command {
	opts := &NICAttachOptions{F: f}
	var mac string
	cmd := &cobra.Command{
		Use:         "attach VM (--network N | --bridge B)",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Attach a network interface to a VM, live when it runs",
		Long: `Attach a NIC on the libvirt network --network or the host bridge --bridge. --mac gives its
address (a unicast one no other VM has; default: libvirt picks one), --model its model. Like
the NICs of profiles it carries libvirt's clean-traffic filter (no MAC, IP or ARP spoofing;
DHCP still works) unless --filter names another or none. A running VM gets it live and in its
definition unless --live or --config narrows it. A VM made from a profile then differs from it
(a warning says so): --update-profile adds the NIC to the profile as one more [[network]]
entry at the end of its file (comments and all else unchanged) and attaches the NIC that
profile renders (its network_filter included), so vmctl diff finds the VM in sync. With --json the change is printed as an
object (vm, kind, mac, target, source, action, live, config).`,
		Example: `  vmctl nic attach web01 --network lab
  vmctl nic attach web01 --bridge br0 --mac 52:54:00:12:34:56 --model e1000e
  vmctl nic attach web01 --network lab --live
  vmctl nic attach web01 --network lab --update-profile`,
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if (opts.Network == "") == (opts.Bridge == "") {
				return errs.New(errs.Usage, "give one of --network NETWORK or --bridge BRIDGE")
			}
			if opts.Network != "" {
				if err := cmdutil.ValidateLookupName("network", opts.Network); err != nil {
					return err
				}
			}
			if opts.Bridge != "" && !validBridge(opts.Bridge) {
				return errs.New(errs.Usage, "invalid --bridge %q: an interface name is 1-15 characters without '/', ':' or blanks", output.Escape(opts.Bridge))
			}
			if mac != "" {
				var err error
				if opts.MAC, err = cmdutil.ParseMAC("--mac", mac); err != nil {
					return err
				}
			}
			if opts.Filter != "none" && !validFilter(opts.Filter) {
				return errs.New(errs.Usage, "invalid --filter %q: a libvirt nwfilter name, or none", output.Escape(opts.Filter))
			}
			opts.filterSet = cmd.Flags().Changed("filter")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runNICAttach(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Network, "network", "", "libvirt `NETWORK` to attach to")
	fl.StringVar(&opts.Bridge, "bridge", "", "host `BRIDGE` to attach to")
	cmdutil.StringEnumFlag(cmd, &opts.Model, "model", "", "virtio", nicModels, "NIC model")
	fl.StringVar(&mac, "mac", "", "`MAC` address (default: chosen by libvirt)")
	fl.StringVar(&opts.Filter, "filter", profile.DefaultNetworkFilter, "libvirt nwfilter on the NIC, or none")
	addScopeFlags(cmd, &opts.Scope, attachLiveHelp, attachConfigHelp)
	fl.BoolVar(&opts.Update, "update-profile", false, "also add the NIC to the VM's profile as a [[network]] entry, keeping the file's comments")
	_ = cmd.RegisterFlagCompletionFunc("network", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		conn, err := f.Connect(ctx, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		defer conn.Close()
		names, err := conn.NetworkNames(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	f.AddOutputFlags(cmd)
	return cmd
}

// validBridge follows the kernel's rule for interface names.
func validBridge(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n")
}

// validFilter follows libvirt's rule for nwfilter names, as a profile's network_filter does.
func validFilter(s string) bool { return cmdutil.ValidateName("filter", s) == nil }

func runNICAttach(ctx context.Context, o *NICAttachOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = attachNIC(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "nic attach %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

func attachNIC(ctx context.Context, o *NICAttachOptions, d *virt.Domain) (model.DeviceChange, error) {
	change := model.DeviceChange{VM: d.Name, Kind: "nic", Action: "attached", Source: o.Network + o.Bridge}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	scope, err := o.Scope.resolve(d.Name, defs.Running)
	if err != nil {
		return change, err
	}
	before := map[string]bool{}
	for _, def := range []*libvirtxml.Domain{defs.Config, defs.Live} {
		if def == nil {
			continue
		}
		for _, n := range def.Devices.Interfaces {
			if n.MAC != nil {
				before[strings.ToLower(n.MAC.Address)] = true
			}
		}
	}
	if o.MAC != "" {
		if before[o.MAC] {
			return change, errs.New(errs.Conflict, "%s already has a NIC with MAC %s", d.Name, o.MAC)
		}
		users, err := d.Conn().MACUsers(ctx)
		if err != nil {
			return change, err
		}
		if other := users[o.MAC]; other != "" {
			return change, errs.New(errs.Conflict, "MAC %s is taken by %s", o.MAC, other).
				WithHint("two NICs with one MAC on a network break each other; leave --mac out to get a free one")
		}
	}
	prof := profileOf(ctx, d)
	r := revert.New()
	defer r.Fail()
	var edit *profileEdit
	var nic libvirtxml.DomainInterface
	if o.Update {
		if edit, nic, err = profileNIC(ctx, o, d, prof); err != nil {
			return change, err
		}
		r.Add(edit.discard)
	} else {
		nic = libvirtxml.DomainInterface{Model: &libvirtxml.DomainInterfaceModel{Type: o.Model}}
		if o.Network != "" {
			nic.Source = &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: o.Network}}
		} else {
			nic.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: o.Bridge}}
		}
		if o.MAC != "" {
			nic.MAC = &libvirtxml.DomainInterfaceMAC{Address: o.MAC}
		}
		if o.Filter != "none" {
			nic.FilterRef = &libvirtxml.DomainInterfaceFilterRef{Filter: o.Filter}
		}
	}
	x, err := nic.Marshal()
	if err != nil {
		return change, err
	}
	if err := d.AttachDevice(ctx, x, scope); err != nil {
		return change, attachError(err, d.Name, scope)
	}
	r.Success()
	change.Live, change.Config, change.MAC = scope.Live, scope.Config, o.MAC
	// Read back what libvirt chose: the MAC when none was given, the host-side device.
	if after, err := d.Definitions(ctx); err == nil {
		for _, def := range []*libvirtxml.Domain{after.Live, after.Config} {
			if def == nil {
				continue
			}
			for _, n := range def.Devices.Interfaces {
				if n.MAC == nil {
					continue
				}
				m := strings.ToLower(n.MAC.Address)
				if change.MAC == "" && !before[m] {
					change.MAC = m
				}
				if m == change.MAC && n.Target != nil && change.Target == "" {
					change.Target = n.Target.Dev
				}
			}
		}
	}
	what := "the NIC"
	if change.MAC != "" {
		what = "NIC " + change.MAC
	}
	noteAttach(o.F, d.Name, what, scope, defs.Running)
	if edit != nil {
		change.Profile = edit.path
		return change, edit.commit()
	}
	warnProfile(o.F, d.Name, prof, scope)
	return change, nil
}

// profileNIC prepares the profile with the new [[network]] entry and returns the interface it
// renders for it, the profile's network_filter on it.
func profileNIC(ctx context.Context, o *NICAttachOptions, d *virt.Domain, prof string) (*profileEdit, libvirtxml.DomainInterface, error) {
	var keys [][2]string
	if o.Network != "" {
		keys = append(keys, [2]string{"network", tomlString(o.Network)})
	} else {
		keys = append(keys, [2]string{"bridge", tomlString(o.Bridge)})
	}
	if o.MAC != "" {
		keys = append(keys, [2]string{"mac", tomlString(o.MAC)})
	}
	if o.Model != "virtio" {
		keys = append(keys, [2]string{"model", tomlString(o.Model)})
	}
	edit, err := prepareProfileEdit(o.F, d.Name, prof, "network", keys)
	if err != nil {
		return nil, libvirtxml.DomainInterface{}, err
	}
	fail := func(err error) (*profileEdit, libvirtxml.DomainInterface, error) {
		edit.discard()
		return nil, libvirtxml.DomainInterface{}, err
	}
	def, err := edit.render(ctx, o.F, d.Conn())
	if err != nil {
		return fail(err)
	}
	n := len(edit.after.Networks)
	if len(def.Devices.Interfaces) != n {
		return fail(errs.New(errs.Failure, "--update-profile: the profile renders %d NICs for its %d [[network]] entries", len(def.Devices.Interfaces), n))
	}
	nic := def.Devices.Interfaces[n-1]
	filter := "none"
	if nic.FilterRef != nil {
		filter = nic.FilterRef.Filter
	}
	if o.filterSet && o.Filter != filter {
		return fail(errs.New(errs.Usage, "--update-profile: the profile puts filter %s on its NICs, not %s", filter, o.Filter).
			WithHint("leave --filter out, or change network_filter in the profile"))
	}
	return edit, nic, nil
}
