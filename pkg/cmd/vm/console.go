package vm

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// escapeByte is Ctrl-], as in virsh and telnet.
const escapeByte = 0x1d

// ConsoleOptions of `vm console`.
type ConsoleOptions struct {
	F      *cmdutil.Factory
	Name   string
	Device string
	Force  bool
}

// NewCmdConsole builds `vm console`.
func NewCmdConsole(f *cmdutil.Factory, runF func(context.Context, *ConsoleOptions) error) *cobra.Command {
	opts := &ConsoleOptions{F: f}
	cmd := &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to a running VM's serial console (Ctrl-] leaves)",
		Long: `Connect the terminal to the VM's serial console over a libvirt stream. Ctrl-] detaches.
It needs a terminal on stdin and stdout and refuses to run without one (use the guest
agent or ssh for scripts).`,
		Example:           "  vmctl console web01",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: "none"},
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runConsole(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Device, "device", "", "console or serial device alias (default: the first console)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "take the console over from another session holding it")
	return cmd
}

func runConsole(ctx context.Context, o *ConsoleOptions) error {
	ios := o.F.IO
	if !ios.IsStdinTTY() || !ios.IsStdoutTTY() {
		return errs.New(errs.Usage, "console needs a terminal on stdin and stdout").
			WithHint("for scripts, use the guest agent or ssh; vmctl ip NAME finds the address")
	}
	if err := cmdutil.ValidateLookupName("VM", o.Name); err != nil {
		return err
	}
	openCtx, cancel := virt.WithTimeout(ctx, cmdutil.DefaultTimeout)
	defer cancel()
	conn, err := o.F.Connect(openCtx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	d, err := conn.Domain(openCtx, o.Name)
	if err != nil {
		return errs.Wrap(err, "console %s", o.Name)
	}
	defer d.Free()
	stream, err := d.OpenConsole(openCtx, o.Device, o.Force)
	if err != nil {
		return errs.Wrap(err, "console %s", o.Name)
	}

	if in, ok := ios.In.(*os.File); ok {
		if old, err := term.MakeRaw(int(in.Fd())); err == nil {
			defer func() { _ = term.Restore(int(in.Fd()), old) }()
		}
	}
	fmt.Fprintf(ios.ErrOut, "Connected to %s's console. Escape character is ^]\r\n", o.Name)

	received := make(chan error, 1)
	go func() { // guest → terminal
		_, err := stream.CopyTo(ios.Out)
		received <- err
	}()
	typed := make(chan error, 1)
	go func() { // terminal → guest, watching for the escape byte
		buf := make([]byte, 1024)
		for {
			n, err := ios.In.Read(buf)
			for i := 0; i < n; i++ {
				if buf[i] == escapeByte {
					if i > 0 {
						_ = stream.Send(buf[:i])
					}
					typed <- nil
					return
				}
			}
			if n > 0 {
				if err := stream.Send(buf[:n]); err != nil {
					typed <- err
					return
				}
			}
			if err != nil {
				typed <- nil
				return
			}
		}
	}()
	recvDone := false
	select {
	case err = <-received:
		recvDone = true
	case err = <-typed:
	case <-ctx.Done():
		err = ctx.Err()
	}
	// The receive goroutine must have left Recv before the stream is freed: Abort wakes it.
	// Should it not come back, the stream is left to the process's end rather than freed
	// under it.
	stream.Abort()
	if !recvDone {
		select {
		case <-received:
			recvDone = true
		case <-time.After(5 * time.Second):
		}
	}
	if recvDone {
		stream.Free()
	}
	fmt.Fprint(ios.ErrOut, "\r\n")
	if err != nil {
		return errs.Wrap(err, "console %s", o.Name)
	}
	return nil
}
