package events

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// A Sink receives every record the loop emits, in order, on the loop's own goroutine (never on
// libvirt's event loop, which also runs keepalive). A Sink that returns an error ends the
// stream with it (stdout closed); one that must not end it (a broker that is down) buffers or
// drops and returns nil. The operations journal is a Sink (vmctl events --journal).
type Sink interface {
	Send(ev model.Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(model.Event) error

// Send calls f.
func (f SinkFunc) Send(ev model.Event) error { return f(ev) }

// Conn is what the loop needs of a libvirt connection; Adapt gives it for a *virt.Conn.
type Conn interface {
	// Subscribe registers for every event of kinds; emit must not block.
	Subscribe(ctx context.Context, kinds []string, emit func(model.Event)) (unsubscribe func(), unsupported []string, err error)
	ObjectStates(ctx context.Context, kinds []string) ([]model.Event, error)
	Hostname(ctx context.Context) (string, error)
	Lost() <-chan struct{}
	Close()
}

type virtConn struct{ *virt.Conn }

// Adapt makes a virt connection a Conn.
func Adapt(c *virt.Conn) Conn { return virtConn{c} }

func (c virtConn) Subscribe(ctx context.Context, kinds []string, emit func(model.Event)) (func(), []string, error) {
	s, unsupported, err := c.SubscribeEvents(ctx, kinds, emit)
	if err != nil {
		return nil, nil, err
	}
	return func() { s.Close(ctx) }, unsupported, nil
}

// Options of Run.
type Options struct {
	// Open connects to libvirt: once at the start (its error ends Run) and again after every
	// loss, bounded by AttemptTimeout each time.
	Open   func(ctx context.Context) (Conn, error)
	URI    string // for messages
	Kinds  []string
	Filter Filter
	Sinks  []Sink
	// Count ends the stream after that many matching libvirt events (0: no limit); Until after
	// the first matching event of one of its types. Records hvctl adds (state, resync,
	// disconnected) count for neither.
	Count int
	Until []string
	// Timeout is the deadline the caller put on ctx, for the message when Count or Until is
	// not reached by then (exit 5); without them, the deadline ends the stream normally.
	Timeout time.Duration
	Now     func() time.Time
	Warnf   func(format string, args ...any)
	// Backoff is the first wait between reconnection attempts; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	AttemptTimeout      time.Duration
}

// TimeFormat is the records' time: RFC 3339 in UTC with nanoseconds, fixed width so that
// records sort as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// queueLimit bounds the records waiting for the sinks (a consumer that stopped reading); past
// it the oldest are dropped and counted.
const queueLimit = 1 << 16

// queue takes records from libvirt's event loop without ever blocking it.
type queue struct {
	mu      sync.Mutex
	items   []model.Event
	dropped int
	ready   chan struct{}
}

func (q *queue) push(ev model.Event) {
	q.mu.Lock()
	if len(q.items) >= queueLimit {
		q.items = q.items[1:]
		q.dropped++
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) take() ([]model.Event, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, dropped := q.items, q.dropped
	q.items, q.dropped = nil, 0
	return items, dropped
}

type runner struct {
	o       Options
	q       *queue
	conn    Conn
	unsub   func()
	host    string
	seq     uint64
	matched int
}

// Run streams records to the sinks until Count or Until is reached (nil), ctx's deadline
// passes (nil, or a timeout error when Count or Until was not reached), ctx is cancelled
// (interrupted), a sink fails, or the first connection fails. A lost connection is not an end:
// Run emits a disconnected record, reconnects with backoff, subscribes again, and emits a
// resync record followed by the state of every selected object.
func Run(ctx context.Context, o Options) error {
	if len(o.Filter.Types) > 0 {
		// --until's types pass --type, or the stream could never end.
		o.Filter.Types = slices.Compact(slices.Sorted(slices.Values(slices.Concat(o.Filter.Types, o.Until))))
	}
	r := &runner{o: o, q: &queue{ready: make(chan struct{}, 1)}}
	// The first connection is bounded like every later one: a frozen daemon must not hold a
	// stream without --timeout forever.
	actx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
	conn, err := o.Open(actx)
	if err == nil {
		if err = r.attach(actx, conn, true); err != nil {
			conn.Close()
		}
	}
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		r.unsub()
		r.conn.Close()
	}()
	for {
		select {
		case <-r.q.ready:
			if done, err := r.drain(); done || err != nil {
				return err
			}
		case <-r.conn.Lost():
			if done, err := r.drain(); done || err != nil {
				return err
			}
			if done, err := r.reconnect(ctx); done || err != nil {
				if err == nil {
					return nil
				}
				if ctx.Err() != nil {
					return r.end(ctx)
				}
				return err
			}
		case <-ctx.Done():
			if done, err := r.drain(); done || err != nil {
				return err
			}
			return r.end(ctx)
		}
	}
}

// attach subscribes on a fresh connection and, after a reconnection, emits the resync
// record's followers: the state of every selected object. Subscribing comes first, so that no
// change between the state list and the subscription goes unseen.
func (r *runner) attach(ctx context.Context, c Conn, first bool) error {
	unsub, unsupported, err := c.Subscribe(ctx, r.o.Kinds, func(ev model.Event) {
		ev.Time = r.o.Now().UTC().Format(TimeFormat)
		r.q.push(ev)
	})
	if err != nil {
		return err
	}
	host, err := c.Hostname(ctx)
	if err != nil {
		unsub()
		return err
	}
	r.conn, r.unsub, r.host = c, unsub, host
	if first {
		// Only what the user asked for by name is worth a message: on an older libvirt every
		// stream would otherwise start with one.
		var asked []string
		for _, u := range unsupported {
			if _, typ, _ := strings.Cut(u, " "); slices.Contains(r.o.Filter.Types, typ) {
				asked = append(asked, u)
			}
		}
		if len(asked) > 0 {
			r.o.Warnf("this libvirt does not deliver %s events", strings.Join(asked, ", "))
		}
	}
	return nil
}

// drain emits the queued records; done when the stream has reached its end.
func (r *runner) drain() (bool, error) {
	items, dropped := r.q.take()
	if dropped > 0 {
		r.o.Warnf("the output did not keep up: %d events dropped", dropped)
	}
	for _, ev := range items {
		if done, err := r.emit(ev); done || err != nil {
			return true, err
		}
	}
	return false, nil
}

func (r *runner) emit(ev model.Event) (bool, error) {
	if !r.o.Filter.Match(ev) {
		return false, nil
	}
	r.seq++
	ev.Seq, ev.Host = r.seq, r.host
	if ev.Time == "" {
		ev.Time = r.o.Now().UTC().Format(TimeFormat)
	}
	if ev.Data == nil {
		ev.Data = struct{}{}
	}
	for _, s := range r.o.Sinks {
		if err := s.Send(ev); err != nil {
			return true, err
		}
	}
	if ev.Kind == virt.KindHost || ev.Type == TypeState {
		return false, nil
	}
	r.matched++
	if slices.Contains(r.o.Until, ev.Type) || r.o.Count > 0 && r.matched >= r.o.Count {
		return true, nil
	}
	return false, nil
}

// reconnect replaces a lost connection: a disconnected record, attempts with a doubling wait,
// then a resync record and the states. It gives up only when ctx ends.
func (r *runner) reconnect(ctx context.Context) (bool, error) {
	down := r.o.Now()
	r.unsub()
	r.conn.Close()
	if done, err := r.emit(model.Event{Kind: virt.KindHost, Type: TypeDisconnected,
		Data: model.EventDisconnectedData{URI: r.o.URI, Reason: "connection closed by libvirt (daemon stopped, restarted or unresponsive)"}}); done || err != nil {
		return done, err
	}
	r.o.Warnf("lost connection to %s; reconnecting", r.o.URI)
	wait := r.o.Backoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.o.AttemptTimeout)
		c, err := r.o.Open(actx)
		if err == nil {
			if err = r.attach(actx, c, false); err != nil {
				c.Close()
			}
		}
		var states []model.Event
		if err == nil {
			if states, err = c.ObjectStates(actx, r.o.Kinds); err != nil {
				r.unsub()
				c.Close()
			}
		}
		cancel()
		if err == nil {
			gap := r.o.Now().Sub(down)
			r.o.Warnf("reconnected to %s after %s (%d attempts); events of that time are lost, states follow", r.o.URI, gap.Round(time.Millisecond), attempt)
			if done, err := r.emit(model.Event{Kind: virt.KindHost, Type: TypeResync,
				Data: model.EventResyncData{Attempts: attempt, DownSeconds: gap.Seconds()}}); done || err != nil {
				return done, err
			}
			for _, st := range states {
				if done, err := r.emit(st); done || err != nil {
					return done, err
				}
			}
			return false, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, r.o.MaxBackoff)
	}
}

// end is the outcome of a stream ctx ended.
func (r *runner) end(ctx context.Context) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: ctx.Err()}
	}
	switch {
	case len(r.o.Until) > 0:
		return errs.New(errs.Timeout, "no %s event within %s", strings.Join(r.o.Until, " or "), r.o.Timeout)
	case r.o.Count > 0:
		return errs.New(errs.Timeout, "%d of %d events within %s", r.matched, r.o.Count, r.o.Timeout)
	}
	return nil
}
