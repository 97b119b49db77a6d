package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/events"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/nats-io/nats.go"
)

// eventRecord is the part of `vmctl events` JSON the tests read.
type eventRecord struct {
	Seq    uint64 `json:"seq"`
	Host   string `json:"host"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	UUID   string `json:"uuid"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// broker is Debian's nats-server on a loopback port, which the test stops and starts again.
type broker struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
}

func natsServer(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nats-server is missing: scripts/setup-host.sh installs it (Debian package nats-server)")
	return ""
}

func (b *broker) start() {
	b.t.Helper()
	host, port, _ := strings.Cut(b.addr, ":")
	b.out = &syncBuffer{}
	b.cmd = exec.Command(natsServer(b.t), "-a", host, "-p", port)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		b.t.Fatalf("nats-server: %v", err)
	}
	poll(b.t, "nats-server to listen", 10*time.Second, func() (bool, string) {
		return strings.Contains(b.out.String(), "Server is ready"), b.out.String()
	})
}

func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// subscriber collects what NATS delivers, by subject.
type delivered struct {
	subject string
	rec     eventRecord
}

func waitFor[T any](t *testing.T, ch <-chan T, what string, limit time.Duration, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case v := <-ch:
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("no %s within %s", what, limit)
		}
	}
}

// The publisher against Debian's nats-server, on libvirt's in-process test driver (no daemon,
// so it needs no e2e lock): records of a VM's start and stop arrive on subjects named by its
// UUID; with the broker gone, Send never blocks and the records wait; with the broker back,
// the waiting records and new ones arrive, in order.
func TestEventsNATSBrokerRestart(t *testing.T) {
	if os.Getenv("HVCTL_E2E") != "1" {
		t.Skip("end-to-end tests need nats-server: run scripts/test.sh, which sets it up (HVCTL_E2E=1)")
	}
	b := &broker{t: t, addr: freePort(t)}
	b.start()
	t.Cleanup(b.stop)
	url := "nats://" + b.addr
	sub, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := make(chan delivered, 100)
	if _, err := sub.Subscribe("hvctl.>", func(m *nats.Msg) {
		var r eventRecord
		_ = json.Unmarshal(m.Data, &r)
		msgs <- delivered{m.Subject, r}
	}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	conn := virttest.Open(t)
	virttest.Define(t, conn, `<domain type="test"><name>t-events-n1</name><uuid>5a1e0000-0000-4000-8000-0000000000e1</uuid><memory>65536</memory><os><type>hvm</type></os></domain>`)
	dom, err := conn.Raw().LookupDomainByName("t-events-n1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dom.Free() }()
	var mu sync.Mutex
	var warnings []string
	warn := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(format, args...))
	}
	pub, err := events.NewNATS(events.NATSOptions{URL: url, Buffer: 100, Warnf: warn})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(time.Second)
	// A sink that says how long each Send took: the broker must never make it wait.
	var slowest time.Duration
	timed := events.SinkFunc(func(ev model.Event) error {
		start := time.Now()
		err := pub.Send(ev)
		mu.Lock()
		slowest = max(slowest, time.Since(start))
		mu.Unlock()
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subscribed := make(chan struct{})
	go func() {
		_ = events.Run(ctx, events.Options{
			Open: func(ctx context.Context) (events.Conn, error) {
				c, err := virt.Open(ctx, virttest.URI, true)
				if err != nil {
					return nil, err
				}
				close(subscribed) // Run subscribes right after; the sleep below covers the rest
				return events.Adapt(c), nil
			},
			URI: virttest.URI, Kinds: []string{"vm"}, Filter: events.Filter{Patterns: []string{"t-events-*"}},
			Sinks: []events.Sink{timed}, Now: time.Now, Warnf: warn,
			Backoff: 100 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: 5 * time.Second,
		})
	}()
	<-subscribed
	time.Sleep(500 * time.Millisecond)
	want := "hvctl.%s.vm.5a1e0000-0000-4000-8000-0000000000e1.%s"
	next := func(typ string) {
		t.Helper()
		d := waitFor(t, msgs, typ, 20*time.Second, func(d delivered) bool { return d.rec.Type == typ })
		if d.subject != fmt.Sprintf(want, events.SubjectToken(d.rec.Host), typ) || d.rec.Name != "t-events-n1" {
			t.Errorf("%s on %s: %+v", typ, d.subject, d.rec)
		}
	}
	if err := dom.Create(); err != nil {
		t.Fatal(err)
	}
	next("started")
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	next("stopped")

	b.stop()
	for i := range 5 { // while the broker is down
		if err := dom.Create(); err != nil {
			t.Fatal(i, err)
		}
		if err := dom.Destroy(); err != nil {
			t.Fatal(i, err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	b.start()
	poll(t, "the subscriber to reconnect", 20*time.Second, func() (bool, string) {
		return sub.IsConnected() && sub.Flush() == nil, sub.Status().String()
	})
	// The publisher reconnects about a second after the broker is back, the subscriber within
	// 50 ms: the ten waiting records reach it, in their order, then a new one.
	var seqs []uint64
	for len(seqs) < 10 {
		d := waitFor(t, msgs, fmt.Sprintf("waiting record %d", len(seqs)+1), 20*time.Second, func(delivered) bool { return true })
		seqs = append(seqs, d.rec.Seq)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Errorf("the waiting records arrived as seq %v, want consecutive", seqs)
			break
		}
	}
	if err := dom.Create(); err != nil {
		t.Fatal(err)
	}
	next("started")
	_ = dom.Destroy()
	mu.Lock()
	defer mu.Unlock()
	if slowest > 50*time.Millisecond {
		t.Errorf("a Send took %s with the broker down or back: it must never wait for the broker", slowest)
	}
	joined := strings.Join(warnings, "\n")
	if strings.Count(joined, "is unreachable") != 1 || !strings.Contains(joined, "reachable again; publishing resumed (0 events dropped meanwhile)") {
		t.Errorf("warnings:\n%s", joined)
	}
}
