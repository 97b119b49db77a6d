package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// GuestPasswordOptions of `vm guest password`. The password never comes from argv, where
// every user of the host could read it in /proc.
type GuestPasswordOptions struct {
	F       *cmdutil.Factory
	Name    string
	User    string
	Crypted bool
}

// maxPassword bounds what is read from stdin: a password or a crypt(3) hash, not a file.
const maxPassword = 4096

// NewCmdGuestPassword builds `vm guest password`.
func NewCmdGuestPassword(f *cmdutil.Factory, runF func(context.Context, *GuestPasswordOptions) error) *cobra.Command {
	opts := &GuestPasswordOptions{F: f}
	cmd := &cobra.Command{
		Use:         "password NAME USER",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Set a user's password in the guest through the agent (read from stdin, never argv)",
		Long: `Set USER's password inside the running guest through qemu-guest-agent (it runs chpasswd
in the guest). The password is read from stdin: asked twice without echo on a terminal,
else the first line of what is piped (one trailing newline removed). It is never taken from
the command line, where every user of the host could read it. --crypted says it is already a
crypt(3) hash ($6$…), set as it is.`,
		Example: `  vmctl guest password web01 root
  printf '%s\n' "$NEW_PASSWORD" | vmctl guest password web01 ops
  openssl passwd -6 -stdin <secret.txt | vmctl guest password web01 ops --crypted`,
		Args:              cmdutil.ExactArgs(2, "a VM name and a user name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.User = args[0], args[1]
			if opts.User == "" || strings.ContainsAny(opts.User, ":\n") {
				return errs.New(errs.Usage, "invalid user name %q", output.Escape(opts.User))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGuestPassword(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Crypted, "crypted", false, "the password read is already a crypt(3) hash")
	f.AddOutputFlags(cmd)
	return cmd
}

func runGuestPassword(ctx context.Context, o *GuestPasswordOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	password, err := readPassword(o)
	if err != nil {
		return errs.Wrap(err, "guest password %s", o.Name)
	}
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error {
		return d.SetUserPassword(ctx, o.User, password, o.Crypted)
	})
	if err != nil {
		return errs.Wrap(err, "guest password %s", o.Name)
	}
	r := model.GuestAction{Name: o.Name, Action: "password_set", User: o.User}
	return output.Object(o.F.IO.Out, format, r, [][2]string{{"name", r.Name}, {"user", r.User}, {"action", r.Action}})
}

// readPassword asks twice without echo on a terminal, else reads the first line of stdin.
func readPassword(o *GuestPasswordOptions) (string, error) {
	ios := o.F.IO
	if f, ok := ios.In.(*os.File); ok && ios.IsStdinTTY() && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(ios.ErrOut, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(ios.ErrOut)
			return string(b), err
		}
		p1, err := ask(fmt.Sprintf("New password for %s in %s: ", o.User, o.Name))
		if err != nil {
			return "", err
		}
		p2, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errs.New(errs.Usage, "the two passwords differ; nothing was changed")
		}
		return nonEmpty(p1)
	}
	if ios.In == nil {
		return "", errs.New(errs.Usage, "no password: pipe it to stdin")
	}
	b, err := io.ReadAll(io.LimitReader(ios.In, maxPassword+1))
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > maxPassword {
		return "", errs.New(errs.Usage, "stdin holds more than %d bytes: not a password", maxPassword)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return nonEmpty(strings.TrimSuffix(string(line), "\r"))
}

func nonEmpty(p string) (string, error) {
	if p == "" {
		return "", errs.New(errs.Usage, "empty password; nothing was changed").
			WithHint("pipe it to stdin: printf '%%s\\n' \"$PASSWORD\" | vmctl guest password VM USER")
	}
	return p, nil
}
