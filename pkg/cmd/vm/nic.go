package vm

import (
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// NewCmdNIC builds `vm nic` and its subcommands, one file each.
func NewCmdNIC(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "nic",
		Aliases: []string{"interface"},
		Short:   "Attach, detach, list and link a VM's network interfaces",
		Long: `Change a VM's network interfaces while it runs or not, as vmctl disk does its disks: a running
VM gets a change live and in its definition unless --live or --config narrows it, a stopped
one in its definition, and a change one definition alone has is said on stderr. An interface
is named by its MAC address or, while the VM runs, its host-side device (vnet3).`,
	}
	cmd.AddCommand(NewCmdNICAttach(f, nil), NewCmdNICDetach(f, nil), NewCmdNICList(f, nil), NewCmdNICLink(f, nil))
	return cmd
}

// nicModels are the NIC models a profile offers too.
var nicModels = []string{"virtio", "e1000e", "e1000", "rtl8139"}

// completeNICs completes a VM's name, then the MACs of its interfaces.
func completeNICs(f *cmdutil.Factory) cobra.CompletionFunc {
	return completeDevices(f, func(def *libvirtxml.Domain) []string {
		var out []string
		for _, n := range def.Devices.Interfaces {
			if n.MAC != nil {
				out = append(out, strings.ToLower(n.MAC.Address))
			}
		}
		return out
	})
}

// nicXML is an interface of a definition as a detach or update call wants it, without what
// only one definition has (alias, address).
func nicXML(nic libvirtxml.DomainInterface) (string, error) {
	nic.Alias, nic.Address = nil, nil
	return nic.Marshal()
}
