package guestagent

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// Size limits. libvirt carries an agent command and its reply as strings of at most 4 MiB
// (REMOTE_STRING_MAX); a reply over it fails in libvirtd with "Unable to encode message
// payload" and is lost. Commands are bounded far lower by the agent itself: measured with
// Debian 12's qemu-ga 7.2 and libvirt 9.0, a guest-file-write of 160 KiB (218 KB of JSON)
// takes 0.3 s, one of 192 KiB or more is never answered and leaves the agent unavailable for
// about a minute. So what hvctl sends stays at 128 KiB of data per command, and what it asks
// for (reads) at 1 MiB, 1.4 MiB as base64, which the agent sends at once.
const (
	// ReadChunk is the size of one guest-file-read.
	ReadChunk = 1 << 20
	// WriteChunk is the size of one guest-file-write.
	WriteChunk = 128 << 10
	// MaxStdin bounds what exec sends as a process's stdin, in its one guest-exec.
	MaxStdin = 128 << 10
)

// Transport sends one raw agent command and returns its reply; its errors are hvctl's, already
// classified (virt.Domain is the one implementation).
type Transport interface {
	AgentCommand(ctx context.Context, cmd string) (string, error)
}

// Client runs agent commands on one VM.
type Client struct {
	T  Transport
	VM string
	// CallTimeout, when set, bounds each agent call on its own: a long copy has a long
	// deadline, but an agent that stops answering fails it after this.
	CallTimeout time.Duration
}

func (c *Client) do(ctx context.Context, command string, args any) (string, error) {
	cmd, err := Encode(command, args)
	if err != nil {
		return "", err
	}
	if c.CallTimeout <= 0 {
		return c.T.AgentCommand(ctx, cmd)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.CallTimeout)
	defer cancel()
	r, err := c.T.AgentCommand(callCtx, cmd)
	if err != nil && ctx.Err() == nil && callCtx.Err() != nil {
		return "", errs.New(errs.Timeout, "%s: the guest agent of %s did not answer within %s", command, c.VM, c.CallTimeout).
			WithHint("is the guest frozen or overloaded? the agent may answer again in a while")
	}
	return r, err
}

// Info asks the agent for its version and enabled commands.
func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.do(ctx, "guest-info", nil)
	if err != nil {
		return Info{}, err
	}
	return DecodeInfo(r)
}

// Require fails with Disabled when the agent refuses any of commands by policy. An agent that
// refuses guest-info itself is let through: the commands then fail on use, as clearly.
func (c *Client) Require(ctx context.Context, commands ...string) (Info, error) {
	in, err := c.Info(ctx)
	if err != nil {
		if IsDisabledMessage(err.Error()) {
			return Info{}, nil
		}
		return Info{}, err
	}
	if off := in.Disabled(commands...); len(off) > 0 {
		return in, Disabled(c.VM, off...)
	}
	return in, nil
}

// Start runs argv in the guest with env, stdin and cwd, capturing its output. It runs under
// setsid, so the process leads a process group of its own that Kill can end whole (a shell's
// children included); a guest without setsid (a minimal image, Windows) runs argv directly and
// group is false. The agent starts processes from its own session, so setsid never forks there
// and the pid stays the process's.
func (c *Client) Start(ctx context.Context, argv, env []string, stdin []byte, cwd string) (pid int, group bool, err error) {
	r, err := c.do(ctx, "guest-exec", NewExecArgs(append([]string{"setsid"}, argv...), env, stdin, cwd))
	group = true
	if err != nil && missingProgram(err, "setsid") {
		group = false
		r, err = c.do(ctx, "guest-exec", NewExecArgs(argv, env, stdin, cwd))
	}
	if err != nil {
		return 0, false, err
	}
	pid, err = DecodePID(r)
	return pid, group, err
}

// missingProgram says whether err is the agent failing to start program (glib's "Failed to
// execute child process “setsid” (No such file or directory)").
func missingProgram(err error, program string) bool {
	msg := err.Error()
	return strings.Contains(msg, "No such file") &&
		(strings.Contains(msg, "“"+program+"”") || strings.Contains(msg, "\""+program+"\""))
}

// Status asks once for pid's status; once it says exited, the agent has forgotten pid.
func (c *Client) Status(ctx context.Context, pid int) (ExecStatus, error) {
	r, err := c.do(ctx, "guest-exec-status", map[string]int{"pid": pid})
	if err != nil {
		return ExecStatus{}, statusError(err)
	}
	return DecodeExecStatus(r)
}

// statusError explains the reply libvirt could not carry: the process's output was too large.
func statusError(err error) error {
	if strings.Contains(err.Error(), "Unable to encode message payload") {
		return errs.New(errs.Failure, "the process ended, but its output is more than libvirt carries in one message (about 3 MiB of stdout and stderr together, as base64 under 4 MiB); its output and status are lost").
			WithHint("send large output to a file in the guest and copy it out with 'vmctl cp VM:/path .'")
	}
	return err
}

// Wait polls pid until it has exited or ctx ends, from every 20 ms up to every 500 ms: short
// commands return at once, long ones cost the agent two calls a second.
func (c *Client) Wait(ctx context.Context, pid int) (ExecStatus, error) {
	delay := 20 * time.Millisecond
	for {
		s, err := c.Status(ctx, pid)
		if err != nil || s.Exited {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// Kill ends pid with SIGKILL (its whole process group when group) through the guest's kill,
// as the agent has no command of its own for it, then reaps it so the agent forgets it. It
// returns the process's last status, with whatever output it had written.
func (c *Client) Kill(ctx context.Context, pid int, group bool) (ExecStatus, error) {
	target := strconv.Itoa(pid)
	if group {
		target = "-" + target
	}
	kpid, _, err := c.start(ctx, []string{"kill", "-9", target})
	if err != nil {
		return ExecStatus{}, errs.Wrap(err, "kill process %d in the guest", pid)
	}
	if ks, err := c.Wait(ctx, kpid); err != nil {
		return ExecStatus{}, errs.Wrap(err, "kill process %d in the guest", pid)
	} else if ks.ExitStatus() != 0 {
		return ExecStatus{}, errs.New(errs.Failure, "kill process %d in the guest: kill exited %d: %s", pid, ks.ExitStatus(), strings.TrimSpace(string(ks.Stderr)))
	}
	return c.Wait(ctx, pid)
}

// start runs argv directly (no setsid): hvctl's own helpers, which end on their own.
func (c *Client) start(ctx context.Context, argv []string) (int, bool, error) {
	r, err := c.do(ctx, "guest-exec", NewExecArgs(argv, nil, nil, ""))
	if err != nil {
		return 0, false, err
	}
	pid, err := DecodePID(r)
	return pid, false, err
}

// Sh runs a shell script in the guest (/bin/sh -c SCRIPT sh ARGS…), waits for it and returns
// its status: the helpers of cp (stat, mv, rm). Arguments are passed as arguments, never
// pasted into the script.
func (c *Client) Sh(ctx context.Context, script string, args ...string) (ExecStatus, error) {
	pid, _, err := c.start(ctx, append([]string{"/bin/sh", "-c", script, "sh"}, args...))
	if err != nil {
		return ExecStatus{}, err
	}
	return c.Wait(ctx, pid)
}

// Open opens path in the guest with an fopen mode ("r", "w" …) and returns the agent's handle.
func (c *Client) Open(ctx context.Context, path, mode string) (int64, error) {
	r, err := c.do(ctx, "guest-file-open", map[string]string{"path": path, "mode": mode})
	if err != nil {
		return 0, err
	}
	return DecodeHandle(r)
}

// Read reads up to count bytes (at most ReadChunk) from handle h.
func (c *Client) Read(ctx context.Context, h int64, count int) (FileRead, error) {
	count = min(count, ReadChunk)
	r, err := c.do(ctx, "guest-file-read", map[string]int64{"handle": h, "count": int64(count)})
	if err != nil {
		return FileRead{}, err
	}
	return DecodeFileRead(r, count)
}

// Write writes data (at most WriteChunk bytes) to handle h; a short write is an error.
func (c *Client) Write(ctx context.Context, h int64, data []byte) error {
	if len(data) > WriteChunk {
		return errors.New("guest-file-write: chunk larger than guestagent.WriteChunk")
	}
	args := struct {
		Handle int64  `json:"handle"`
		Buf    string `json:"buf-b64"`
	}{h, encodeChunk(data)}
	r, err := c.do(ctx, "guest-file-write", args)
	if err != nil {
		return err
	}
	n, err := DecodeFileWrite(r)
	if err != nil {
		return err
	}
	if n != len(data) {
		return errs.New(errs.Failure, "guest-file-write: the guest wrote %d of %d bytes (is its file system full?)", n, len(data))
	}
	return nil
}

// CloseFile closes handle h.
func (c *Client) CloseFile(ctx context.Context, h int64) error {
	_, err := c.do(ctx, "guest-file-close", map[string]int64{"handle": h})
	return err
}
