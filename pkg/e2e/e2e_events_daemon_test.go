package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/events"
	"github.com/nats-io/nats.go"
)

// A real guest's start, ACPI shutdown and kill reach a NATS subscriber on subjects named by
// the VM's UUID; a libvirtd restart mid-stream gives disconnected, resync and the VM's state;
// a broker restart neither blocks the stream (stdout, --tee, goes on) nor ends the publishing.
func TestEventsNATS(t *testing.T) {
	e := setup(t)
	t.Cleanup(func() {
		// libvirtd is killed below: bring it back for whatever runs next, as TestDaemonDies does.
		if out, err := exec.Command("bash", "../../scripts/setup-host.sh").CombinedOutput(); err != nil {
			t.Errorf("restarting libvirtd: %v\n%s", err, out)
		}
	})
	b := &broker{t: t, addr: freePort(t)}
	b.start()
	t.Cleanup(b.stop)
	url := "nats://" + b.addr

	sub, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	msgs := make(chan delivered, 1000)
	if _, err := sub.Subscribe("hvctl.>", func(m *nats.Msg) {
		var r eventRecord
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Errorf("payload on %s is not a record: %v: %s", m.Subject, err, m.Data)
		}
		msgs <- delivered{m.Subject, r}
	}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	var show struct{ UUID string }
	e.ok(&show, "vmctl", "show", "e2e-1")

	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "events", "e2e-1", "--nats", url, "--tee", "--json")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan eventRecord, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r eventRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("stdout line is not a record: %v: %s", err, sc.Text())
				continue
			}
			lines <- r
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("vmctl events stderr:\n%s", stderr.String())
		}
	})
	time.Sleep(2 * time.Second) // let it connect and subscribe

	subject := func(r eventRecord, typ string) string {
		return fmt.Sprintf("hvctl.%s.vm.%s.%s", events.SubjectToken(r.Host), show.UUID, typ)
	}
	expect := func(typ, detail string, limit time.Duration) delivered {
		t.Helper()
		return waitFor(t, msgs, "vm "+typ+" "+detail, limit, func(d delivered) bool {
			if d.rec.Kind != "vm" || d.rec.Type != typ || detail != "" && d.rec.Detail != detail {
				return false
			}
			if d.rec.Name != "e2e-1" || d.rec.UUID != show.UUID || d.subject != subject(d.rec, typ) {
				t.Errorf("%s record %+v on subject %s, want e2e-1's UUID %s and subject %s", typ, d.rec, d.subject, show.UUID, subject(d.rec, typ))
			}
			return true
		})
	}

	// The guest boots, shuts down on ACPI, boots again and is killed.
	e.act("started", "start", "e2e-1")
	expect("started", "booted", 30*time.Second)
	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "ip", "--timeout", "3m")
	e.act("stopped", "stop", "e2e-1")
	t.Logf("ACPI shutdown: shutdown %s", expect("shutdown", "", 30*time.Second).rec.Detail) // guest or finished, by QEMU version
	expect("stopped", "shutdown", 30*time.Second)
	e.act("started", "start", "e2e-1")
	expect("started", "booted", 30*time.Second)
	e.act("destroyed", "kill", "e2e-1")
	expect("stopped", "destroyed", 30*time.Second)

	// libvirtd restarts under the stream.
	// Only ours: the second host's or a benchmark's libvirtd in other namespaces stays.
	if err := syscall.Kill(libvirtdPID(t), syscall.SIGTERM); err != nil {
		t.Fatalf("stopping libvirtd: %v", err)
	}
	host := waitFor(t, msgs, "disconnected record", 60*time.Second, func(d delivered) bool { return d.rec.Type == "disconnected" })
	if want := "hvctl." + events.SubjectToken(host.rec.Host) + ".host.disconnected"; host.subject != want || host.rec.Kind != "host" {
		t.Errorf("disconnected on %s (%+v), want %s", host.subject, host.rec, want)
	}
	if out, err := exec.Command("bash", "../../scripts/setup-host.sh").CombinedOutput(); err != nil {
		t.Fatalf("starting libvirtd again: %v\n%s", err, out)
	}
	resync := waitFor(t, msgs, "resync record", 90*time.Second, func(d delivered) bool { return d.rec.Type == "resync" })
	if resync.rec.Seq <= host.rec.Seq {
		t.Errorf("resync seq %d after disconnected seq %d", resync.rec.Seq, host.rec.Seq)
	}
	expect("state", "shut_off", 10*time.Second)
	if strings.Count(stderr.String(), "lost connection to "+uri) != 1 || !strings.Contains(stderr.String(), "reconnected to "+uri) {
		t.Errorf("stderr after the daemon restart:\n%s", stderr.String())
	}
	// Callbacks are registered again: events flow on the new connection.
	e.act("started", "start", "e2e-1")
	expect("started", "booted", 30*time.Second)
	e.act("destroyed", "kill", "e2e-1")
	expect("stopped", "destroyed", 30*time.Second)

	// A frozen daemon (SIGSTOP) closes no socket: keepalive notices it, the stream says so, and
	// resyncs once the daemon runs again.
	daemonPID := strconv.Itoa(libvirtdPID(t))
	if out, err := exec.Command("kill", "-STOP", daemonPID).CombinedOutput(); err != nil {
		t.Fatalf("kill -STOP libvirtd: %v %s", err, out)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = exec.Command("kill", "-CONT", daemonPID).Run()
		}
	}
	t.Cleanup(thaw)
	frozen := time.Now()
	waitFor(t, msgs, "disconnected record for a frozen daemon", 60*time.Second, func(d delivered) bool { return d.rec.Type == "disconnected" })
	t.Logf("keepalive noticed the frozen daemon after %s", time.Since(frozen).Round(time.Second))
	thaw()
	waitFor(t, msgs, "resync record after the freeze", 90*time.Second, func(d delivered) bool { return d.rec.Type == "resync" })
	expect("state", "shut_off", 10*time.Second)

	// The broker goes away: stdout (--tee) keeps getting events at once, stderr says so once.
	b.stop()
	for len(lines) > 0 {
		<-lines
	}
	e.act("started", "start", "e2e-1")
	waitFor(t, lines, "started on stdout while the broker is down", 10*time.Second, func(r eventRecord) bool { return r.Type == "started" })
	e.act("destroyed", "kill", "e2e-1")
	waitFor(t, lines, "stopped on stdout while the broker is down", 10*time.Second, func(r eventRecord) bool { return r.Type == "stopped" })
	poll(t, "the unreachable warning", 10*time.Second, func() (bool, string) {
		return strings.Count(stderr.String(), "is unreachable") == 1, stderr.String()
	})

	// It comes back: publishing resumes (the queued records first, then new ones).
	b.start()
	poll(t, "the subscriber to reconnect", 20*time.Second, func() (bool, string) {
		return sub.IsConnected() && sub.Flush() == nil, sub.Status().String()
	})
	poll(t, "publishing to resume", 20*time.Second, func() (bool, string) {
		return strings.Contains(stderr.String(), "reachable again; publishing resumed"), stderr.String()
	})
	e.act("started", "start", "e2e-1")
	expect("started", "booted", 30*time.Second)
	e.act("destroyed", "kill", "e2e-1")
	expect("stopped", "destroyed", 30*time.Second)
	if n := strings.Count(stderr.String(), "is unreachable"); n != 1 {
		t.Errorf("the unreachable warning came %d times, want once:\n%s", n, stderr.String())
	}
}
