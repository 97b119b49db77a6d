package journal

import (
	"context"
	"database/sql"
	"fmt"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Matching an event to the hvctl command that caused it.
const (
	// EventGrace is how long a lifecycle event waits for an hvctl record to explain it before
	// it is recorded as external. A command's record is written when it starts, before it acts,
	// so the wait only covers clocks and commands that name their VM when they finish.
	EventGrace = 5 * time.Second
	// eventSlack widens a finished command's span on both sides: libvirt delivers an event a
	// little after the call that caused it returned.
	eventSlack = 3 * time.Second
	// eventMaxWait bounds the wait for a command still running (stop waits for the guest up to
	// its --timeout): after it the event counts as that command's.
	eventMaxWait = 10 * time.Minute
	// eventLookback bounds how far back a running command is looked for: a killed command's
	// record stays unfinished forever and must not swallow every later event.
	eventLookback = time.Hour
	// eventTick is how often pending events are decided when no new event comes.
	eventTick = time.Second
)

// EventSink is the operations journal's end of `vmctl events --journal`: it records the VM
// lifecycle events (started, stopped, crashed …) that no hvctl command explains — someone
// used virsh, a guest shut itself down, QEMU crashed — as records of source "external" with no
// user. An event that happened to a VM while an hvctl command was acting on it (the same URI,
// the VM among the command's targets or patterns, or a command that names its targets only at
// its end, within the command's time span and a few seconds) is hvctl's own and is not
// recorded again.
//
// Send never blocks the event loop on the database: it queues, and a goroutine of the sink
// decides and writes (waiting EventGrace, or for the command still running). A journal that
// cannot be written is said once through Warnf; the stream goes on.
type EventSink struct {
	j     *Journal
	uri   string
	now   func() time.Time
	warnf func(format string, args ...any)

	started bool // the deciding goroutine runs (NewEventSink)

	mu      sync.Mutex
	pending []model.Event
	warned  bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// EventSinkOptions tune NewEventSink.
type EventSinkOptions struct {
	URI   string           // the libvirt URI the events come from, as commands record it (redacted)
	Now   func() time.Time // the clock; time.Now when nil
	Warnf func(format string, args ...any)
}

// NewEventSink starts the sink on an open (writable) journal; Close stops it, decides what is
// still pending and closes the journal.
func NewEventSink(j *Journal, o EventSinkOptions) *EventSink {
	s := newEventSink(j, o)
	s.started = true
	go s.loop()
	return s
}

// newEventSink is NewEventSink without the goroutine: tests decide when to decide.
func newEventSink(j *Journal, o EventSinkOptions) *EventSink {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Warnf == nil {
		o.Warnf = func(string, ...any) {}
	}
	s := &EventSink{j: j, uri: RedactURLs(o.URI), now: o.Now, warnf: o.Warnf,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	return s
}

// Send queues a VM lifecycle event; every other record is none of the journal's business. It
// implements events.Sink.
func (s *EventSink) Send(ev model.Event) error {
	if ev.Kind != virt.KindVM || !slices.Contains(virt.LifecycleTypes, ev.Type) {
		return nil
	}
	s.mu.Lock()
	s.pending = append(s.pending, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close decides every pending event with what the journal holds now, and closes the journal.
func (s *EventSink) Close() error {
	close(s.stop)
	if s.started {
		<-s.done // the loop decides what is pending as it ends
	} else {
		s.decide(true)
	}
	return s.j.Close()
}

func (s *EventSink) loop() {
	defer close(s.done)
	t := time.NewTicker(eventTick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.decide(true)
			return
		case <-s.wake:
		case <-t.C:
		}
		s.decide(false)
	}
}

// decide records or drops each pending event that can be decided; final decides all.
func (s *EventSink) decide(final bool) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	var keep []model.Event
	for _, ev := range batch {
		done, err := s.decideOne(ev, final)
		if err != nil {
			s.warnOnce(err)
			continue // dropped: the journal cannot be read or written
		}
		if !done {
			keep = append(keep, ev)
		}
	}
	if len(keep) > 0 {
		s.mu.Lock()
		s.pending = append(keep, s.pending...)
		s.mu.Unlock()
	}
}

func (s *EventSink) warnOnce(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.warned {
		s.warned = true
		s.warnf("operations journal %s: lifecycle events not recorded: %v", s.j.Path(), err)
	}
}

// decideOne says whether ev is decided: explained by an hvctl command (dropped), or recorded
// as external.
func (s *EventSink) decideOne(ev model.Event, final bool) (bool, error) {
	at, err := time.Parse(time.RFC3339Nano, ev.Time)
	if err != nil {
		return true, fmt.Errorf("event time %q: %w", ev.Time, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), BusyTimeout+time.Second)
	defer cancel()
	verdict, err := s.j.explain(ctx, s.uri, ev.Name, at)
	if err != nil {
		return false, err
	}
	age := s.now().Sub(at)
	switch {
	case verdict == explained:
		return true, nil
	case verdict == running && !final && age < eventMaxWait:
		return false, nil // the command may still name this VM, or is acting on it
	case verdict == running:
		return true, nil // a command was acting on it all along
	case !final && age < EventGrace:
		return false, nil
	}
	return true, s.j.appendExternal(ctx, s.uri, ev, at)
}

// appendExternal records ev, unless a record of the same event is there already (another
// `vmctl events --journal` on this host got it too): one transaction, so two sinks cannot
// both miss the other's record.
func (j *Journal) appendExternal(ctx context.Context, uri string, ev model.Event, at time.Time) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	command := "event " + ev.Type
	var dup int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM records r JOIN targets t ON t.record_id = r.id
		WHERE r.source = ? AND r.command = ? AND r.uri = ? AND t.name = ? AND r.time_ns BETWEEN ? AND ?`,
		SourceExternal, command, uri, ev.Name, at.Add(-eventSlack).UnixNano(), at.Add(eventSlack).UnixNano()).Scan(&dup)
	if err != nil || dup > 0 {
		return err
	}
	// No exit code and no duration: there was no command. The VM is the target, libvirt's
	// detail (destroyed, booted, failed …) its action.
	res, err := tx.ExecContext(ctx, `INSERT INTO records (time_ns, source, host, uri, command, kind) VALUES (?, ?, ?, ?, ?, 'vm')`,
		at.UnixNano(), SourceExternal, ev.Host, uri, command)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO targets (record_id, seq, name, ok, action) VALUES (?, 0, ?, 1, ?)`, id, ev.Name, ev.Detail); err != nil {
		return err
	}
	return tx.Commit()
}

type verdict int

const (
	unexplained verdict = iota
	explained           // a finished hvctl command acted on the VM then
	running             // an hvctl command that may be acting on the VM has not finished
)

// explain looks for the hvctl command behind an event at `at` on VM name.
func (j *Journal) explain(ctx context.Context, uri, name string, at time.Time) (verdict, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT r.id, r.time_ns, r.duration_ms FROM records r
		WHERE r.source = ? AND r.kind = 'vm' AND r.uri = ? AND r.time_ns BETWEEN ? AND ?`,
		SourceHvctl, uri, at.Add(-eventLookback).UnixNano(), at.Add(eventSlack).UnixNano())
	if err != nil {
		return unexplained, err
	}
	type cand struct {
		id       int64
		start    time.Time
		duration sql.NullInt64
	}
	var cands []cand
	for rows.Next() {
		var c cand
		var ns int64
		if err := rows.Scan(&c.id, &ns, &c.duration); err != nil {
			rows.Close()
			return unexplained, err
		}
		c.start = time.Unix(0, ns)
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return unexplained, err
	}
	v := unexplained
	for _, c := range cands {
		if c.duration.Valid && at.After(c.start.Add(time.Duration(c.duration.Int64)*time.Millisecond+eventSlack)) {
			continue // finished before the event
		}
		targets, err := j.targetNames(ctx, c.id)
		if err != nil {
			return unexplained, err
		}
		covers := len(targets) == 0 && !c.duration.Valid // a running command that names its VMs at the end
		for _, t := range targets {
			if ok, _ := path.Match(t, name); ok || t == name {
				covers = true
			}
		}
		switch {
		case covers && c.duration.Valid:
			return explained, nil
		case covers:
			v = running
		}
	}
	return v, nil
}

func (j *Journal) targetNames(ctx context.Context, id int64) ([]string, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT name FROM targets WHERE record_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
