package events

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

// testConn is a real connection to libvirt's in-process test driver whose loss the test can
// cause (the test driver has no daemon to kill), and which says when it has subscribed.
type testConn struct {
	Conn
	lost       chan struct{}
	subscribed chan struct{}
}

func (c *testConn) Lost() <-chan struct{} { return c.lost }

func (c *testConn) Subscribe(ctx context.Context, kinds []string, emit func(model.Event)) (func(), []string, error) {
	unsub, unsupported, err := c.Conn.Subscribe(ctx, kinds, emit)
	if err == nil {
		close(c.subscribed)
	}
	return unsub, unsupported, err
}

// harness runs Run against test:///default and collects what reaches the sink.
type harness struct {
	t     *testing.T
	raw   *virt.Conn // the test's own connection: keeps the driver's state, makes changes
	mu    sync.Mutex
	conns []*testConn
	fail  int // Open calls to fail after the first (a daemon still down)
	got   chan model.Event
	done  chan error
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, raw: virttest.Open(t), got: make(chan model.Event, 100), done: make(chan error, 1)}
}

func (h *harness) open(ctx context.Context) (Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) > 0 && h.fail > 0 {
		h.fail--
		return nil, errs.New(errs.Unreachable, "cannot connect: still down")
	}
	c, err := virt.Open(ctx, virttest.URI, true)
	if err != nil {
		return nil, err
	}
	tc := &testConn{Conn: Adapt(c), lost: make(chan struct{}), subscribed: make(chan struct{})}
	h.conns = append(h.conns, tc)
	return tc, nil
}

func (h *harness) conn(i int) *testConn {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		h.mu.Lock()
		if len(h.conns) > i {
			c := h.conns[i]
			h.mu.Unlock()
			select {
			case <-c.subscribed:
				return c
			case <-deadline:
				h.t.Fatalf("connection %d never subscribed", i)
			}
		}
		h.mu.Unlock()
		select {
		case <-deadline:
			h.t.Fatalf("connection %d never opened", i)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (h *harness) run(ctx context.Context, o Options) {
	o.Open = h.open
	o.URI = virttest.URI
	if o.Kinds == nil {
		o.Kinds = []string{virt.KindVM}
	}
	o.Sinks = append(o.Sinks, SinkFunc(func(ev model.Event) error { h.got <- ev; return nil }))
	o.Now = time.Now
	o.Warnf = func(format string, args ...any) { h.t.Logf("warning: "+format, args...) }
	o.Backoff, o.MaxBackoff, o.AttemptTimeout = 10*time.Millisecond, 40*time.Millisecond, 5*time.Second
	go func() { h.done <- Run(ctx, o) }()
}

func (h *harness) next() model.Event {
	h.t.Helper()
	select {
	case ev := <-h.got: // what the stream sent before it ended comes first
		return ev
	default:
	}
	select {
	case ev := <-h.got:
		return ev
	case err := <-h.done:
		h.t.Fatalf("the stream ended (%v) before the next record", err)
	case <-time.After(5 * time.Second):
		h.t.Fatal("no record within 5s")
	}
	return model.Event{}
}

func (h *harness) define(name string) (uuid string) {
	h.t.Helper()
	sum := fnv.New64a()
	sum.Write([]byte(name))
	uuid = fmt.Sprintf("5a1e0000-0000-4000-8000-%012x", sum.Sum64()&0xffffffffffff)
	virttest.Define(h.t, h.raw, fmt.Sprintf(`<domain type="test"><name>%s</name><uuid>%s</uuid><memory>65536</memory><os><type>hvm</type></os></domain>`, name, uuid))
	return uuid
}

func (h *harness) start(name string) {
	h.t.Helper()
	d, err := h.raw.Raw().LookupDomainByName(name)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	if err := d.Create(); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) destroy(name string) {
	h.t.Helper()
	d, err := h.raw.Raw().LookupDomainByName(name)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	if err := d.Destroy(); err != nil {
		h.t.Fatal(err)
	}
}

func check(t *testing.T, ev model.Event, kind, name, typ, detail string) {
	t.Helper()
	if ev.Kind != kind || ev.Name != name || ev.Type != typ || ev.Detail != detail {
		t.Fatalf("record %+v, want %s %s %s %s", ev, kind, name, typ, detail)
	}
}

// Lifecycle events arrive with name, UUID, type, detail, data, a receive time, a host and
// numbered in order; --count ends the stream.
func TestRunLifecycle(t *testing.T) {
	h := newHarness(t)
	before := time.Now().UTC()
	h.run(context.Background(), Options{Count: 3})
	h.conn(0)
	uuid := h.define("ev-a")
	h.start("ev-a")
	h.destroy("ev-a")
	want := [][2]string{{"defined", "added"}, {"started", "booted"}, {"stopped", "destroyed"}}
	for i, w := range want {
		ev := h.next()
		check(t, ev, "vm", "ev-a", w[0], w[1])
		if ev.UUID != uuid || ev.Seq != uint64(i+1) || ev.Host == "" {
			t.Errorf("record %d: uuid %s seq %d host %q, want %s %d and the host's name", i, ev.UUID, ev.Seq, ev.Host, uuid, i+1)
		}
		at, err := time.Parse(TimeFormat, ev.Time)
		if err != nil || at.Before(before) || at.After(time.Now()) || !strings.HasSuffix(ev.Time, "Z") {
			t.Errorf("record %d: time %q (%v), want a UTC receive time", i, ev.Time, err)
		}
		if _, ok := ev.Data.(model.EventLifecycleData); !ok {
			t.Errorf("record %d: data %#v, want the lifecycle numbers", i, ev.Data)
		}
	}
	if err := <-h.done; err != nil {
		t.Fatalf("--count 3 ended with %v", err)
	}
}

// Patterns and --type select records; --until ends the stream at the first match, even of a
// type --type would not print.
func TestRunFilterUntil(t *testing.T) {
	h := newHarness(t)
	h.run(context.Background(), Options{Filter: Filter{Patterns: []string{"ev-b*"}, Types: []string{"started"}}, Until: []string{"stopped"}})
	h.conn(0)
	h.define("ev-other")
	h.start("ev-other") // not selected by the pattern
	h.define("ev-b1")   // defined: not selected by --type
	h.start("ev-b1")
	h.destroy("ev-other")
	h.destroy("ev-b1")
	check(t, h.next(), "vm", "ev-b1", "started", "booted")
	check(t, h.next(), "vm", "ev-b1", "stopped", "destroyed")
	if err := <-h.done; err != nil {
		t.Fatalf("--until stopped ended with %v", err)
	}
	select {
	case ev := <-h.got:
		t.Errorf("a record after --until's: %+v", ev)
	default:
	}
}

// A deadline ends a stream: normally without --count/--until, as a timeout with them.
func TestRunDeadline(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want errs.Kind
	}{{Options{}, 0}, {Options{Until: []string{"stopped"}}, errs.Timeout}, {Options{Count: 1}, errs.Timeout}} {
		h := newHarness(t)
		// Long enough for the first connection on a loaded machine: a deadline that ends the
		// connect is a different (timeout) outcome.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		tc.o.Timeout = time.Second
		h.run(ctx, tc.o)
		err := <-h.done
		cancel()
		if errs.KindOf(err) != tc.want && !(tc.want == 0 && err == nil) {
			t.Errorf("%+v: %v, want kind %v", tc.o, err, tc.want)
		}
	}
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	h.run(ctx, Options{})
	h.conn(0)
	cancel()
	if err := <-h.done; errs.KindOf(err) != errs.Interrupted {
		t.Errorf("cancelled: %v, want interrupted", err)
	}
}

// After a loss: a disconnected record at once, reconnection attempts until one works, a resync
// record saying how many it took, the state of every selected VM, and events again through a
// new subscription (only once each: the old one is gone).
func TestRunReconnectResync(t *testing.T) {
	h := newHarness(t)
	h.define("ev-c1")
	h.start("ev-c1")
	h.define("ev-c2")
	h.fail = 2
	h.run(context.Background(), Options{Filter: Filter{Patterns: []string{"ev-c*"}}})
	first := h.conn(0)
	h.destroy("ev-c1")
	check(t, h.next(), "vm", "ev-c1", "stopped", "destroyed")

	h.start("ev-c2")
	check(t, h.next(), "vm", "ev-c2", "started", "booted")
	close(first.lost)
	ev := h.next()
	check(t, ev, "host", "", "disconnected", "")
	if d, ok := ev.Data.(model.EventDisconnectedData); !ok || d.URI != virttest.URI {
		t.Errorf("disconnected data %#v", ev.Data)
	}
	ev = h.next()
	check(t, ev, "host", "", "resync", "")
	if d, ok := ev.Data.(model.EventResyncData); !ok || d.Attempts != 3 || d.DownSeconds <= 0 {
		t.Errorf("resync data %#v, want 3 attempts (2 failed) and the time down", ev.Data)
	}
	ev = h.next()
	check(t, ev, "vm", "ev-c1", "state", "shut_off")
	if d, ok := ev.Data.(model.EventStateData); !ok || d.State != "shut_off" || d.Reason != "destroyed" {
		t.Errorf("state data %#v", ev.Data)
	}
	check(t, h.next(), "vm", "ev-c2", "state", "running") // "test" is not selected
	h.conn(1)
	h.destroy("ev-c2")
	check(t, h.next(), "vm", "ev-c2", "stopped", "destroyed")
	select {
	case ev := <-h.got:
		t.Errorf("a record twice (the lost connection's subscription still delivers): %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	if ev.Seq == 0 {
		t.Error("records after the resync are not numbered")
	}
}

// Network and pool events come with --kind.
func TestRunNetworkPoolKinds(t *testing.T) {
	h := newHarness(t)
	h.run(context.Background(), Options{Kinds: []string{virt.KindNetwork, virt.KindPool}, Count: 2})
	h.conn(0)
	n, err := h.raw.Raw().LookupNetworkByName("default")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = n.Create(); _ = n.Free() }()
	if err := n.Destroy(); err != nil {
		t.Fatal(err)
	}
	p, err := h.raw.Raw().LookupStoragePoolByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Free() }()
	if err := p.Refresh(0); err != nil {
		t.Fatal(err)
	}
	ev := h.next()
	check(t, ev, "network", "default", "stopped", "")
	if ev.UUID == "" {
		t.Error("network record without UUID")
	}
	check(t, h.next(), "pool", "default-pool", "refresh", "")
}

func TestExpandTypes(t *testing.T) {
	got, err := ExpandTypes("--type", []string{"reboot", "lifecycle", "stopped"})
	if err != nil || len(got) != len(virt.LifecycleTypes)+1 {
		t.Errorf("ExpandTypes: %v %v", got, err)
	}
	if _, err := ExpandTypes("--type", []string{"stoped"}); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), `--type: unknown event type "stoped"`) {
		t.Errorf("a typo: %v", err)
	}
}
