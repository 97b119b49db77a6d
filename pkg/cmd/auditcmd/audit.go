// Package auditcmd is auditctl: the security audit of a libvirt host and its VMs. The engine
// is pkg/audit; what people and tools get out of it (waivers, SARIF, JUnit) is pkg/auditreport.
package auditcmd

import (
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/spf13/cobra"
)

// NewCmdAudit builds the auditctl tree.
func NewCmdAudit(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "audit",
		Aliases: []string{"auditctl"},
		Short:   "Security audit of the host and its VMs",
		Long: `Audit a libvirt host and its VMs against the project's control catalogue (IDs such as
HOST-010, DAEMON-013, VM-007): the host's kernel and confinement, the QEMU driver's
configuration, every VM definition, the networks and the image stores. Each control
reports pass, fail, error (could not tell: never read as a pass) or skipped (does not
apply, e.g. host files of a remote libvirt host); a failure a waiver accepts is waived.`,
	}
	cmd.AddCommand(NewCmdRun(f, nil), NewCmdControls(f, nil), NewCmdExplain(f, nil))
	return cmd
}
