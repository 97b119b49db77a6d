// Command eventlat measures event latency for bench/events.sh: it starts and destroys an
// inactive diskless domain N times through libvirt and times, from each call's return, when
// the started/stopped event reaches three readers that run side by side: `vmctl events`
// (its NDJSON line on a pipe), a NATS subscriber of what that same `vmctl events --tee`
// publishes, and `virsh event --loop`. Not a test; it needs root and a running libvirtd.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"libvirt.org/go/libvirt"
)

// seen records when each reader saw the n-th started or stopped event.
type seen struct {
	mu    sync.Mutex
	times map[string][]time.Time // by event: "started", "stopped"
	wake  chan struct{}
}

func newSeen() *seen { return &seen{times: map[string][]time.Time{}, wake: make(chan struct{}, 1)} }

func (s *seen) add(ev string, at time.Time) {
	s.mu.Lock()
	s.times[ev] = append(s.times[ev], at)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *seen) count(ev string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times[ev])
}

func (s *seen) at(ev string, i int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[ev][i]
}

func main() {
	uri := flag.String("c", "qemu:///system", "libvirt URI")
	name := flag.String("domain", "t-events-bench", "the domain to define, start and destroy")
	cycles := flag.Int("n", 200, "start/destroy cycles")
	vmctl := flag.String("vmctl", "bin/vmctl", "the vmctl to measure")
	natsURL := flag.String("nats", "", "NATS server URL the vmctl events publishes to")
	flag.Parse()
	if err := run(*uri, *name, *cycles, *vmctl, *natsURL); err != nil {
		fmt.Fprintln(os.Stderr, "eventlat:", err)
		os.Exit(1)
	}
}

func run(uri, name string, cycles int, vmctl, natsURL string) error {
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return err
	}
	defer conn.Close()
	x := fmt.Sprintf(`<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`, name)
	dom, err := conn.DomainDefineXML(x)
	if err != nil {
		return err
	}
	defer func() {
		_ = dom.Destroy()
		_ = dom.Undefine()
		_ = dom.Free()
	}()

	readers := map[string]*seen{"vmctl": newSeen(), "nats": newSeen(), "virsh": newSeen()}

	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Subscribe("hvctl.*.vm.*.*", func(m *nats.Msg) {
		at := time.Now()
		var r struct{ Name, Type string }
		if json.Unmarshal(m.Data, &r) == nil && r.Name == name {
			readers["nats"].add(r.Type, at)
		}
	}); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}

	ev := exec.Command(vmctl, "events", name, "--type", "started,stopped", "--json", "--nats", natsURL, "--tee", "-c", uri)
	evOut, err := ev.StdoutPipe()
	if err != nil {
		return err
	}
	ev.Stderr = os.Stderr
	if err := ev.Start(); err != nil {
		return err
	}
	defer func() { _ = ev.Process.Kill(); _ = ev.Wait() }()
	go readLines(evOut, func(line string) {
		var r struct{ Type string }
		if json.Unmarshal([]byte(line), &r) == nil {
			readers["vmctl"].add(r.Type, time.Now())
		}
	})

	// Line-buffered, as vmctl's output is flushed per event: a pipe would otherwise hold
	// virsh's lines in stdio's buffer.
	vs := exec.Command("stdbuf", "-oL", "virsh", "-c", uri, "event", "--domain", name, "--event", "lifecycle", "--loop")
	vsOut, err := vs.StdoutPipe()
	if err != nil {
		return err
	}
	if err := vs.Start(); err != nil {
		return err
	}
	defer func() { _ = vs.Process.Kill(); _ = vs.Wait() }()
	go readLines(vsOut, func(line string) {
		// event 'lifecycle' for domain 't-events-bench': Started Booted
		switch {
		case strings.Contains(line, ": Started "):
			readers["virsh"].add("started", time.Now())
		case strings.Contains(line, ": Stopped "):
			readers["virsh"].add("stopped", time.Now())
		}
	})
	time.Sleep(2 * time.Second) // both readers connect and subscribe

	lat := map[string][]time.Duration{}
	for i := range cycles {
		for _, step := range []struct {
			ev string
			fn func() error
		}{{"started", dom.Create}, {"stopped", dom.Destroy}} {
			if err := step.fn(); err != nil {
				return fmt.Errorf("cycle %d %s: %w", i, step.ev, err)
			}
			ret := time.Now()
			for who, s := range readers {
				deadline := time.Now().Add(10 * time.Second)
				for s.count(step.ev) <= i {
					if time.Now().After(deadline) {
						return fmt.Errorf("cycle %d: %s never saw %s", i, who, step.ev)
					}
					select {
					case <-s.wake:
					case <-time.After(10 * time.Millisecond):
					}
				}
				lat[who] = append(lat[who], s.at(step.ev, i).Sub(ret))
			}
		}
	}
	fmt.Printf("%-6s %8s %10s %10s %10s\n", "READER", "SAMPLES", "MEDIAN", "P99", "MAX")
	for _, who := range []string{"vmctl", "nats", "virsh"} {
		d := lat[who]
		slices.Sort(d)
		fmt.Printf("%-6s %8d %10s %10s %10s\n", who, len(d), ms(d[len(d)/2]), ms(d[min(len(d)-1, len(d)*99/100)]), ms(d[len(d)-1]))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func readLines(r io.Reader, fn func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
}
