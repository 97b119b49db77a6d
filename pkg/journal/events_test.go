package journal

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

const sinkURI = "qemu:///system"

func lifecycle(at time.Time, vm, typ, detail string) model.Event {
	return model.Event{Time: at.UTC().Format(time.RFC3339Nano), Host: "hv1", Kind: "vm", Name: vm, UUID: "u-" + vm, Type: typ, Detail: detail}
}

// externals lists the external records as "TIME VM command action".
func externals(t *testing.T, j *Journal) []string {
	t.Helper()
	out := []string{}
	for _, r := range query(t, j, Filter{}) {
		if r.Source != SourceExternal {
			continue
		}
		if r.ExitCode != nil || r.UID != nil || r.User != "" || len(r.Targets) != 1 || !r.Targets[0].OK {
			t.Errorf("external record %d: %+v", r.ID, r)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", r.Time[11:19], r.Targets[0].Name, r.Command, r.Targets[0].Action))
	}
	return out
}

// hvctlCommand records a command on sinkURI at the clock's time, finished after d (running
// when d < 0).
func hvctlCommand(t *testing.T, j *Journal, c *clock, d time.Duration, targets ...string) int64 {
	t.Helper()
	id, err := j.Begin(context.Background(), Entry{Time: c.now(), URI: sinkURI, Command: "vmctl x", Kind: "vm", Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	if d >= 0 {
		if err := j.Finish(context.Background(), id, Outcome{Duration: d}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestEventSinkRecordsOnlyWhatHvctlDidNot(t *testing.T) {
	c := newClock() // 10:00:00
	j := open(t, c)
	t0 := c.now()
	hvctlCommand(t, j, c, 2*time.Second, "web01") // 10:00:00–10:00:02
	hvctlCommand(t, j, c, 30*time.Second, "db-*") // a pattern: 10:00:00–10:00:30
	hvctlCommand(t, j, c, time.Second, "x")       // another VM
	s := newEventSink(j, EventSinkOptions{URI: sinkURI, Now: c.now})
	for _, ev := range []model.Event{
		lifecycle(t0.Add(1*time.Second), "web01", "stopped", "shutdown"),                       // web01's command: hvctl's own
		lifecycle(t0.Add(4*time.Second), "web01", "stopped", "shutdown"),                       // within the slack after it: hvctl's own
		lifecycle(t0.Add(20*time.Second), "web01", "started", "booted"),                        // long after it: external
		lifecycle(t0.Add(10*time.Second), "db-2", "stopped", "destroyed"),                      // the pattern's: hvctl's own
		lifecycle(t0.Add(12*time.Second), "cache", "crashed", "panicked"),                      // nobody's
		{Time: t0.Format(time.RFC3339Nano), Kind: "vm", Name: "cache", Type: "reboot"},         // not lifecycle
		{Time: t0.Format(time.RFC3339Nano), Kind: "network", Name: "default", Type: "stopped"}, // not a VM
		{Time: t0.Format(time.RFC3339Nano), Kind: "host", Type: "resync"},
	} {
		if err := s.Send(ev); err != nil {
			t.Fatal(err)
		}
	}
	// Before the grace period nothing is external yet.
	c.add(13 * time.Second) // 10:00:13: the crash is 1s old, the start of 10:00:20 is in the future
	s.decide(false)
	if got := externals(t, j); len(got) != 0 {
		t.Fatalf("decided before the grace period: %v", got)
	}
	c.add(time.Minute)
	s.decide(false)
	want := []string{"10:00:12 cache event crashed panicked", "10:00:20 web01 event started booted"}
	if got := externals(t, j); !reflect.DeepEqual(got, want) {
		t.Errorf("external records:\n got %q\nwant %q", got, want)
	}
	if len(s.pending) != 0 {
		t.Errorf("still pending: %v", s.pending)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// An event during a command that has not finished waits for it: the command names its VMs at
// the end (vmctl create PROFILE), or it is still acting (stop waits for the guest).
func TestEventSinkWaitsForRunningCommands(t *testing.T) {
	c := newClock()
	j := open(t, c)
	t0 := c.now()
	create := hvctlCommand(t, j, c, -1) // running, no targets yet
	hvctlCommand(t, j, c, -1, "db01")   // running (stop waits for the guest), db01
	s := newEventSink(j, EventSinkOptions{URI: sinkURI, Now: c.now})
	s.Send(lifecycle(t0.Add(time.Second), "new01", "defined", "added"))
	s.Send(lifecycle(t0.Add(time.Second), "other", "defined", "added"))
	s.Send(lifecycle(t0.Add(2*time.Second), "db01", "stopped", "shutdown"))
	c.add(time.Minute)
	s.decide(false)
	if got := externals(t, j); len(got) != 0 || len(s.pending) != 3 {
		t.Fatalf("decided while commands run: %v, %d pending", got, len(s.pending))
	}
	// create finishes naming new01: its event is hvctl's, "other" is not; stop is still running.
	if err := j.Finish(context.Background(), create, Outcome{Duration: 3 * time.Second, Results: []model.JournalTarget{{Name: "new01", OK: true}}}); err != nil {
		t.Fatal(err)
	}
	s.decide(false)
	if got := externals(t, j); !reflect.DeepEqual(got, []string{"10:00:01 other event defined added"}) || len(s.pending) != 1 {
		t.Fatalf("after create: %v, %d pending", got, len(s.pending))
	}
	// A command that never finishes (killed) stops holding events after eventMaxWait.
	c.add(eventMaxWait)
	s.decide(false)
	if len(s.pending) != 0 || len(externals(t, j)) != 1 {
		t.Errorf("after the longest wait: %d pending, %v", len(s.pending), externals(t, j))
	}
}

// A command on another libvirt URI explains nothing here; two sinks on one journal record an
// event once; Close decides what is pending.
func TestEventSinkURIAndDuplicates(t *testing.T) {
	c := newClock()
	j := open(t, c)
	t0 := c.now()
	if _, err := j.Begin(context.Background(), Entry{Time: t0, URI: "qemu+ssh://hv2/system", Command: "vmctl stop", Kind: "vm", Targets: []string{"web01"}}); err != nil {
		t.Fatal(err)
	}
	a := newEventSink(j, EventSinkOptions{URI: sinkURI, Now: c.now})
	b := newEventSink(j, EventSinkOptions{URI: sinkURI, Now: c.now})
	a.Send(lifecycle(t0.Add(time.Second), "web01", "stopped", "destroyed"))
	b.Send(lifecycle(t0.Add(time.Second+time.Millisecond), "web01", "stopped", "destroyed"))
	a.decide(true)
	b.decide(true)
	if got := externals(t, j); !reflect.DeepEqual(got, []string{"10:00:01 web01 event stopped destroyed"}) {
		t.Errorf("got %q", got)
	}
}

// The sink's goroutine decides without being asked, and Close leaves nothing behind.
func TestEventSinkRunsOnItsOwn(t *testing.T) {
	c := newClock()
	j := open(t, c)
	var warnings []string
	s := NewEventSink(j, EventSinkOptions{URI: sinkURI, Warnf: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }})
	s.Send(lifecycle(time.Now().Add(-time.Minute), "web01", "crashed", "panicked"))
	deadline := time.Now().Add(10 * time.Second)
	for len(externals(t, j)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := externals(t, j); len(got) != 1 || !strings.Contains(got[0], "web01 event crashed panicked") {
		t.Fatalf("got %q", got)
	}
	s.Send(lifecycle(time.Now(), "web02", "stopped", "shutdown")) // within the grace: Close decides it
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	again, err := Open(context.Background(), j.Path(), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := externals(t, again); len(got) != 2 {
		t.Errorf("after Close: %q", got)
	}
}
