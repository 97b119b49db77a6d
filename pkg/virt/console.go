package virt

import (
	"context"
	"io"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// Console is an open console stream.
type Console struct {
	s *libvirt.Stream
	c *Conn
}

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
	if err != nil {
		return nil, err
	}
	return &Console{s: s, c: d.c}, nil
}

// CopyTo copies what the guest writes to w until the stream ends.
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
			return total, c.c.mapError(err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

// Send writes to the guest's console.
func (c *Console) Send(p []byte) error {
	for len(p) > 0 {
		n, err := c.s.Send(p)
		if err != nil {
			return c.c.mapError(err)
		}
		p = p[n:]
	}
	return nil
}

// Close ends the stream.
func (c *Console) Close() {
	_ = c.s.Abort()
	_ = c.s.Free()
}
