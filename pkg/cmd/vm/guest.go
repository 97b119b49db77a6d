package vm

import (
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/spf13/cobra"
)

// NewCmdGuest builds `vm guest`: what the guest agent knows and does through libvirt's typed
// agent calls (which, unlike exec and cp, do not taint the domain).
func NewCmdGuest(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guest",
		Short: "Ask the guest agent about the guest, trim its file systems, set a password",
		Long: `Commands answered by qemu-guest-agent inside a running VM, through libvirt's own agent
calls. A VM without the agent's channel, or whose agent is not connected, is exit 11; a
command the agent's policy disables is exit 7, naming it and how to allow it.`,
	}
	cmd.AddCommand(NewCmdGuestInfo(f, nil), NewCmdGuestFSTrim(f, nil), NewCmdGuestPassword(f, nil))
	return cmd
}
