package vm

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// SSHOptions of `vm ssh`.
type SSHOptions struct {
	F       *cmdutil.Factory
	VM      string
	User    string
	Sources []string
	Args    []string // after --: ssh options and the remote command
	// LookPath finds ssh and Exec replaces this process with it (exec.LookPath, syscall.Exec);
	// tests capture the call instead.
	LookPath func(string) (string, error)
	Exec     func(path string, argv, env []string) error
}

// NewCmdSSH builds `vm ssh`.
func NewCmdSSH(f *cmdutil.Factory, runF func(context.Context, *SSHOptions) error) *cobra.Command {
	opts := &SSHOptions{F: f, LookPath: exec.LookPath, Exec: syscall.Exec}
	cmd := &cobra.Command{
		Use:   "ssh VM [-- SSH-ARGS...]",
		Short: "Wait for a VM's address and ssh into it",
		Long: `Wait (up to --timeout, 2 minutes by default) until the running VM has an address — from
the DHCP lease, the guest agent or the ARP table, as 'vmctl wait --for ip' does — then run
ssh in this process's place. The user is --user, else the cloud-init user of the profile
hvctl made the VM from, else ssh's own default. ssh checks the host key under the VM's name
(HostKeyAlias), so a new DHCP address does not look like a new host. What follows -- goes
to ssh: options, then the remote command.`,
		Example: `  vmctl ssh web01
  vmctl ssh web01 --user root -- -i ~/.ssh/lab uptime
  vmctl start web01 && vmctl ssh web01 -- sudo journalctl -b`,
		Args: func(cmd *cobra.Command, args []string) error {
			if line, ok := dashedLine(f, cmd); ok && cmd.ArgsLenAtDash() < 0 {
				return errs.New(errs.Usage, "ssh: put ssh's arguments after --: %s", line).
					WithHint("%s reads the flags before -- as its own", cmd.CommandPath())
			}
			if n := cmd.ArgsLenAtDash(); n == 0 || n > 1 || n < 0 && len(args) != 1 {
				return errs.New(errs.Usage, "%s takes one VM, then optionally -- and ssh's arguments", cmd.CommandPath()).
					WithHint("e.g. vmctl ssh web01 -- uptime")
			}
			return nil
		},
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "2m"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.Args = args[0], args[1:]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if opts.User != "" {
				if err := cmdutil.ValidateName("user", opts.User); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSSH(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.User, "user", "l", "", "log in as `USER` (default: the profile's cloud-init user)")
	cmdutil.StringSliceEnumFlag(cmd, &opts.Sources, "source", "", AddressSources, AddressSources, "where to look for the address, in order")
	dashFlagErrors(f, cmd, "ssh's arguments")
	return cmd
}

func runSSH(ctx context.Context, o *SSHOptions) error {
	path, err := o.LookPath("ssh")
	if err != nil {
		return errs.New(errs.NotFound, "ssh: no ssh client in PATH").WithHint("install openssh-client")
	}
	var addrs []model.Address
	var meta string
	err = withDomain(ctx, o.F, o.VM, true, func(d *virt.Domain) error {
		if meta, err = d.Metadata(ctx, domainxml.Namespace); err != nil {
			return err
		}
		addrs, err = d.WaitAddresses(ctx, o.Sources)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "ssh %s", o.VM)
	}
	user := o.User
	if user == "" && meta != "" {
		user = profileUser(o.F, meta)
	}
	addr := pickAddress(addrs)
	o.F.Infof("%s: ssh to %s at %s", o.F.Prog, o.VM, addr)
	// ssh replaces this process: the command's deadline bounded the wait, not the session.
	return o.Exec(path, sshArgs(o.VM, user, addr, o.Args), os.Environ())
}

// profileUser is the cloud-init user of the profile hvctl's metadata names, if that profile
// is in the profiles directory and loads; "" otherwise.
func profileUser(f *cmdutil.Factory, meta string) string {
	info, err := domainxml.ParseMetadata(meta)
	if err != nil || info.Profile == "" {
		return ""
	}
	lo, _, err := profileOptions(f)
	if err != nil {
		return ""
	}
	path, err := profile.Resolve(info.Profile, lo.Dir)
	if err != nil {
		return ""
	}
	p, err := profile.Load(path, lo)
	if err != nil || p.CloudInit == nil {
		return ""
	}
	return p.CloudInit.User
}

// pickAddress prefers IPv4 (reachable without a zone), then the first address.
func pickAddress(addrs []model.Address) string {
	if i := slices.IndexFunc(addrs, func(a model.Address) bool { return a.Family == "ipv4" }); i >= 0 {
		return addrs[i].Address
	}
	return addrs[0].Address
}

// sshArgs is ssh's argv: the host key checked under the VM's name, the user's options, then
// [user@]address and the remote command. ssh takes options before the destination, so the
// extra arguments that start with '-' (and their values) go first; the first that does not is
// the remote command.
func sshArgs(vm, user, addr string, extra []string) []string {
	argv := []string{"ssh", "-o", "HostKeyAlias=" + vm}
	dest := addr
	if user != "" {
		dest = user + "@" + addr
	}
	opts, cmd := splitSSHArgs(extra)
	argv = append(argv, opts...)
	argv = append(argv, dest)
	return append(argv, cmd...)
}

// sshValueFlags are ssh's options that take a value (ssh(1)).
const sshValueFlags = "BbcDEeFIiJLlmOoPpQRSWw"

// splitSSHArgs splits args into ssh's options and the remote command.
func splitSSHArgs(args []string) (opts, cmd []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, args[i+1:]
		}
		if len(a) < 2 || a[0] != '-' {
			return opts, args[i:]
		}
		opts = append(opts, a)
		// -o X or -oX: the value is the next argument only when the flag stands alone.
		if last := a[len(a)-1]; len(a) == 2 && strings.IndexByte(sshValueFlags, last) >= 0 && i+1 < len(args) {
			i++
			opts = append(opts, args[i])
		}
	}
	return opts, nil
}
