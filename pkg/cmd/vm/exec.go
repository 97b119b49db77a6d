package vm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/guestagent"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ExecOptions of `vm exec`.
type ExecOptions struct {
	F       *cmdutil.Factory
	Name    string
	Command []string
	Env     []string
	Cwd     string
	NoStdin bool
	Timeout time.Duration // the guest process is killed when it passes
}

// defaultGuestPath is the PATH a command gets when --env replaces the agent's environment.
const defaultGuestPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// execKillWait bounds the kill and reap after --timeout or an interrupt; the command's own
// deadline has that much slack on top of --timeout.
const execKillWait = 10 * time.Second

// NewCmdExec builds `vm exec`.
func NewCmdExec(f *cmdutil.Factory, runF func(context.Context, *ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{F: f}
	cmd := &cobra.Command{
		Use:   "exec NAME [--env K=V]... [--cwd DIR] -- COMMAND [ARG...]",
		Short: "Run a command in a VM through the guest agent and exit with its status",
		Long: `Run COMMAND in the running VM through qemu-guest-agent (guest-exec): no network, no
ssh, no shell (run 'sh -c …' for one). stdin is sent to it when it is not a terminal
(-n: never; at most 128 KiB, in one piece); its stdout and stderr are written to ours
when it has ended, as the agent buffers them (the agent keeps 16 MiB of each and says
when it dropped the rest; libvirt carries about 3 MiB of both together).

Exit status: the guest process's own exit code (0-255), or 128+N when signal N ended it,
as a shell gives. hvctl's own failures keep their codes (2 usage, 3 no such VM, 4 not
running, 5 --timeout passed, 7 the agent's policy disables guest-exec, 11 no agent …)
and always print a line starting with 'vmctl:' on stderr; a guest command never makes
hvctl print one. With --json, stdout carries the result (exit_code, signal, stdout,
stderr, truncation, timed_out) exactly when the guest process ran; a failure of hvctl's
is the error object on stderr instead.

--timeout (default 5m) bounds the guest process: when it passes, the process and every
process it started are killed in the guest (it runs under setsid; kill -9 of its group),
what it wrote so far is printed, and exec exits 5. Ctrl-C kills it the same way.
--env replaces the agent's environment for the command, as guest-exec does; PATH is
the usual one unless --env sets it. --cwd needs an agent whose guest-exec takes a working directory; others are refused.
libvirt marks a VM that had raw agent commands as tainted (custom-ga-command) in its log.`,
		Example: `  vmctl exec web01 -- uname -a
  vmctl exec web01 --timeout 10m -- apt-get -y upgrade
  vmctl exec db01 -- sh -c 'pg_dump app | gzip' > app.sql.gz
  echo 'hello' | vmctl exec web01 -- tee /tmp/greeting
  vmctl exec web01 --json -- systemctl is-active nginx | jq .exit_code`,
		Annotations: cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnTimeout: "5m", cmdutil.AnnSlack: (execKillWait + 5*time.Second).String(),
			cmdutil.AnnTimeoutHelp: "5m, after which the guest process is killed (exit 5)"}),
		ValidArgsFunction: completeVMs(f, false),
		// Checked before the root's flag checks, so that `ps -o pid` says to use -- rather
		// than that pid is no output format.
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 {
				line, ok := dashedLine(f, cmd)
				if !ok {
					line = cmd.CommandPath() + " NAME -- COMMAND [ARG...]"
				}
				return errs.New(errs.Usage, "exec: put the command after --: %s", line).
					WithHint("%s reads the flags before -- as its own", cmd.CommandPath())
			}
			if dash != 1 || len(args) == dash {
				return errs.New(errs.Usage, "exec takes one VM name before -- and a command after it").
					WithHint("see '%s --help'", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Command = args[0], args[1:]
			for _, kv := range opts.Env {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					return errs.New(errs.Usage, "--env %q: want KEY=VALUE", kv)
				}
			}
			if len(opts.Env) > 0 && !slices.ContainsFunc(opts.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
				// guest-exec's env replaces the agent's whole environment: keep commands findable.
				opts.Env = append([]string{defaultGuestPath}, opts.Env...)
			}
			opts.Timeout, _ = f.EffectiveTimeout(cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExec(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "set an environment variable for the command (`KEY=VALUE`, repeatable)")
	fl.StringVar(&opts.Cwd, "cwd", "", "working `DIR`ectory in the guest (agents that support it)")
	fl.BoolVarP(&opts.NoStdin, "no-stdin", "n", false, "send nothing to the command's stdin, even from a pipe")
	f.AddOutputFlags(cmd)
	dashFlagErrors(f, cmd, "the command")
	return cmd
}

func runExec(ctx context.Context, o *ExecOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	stdin, err := readStdin(ctx, o)
	if err != nil {
		return errs.Wrap(err, "exec %s", o.Name)
	}
	start := o.F.Now()
	var (
		pid      int
		st       guestagent.ExecStatus
		timedOut bool
	)
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error {
		c := &guestagent.Client{T: d, VM: o.Name}
		runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		var group bool
		pid, group, err = c.Start(runCtx, o.Command, o.Env, stdin, o.Cwd)
		if err != nil {
			if o.Cwd != "" && strings.Contains(err.Error(), "'cwd' is unexpected") {
				return cwdUnsupported(ctx, c)
			}
			return err
		}
		st, err = c.Wait(runCtx, pid)
		if err == nil || runCtx.Err() == nil {
			return err
		}
		// --timeout passed or we were interrupted: end the process in the guest (under a
		// bound of its own, as ctx may be the one that ended), and keep what it wrote.
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), execKillWait)
		defer kcancel()
		last, kerr := c.Kill(kctx, pid, group)
		if ctx.Err() != nil {
			if kerr != nil {
				return errs.New(errs.Interrupted, "interrupted; process %d may still run in the guest: %v", pid, kerr)
			}
			return errs.New(errs.Interrupted, "interrupted; killed process %d in the guest", pid)
		}
		if kerr != nil {
			return errs.New(errs.Timeout, "%s did not end within %s, and killing it failed: %v", o.Command[0], o.Timeout, kerr).
				WithHint("process %d may still run in the guest", pid)
		}
		st, timedOut = last, true
		return nil
	})
	if err != nil {
		return errs.Wrap(err, "exec %s", o.Name)
	}
	res := execResult(o, pid, st, timedOut, o.F.Now().Sub(start))
	if format.IsJSON() {
		if err := output.WriteJSON(o.F.IO.Out, format, res); err != nil {
			return err
		}
	} else {
		if _, err := o.F.IO.Out.Write(st.Stdout); err != nil {
			return err
		}
		if _, err := o.F.IO.ErrOut.Write(st.Stderr); err != nil {
			return err
		}
	}
	if st.StdoutTruncated {
		o.F.Warnf("exec %s: the guest agent kept only the first %d MiB of stdout (out-truncated)", o.Name, guestagent.MaxOutput>>20)
	}
	if st.StderrTruncated {
		o.F.Warnf("exec %s: the guest agent kept only the first %d MiB of stderr (err-truncated)", o.Name, guestagent.MaxOutput>>20)
	}
	switch {
	case timedOut:
		return errs.New(errs.Timeout, "exec %s: %s did not end within %s; killed it in the guest", o.Name, o.Command[0], o.Timeout).
			WithHint("raise --timeout for longer commands")
	case st.Signal != nil:
		o.F.Warnf("exec %s: %s was ended by signal %s", o.Name, o.Command[0], guestagent.SignalName(*st.Signal))
	case res.ExitStatus != st.ExitStatus():
		o.F.Warnf("exec %s: %s exited %d, which no exit status can carry; vmctl exits 1", o.Name, o.Command[0], st.ExitStatus())
	}
	if res.ExitStatus == 0 {
		return nil
	}
	return &errs.Status{Code: res.ExitStatus}
}

// execResult is the JSON result; ExitStatus is what vmctl exits with.
func execResult(o *ExecOptions, pid int, st guestagent.ExecStatus, timedOut bool, took time.Duration) model.ExecResult {
	r := model.ExecResult{
		Name: o.Name, Command: o.Command, PID: pid, ExitCode: st.ExitCode, Signal: st.Signal, TimedOut: timedOut,
		StdoutTruncated: st.StdoutTruncated, StderrTruncated: st.StderrTruncated, DurationSeconds: took.Seconds(),
	}
	r.Stdout, r.StdoutBase64 = textOrBase64(st.Stdout)
	r.Stderr, r.StderrBase64 = textOrBase64(st.Stderr)
	switch s := st.ExitStatus(); {
	case timedOut:
		r.ExitStatus = errs.Timeout.ExitCode()
		if st.Signal != nil { // the kill: not the process's own end
			r.ExitCode = nil
		}
	case s < 0 || s > 255:
		r.ExitStatus = 1
	default:
		r.ExitStatus = s
	}
	return r
}

func textOrBase64(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// readStdin reads what is piped to us, bounded by guestagent.MaxStdin and by ctx (a pipe
// that never closes must not hang the command past its deadline).
func readStdin(ctx context.Context, o *ExecOptions) ([]byte, error) {
	in := o.F.IO.In
	if o.NoStdin || in == nil || o.F.IO.IsStdinTTY() {
		return nil, nil
	}
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(in, guestagent.MaxStdin+1))
		ch <- res{b, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("read stdin: %w", r.err)
		}
		if len(r.b) > guestagent.MaxStdin {
			return nil, errs.New(errs.Usage, "stdin is more than %d bytes, what guest-exec takes in one piece", guestagent.MaxStdin).
				WithHint("copy the data in first: vmctl cp FILE %s:/tmp/FILE; or -n to send no stdin", o.Name)
		}
		return r.b, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, errs.New(errs.Interrupted, "interrupted")
		}
		return nil, errs.New(errs.Timeout, "stdin did not end within the command's deadline").
			WithHint("close stdin, or pass -n when the command needs none")
	}
}

// cwdUnsupported is the refusal of --cwd by an agent whose guest-exec has no working directory.
func cwdUnsupported(ctx context.Context, c *guestagent.Client) error {
	version := "an older version"
	if in, err := c.Info(ctx); err == nil && in.Version != "" {
		version = "qemu-ga " + in.Version
	}
	return errs.New(errs.Usage, "--cwd: the guest agent of %s (%s) cannot set a working directory for guest-exec", c.VM, version).
		WithHint("use a shell instead: vmctl exec %s -- sh -c 'cd DIR && exec COMMAND'", c.VM)
}
