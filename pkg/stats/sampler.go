package stats

import (
	"context"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Sampler takes samples of one host for a command that samples more than once (vmctl stats
// --count, metrics serve) or must not stall (every scrape), bounded by each sample's context.
//
// NOWAIT lets a sample skip a domain whose job another call holds, but the call that holds the
// job of a domain whose QEMU does not answer (SIGSTOPped, wedged) waits for its monitor with no
// limit, and on a real daemon other calls on that same connection were seen to wait behind it.
// So when a sample has not answered by half of its time, the Sampler retires its connection
// (it closes itself once the stuck call returns, see virt.Conn.CloseWhenIdle) and asks again on
// a fresh one: that call finds the hung domain's job held and answers for every domain, the
// hung one with TimedOut set. The fresh connection serves the samples after it, which skip the
// hung domain at once while the stuck call lasts.
//
// What timed-out samples leave behind is bounded: one retired connection per stuck call (one
// per hung domain; with a frozen daemon, one), and at most one connect in flight — samples that
// find the daemon not answering a connect wait for that attempt instead of starting their own.
type Sampler struct {
	// Open connects to the host. It is not bounded by any one sample: later samples wait
	// for the same attempt.
	Open func(context.Context) (*virt.Conn, error)
	// Read takes one sample on a connection; Sample (this package's) when nil.
	Read func(context.Context, *virt.Conn) (model.StatsSample, error)

	mu      sync.Mutex
	conn    *virt.Conn
	pending chan struct{} // closed when the connect in flight ends; nil when none runs
	openErr error         // how the last connect failed
}

// hedgeDefault is when a sample without a deadline asks again.
const hedgeDefault = 5 * time.Second

// Sample takes one sample within ctx (see Sampler).
func (s *Sampler) Sample(ctx context.Context) (model.StatsSample, error) {
	read := s.Read
	if read == nil {
		read = Sample
	}
	conn, err := s.get(ctx)
	if err != nil {
		return model.StatsSample{}, err
	}
	wait := hedgeDefault
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl) / 2
	}
	first, cancel := context.WithTimeout(ctx, wait)
	smp, err := read(first, conn)
	cancel()
	if err == nil || ctx.Err() != nil || first.Err() != context.DeadlineExceeded {
		s.failed(conn, err)
		return smp, err
	}
	// A call is stuck on conn: get retires it. Ask again on a fresh connection.
	if conn, err = s.get(ctx); err != nil {
		return model.StatsSample{}, err
	}
	smp, err = read(ctx, conn)
	s.failed(conn, err)
	return smp, err
}

// get returns the connection, opening it (one attempt at a time) when there is none or the
// one there was is lost or has a call stuck on it, which retires it.
func (s *Sampler) get(ctx context.Context) (*virt.Conn, error) {
	s.mu.Lock()
	if c := s.conn; c != nil {
		if !lost(c) && c.Unanswered() == 0 {
			s.mu.Unlock()
			return c, nil
		}
		s.conn = nil
		c.CloseWhenIdle()
	}
	if s.pending == nil {
		done := make(chan struct{})
		s.pending = done
		go func() {
			c, err := s.Open(context.Background())
			s.mu.Lock()
			s.conn, s.openErr, s.pending = c, err, nil
			s.mu.Unlock()
			close(done)
		}()
	}
	done := s.pending
	s.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		if ctx.Err() == context.Canceled {
			return nil, &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: ctx.Err()}
		}
		return nil, errs.New(errs.Timeout, "connect to libvirt: no answer in time").
			WithHint("is the daemon stuck or overloaded? check the libvirtd log")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil:
		return s.conn, nil
	case s.openErr != nil:
		return nil, s.openErr
	}
	return nil, errs.New(errs.Unreachable, "connect to libvirt: the connection was lost at once")
}

// lost says whether libvirt tore c down (keepalive expired, daemon gone).
func lost(c *virt.Conn) bool {
	select {
	case <-c.Lost():
		return true
	default:
		return false
	}
}

// failed retires c after an error that says the daemon is gone, so the next sample reconnects.
// (A call still stuck on c retires it at the next get.)
func (s *Sampler) failed(c *virt.Conn, err error) {
	if err == nil || errs.KindOf(err) != errs.Unreachable {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == c {
		s.conn = nil
		c.CloseWhenIdle()
	}
}

// Close closes the connection in use, for a command that is done sampling; a connection with a
// stuck call is left to the process's exit (virt.Conn.Close).
func (s *Sampler) Close() {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.mu.Unlock()
	c.Close()
}
