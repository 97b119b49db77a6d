package virt

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// Console is an open console stream. Recv runs in its own goroutine; the stream may be freed
// only once that goroutine has left Recv (Abort wakes it), or libvirt warns about — and
// touches — a freed object.
type Console struct {
	s     *libvirt.Stream
	c     *Conn
	d     *Domain
	mu    sync.Mutex // guards freed against Send from the keyboard goroutine
	freed bool
}

// ErrConsoleTaken is what a session learns when another one took the console with --force.
var ErrConsoleTaken = errors.New("another session took the console")

// OpenConsole attaches a stream to the domain's console (device "" is the first one).
func (d *Domain) OpenConsole(ctx context.Context, device string, force bool) (*Console, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return nil, err
	}
	if state != StateRunning && state != StatePaused {
		return nil, errs.New(errs.Conflict, "domain is %s, not running", state)
	}
	s, err := call(ctx, d.c, "console", func() (*libvirt.Stream, error) {
		st, err := d.c.c.NewStream(0)
		if err != nil {
			return nil, err
		}
		flags := libvirt.DOMAIN_CONSOLE_SAFE
		if force {
			flags |= libvirt.DOMAIN_CONSOLE_FORCE
		}
		if err := d.d.OpenConsole(device, st, flags); err != nil {
			_ = st.Free()
			return nil, err
		}
		return st, nil
	})
	if IsCode(err, libvirt.ERR_OPERATION_FAILED) && strings.Contains(err.Error(), "console session") {
		// QEMU's "Active console session exists for this domain".
		return nil, errs.New(errs.Conflict, "the console is open in another session").
			WithHint("--force takes it over (the other session is told and detached)")
	}
	if err != nil {
		return nil, err
	}
	return &Console{s: s, c: d.c, d: d}, nil
}

// CopyTo copies what the guest writes to w until the stream ends. A stream that fails while
// the daemon is still there and the VM still runs was taken by another session
// (ErrConsoleTaken); one that fails with the daemon gone is the daemon's.
func (c *Console) CopyTo(w io.Writer) (int64, error) {
	buf := make([]byte, 4096)
	var total int64
	for {
		n, err := c.s.Recv(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err != nil {
			return total, c.recvError(err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

func (c *Console) recvError(err error) error {
	if alive, aerr := c.c.c.IsAlive(); aerr == nil && alive {
		if state, _, serr := c.d.State(context.Background()); serr == nil && (state == StateRunning || state == StatePaused) {
			return &errs.Error{Kind: errs.Conflict, Msg: ErrConsoleTaken.Error(), Err: ErrConsoleTaken}
		}
	}
	return c.c.mapError(err)
}

// Send writes to the guest's console.
func (c *Console) Send(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		return io.ErrClosedPipe
	}
	for len(p) > 0 {
		n, err := c.s.Send(p)
		if err != nil {
			return c.c.mapError(err)
		}
		p = p[n:]
	}
	return nil
}

// Abort ends the stream: a Recv in progress returns.
func (c *Console) Abort() { _ = c.s.Abort() }

// Free releases the stream; call it after Abort, once CopyTo has returned.
func (c *Console) Free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.freed {
		c.freed = true
		_ = c.s.Free()
	}
}
