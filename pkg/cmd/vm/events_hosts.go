package vm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/events"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// mergedStream is the one stream the hosts' event loops feed: it names each record's host,
// numbers the records, and ends the stream at --count or --until over all hosts. Each host's
// loop calls Send from its own goroutine; the mutex keeps the records whole and in one order.
type mergedStream struct {
	mu      sync.Mutex
	sinks   []events.Sink
	seq     uint64
	matched int
	count   int
	until   []string
	done    bool
	sinkErr error              // a sink failed (stdout closed): the stream's end and error
	end     context.CancelFunc // ends every host's loop once done or a sink failed
}

// failed says whether a sink failed, so that a loop's error is not its host's.
func (m *mergedStream) failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sinkErr != nil
}

func (m *mergedStream) send(host string, ev model.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done || m.sinkErr != nil {
		return nil // the stream has ended; this host's loop is ending too
	}
	m.seq++
	ev.Seq, ev.Host = m.seq, host
	for _, s := range m.sinks {
		if err := s.Send(ev); err != nil {
			m.sinkErr = err
			m.end()
			return err
		}
	}
	if ev.Kind == virt.KindHost || ev.Type == events.TypeState {
		return nil // hvctl's own records count for neither --count nor --until
	}
	m.matched++
	if slices.Contains(m.until, ev.Type) || m.count > 0 && m.matched >= m.count {
		m.done = true
		m.end()
	}
	return nil
}

// runEventsHosts streams the events of every host of --host as one stream: one event loop per
// host (events.Run, which reconnects a host that drops on its own), all feeding mergedStream.
func runEventsHosts(ctx context.Context, o *EventsOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if g := o.F.Global.OutputFlags; g.Output == "" && !g.JSON && g.JQ == "" && !o.F.IO.IsStdoutTTY() {
		format.Kind = output.JSON // a pipe gets NDJSON, a person a readable line
	}
	hosts, err := o.F.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	if err := o.F.CheckHostQualifiers(o.Patterns, hosts); err != nil {
		return err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = virt.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	sinks, closeSinks, err := eventSinks(ctx, o, format, "")
	if err != nil {
		return err
	}
	defer closeSinks()
	sctx, end := context.WithCancel(ctx)
	defer end()
	m := &mergedStream{sinks: sinks, count: o.Count, until: o.Until, end: end}
	types := o.Types
	if len(types) > 0 { // --until's types pass --type, or the stream could never end
		types = slices.Compact(slices.Sorted(slices.Values(slices.Concat(types, o.Until))))
	}
	isHost := cmdutil.IsHostIn(hosts)
	results := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		patterns, applies := cmdutil.PatternsForHost(o.Patterns, h.Name, isHost)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := events.SinkFunc(func(ev model.Event) error {
				if !applies && ev.Kind != virt.KindHost {
					return nil // patterns were given, none for this host: its host records alone
				}
				return m.send(h.Name, ev)
			})
			results[i] = events.Run(sctx, events.Options{
				Open: func(ctx context.Context) (events.Conn, error) {
					c, err := virt.Open(ctx, h.URI, true) // events and states need no write access
					if err != nil {
						return nil, err
					}
					return events.Adapt(c), nil
				},
				URI: h.URI, Kinds: o.Kinds,
				Filter: events.Filter{Patterns: patterns, Types: types},
				Sinks:  []events.Sink{sink}, Timeout: o.Timeout,
				Now: o.F.Now, Warnf: func(format string, args ...any) { o.F.Warnf("host %s: "+format, append([]any{h.Name}, args...)...) },
				Backoff: eventsBackoff, MaxBackoff: eventsMaxBackoff, AttemptTimeout: o.Hosts.Timeout,
			})
			if err := results[i]; err != nil && errs.KindOf(err) != errs.Interrupted && !m.failed() {
				// Its first connection failed (a sink's error is the stream's, kept by m).
				results[i] = errs.Wrap(err, "host %s", h.Name)
				if o.Hosts.Strict {
					end() // one host that cannot be reached ends the stream, with its error
					return
				}
				o.F.ReportHostFailure(o.Cmd, h, err)
			} else {
				results[i] = nil
			}
		}()
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sinkErr != nil {
		return m.sinkErr
	}
	var failed []string
	var first error
	for i, h := range hosts {
		if results[i] != nil {
			failed = append(failed, h.Name)
			if first == nil {
				first = results[i]
			}
		}
	}
	switch {
	case o.Hosts.Strict && first != nil:
		return first
	case len(failed) == len(hosts):
		return &errs.Error{Kind: errs.KindOf(first), Msg: "no host could be reached: " + strings.Join(failed, ", "), Err: first}
	case !m.done && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: ctx.Err()}
	case !m.done && len(o.Until) > 0:
		return errs.New(errs.Timeout, "no %s event within %s", strings.Join(o.Until, " or "), o.Timeout)
	case !m.done && o.Count > 0:
		return errs.New(errs.Timeout, "%d of %d events within %s", m.matched, o.Count, o.Timeout)
	case len(failed) > 0:
		return errs.New(errs.Partial, "%d of %d hosts did not answer: %s", len(failed), len(hosts), strings.Join(failed, ", "))
	}
	return nil
}
