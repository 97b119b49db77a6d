package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/events"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"libvirt.org/go/libvirt"
)

// The operations journal on the real daemon: vmctl's start and kill of a real QEMU domain are
// recorded with their results, and the journal's event sink, fed by the events loop on the same
// daemon, records as external only what someone else did (a start and a destroy through the
// libvirt API, as virsh does) — not the events vmctl's own commands caused.
func TestJournalOnRealDaemon(t *testing.T) {
	if os.Getenv("HVCTL_E2E") != "1" {
		t.Skip("end-to-end tests need root and libvirtd: run scripts/test.sh (HVCTL_E2E=1)")
	}
	const vm = "t-journal-vm"
	bin, state := t.TempDir(), t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "hvctl"), "../../cmd/hvctl").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := os.Symlink("hvctl", filepath.Join(bin, "vmctl")); err != nil {
		t.Fatal(err)
	}
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Close() })
	cleanup := func() {
		if d, err := conn.LookupDomainByName(vm); err == nil {
			_ = d.Destroy()
			_ = d.Undefine()
			_ = d.Free()
		}
	}
	cleanup()
	t.Cleanup(cleanup)
	// Diskless and without network: QEMU runs (the firmware finds nothing to boot), which is
	// all the lifecycle needs.
	d, err := conn.DomainDefineXML(`<domain type='qemu'><name>` + vm + `</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><serial type='pty'/></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()

	j, err := journal.Open(context.Background(), filepath.Join(state, journal.FileName), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sink := journal.NewEventSink(j, journal.EventSinkOptions{URI: uri, Warnf: t.Logf})
	ctx, cancel := context.WithCancel(context.Background())
	streamed := make(chan error, 1)
	go func() {
		streamed <- events.Run(ctx, events.Options{
			Open: func(ctx context.Context) (events.Conn, error) {
				c, err := virt.Open(ctx, uri, true)
				if err != nil {
					return nil, err
				}
				return events.Adapt(c), nil
			},
			URI: uri, Kinds: []string{virt.KindVM}, Filter: events.Filter{Patterns: []string{vm}},
			Sinks: []events.Sink{sink}, Now: time.Now, Warnf: t.Logf,
			Backoff: 100 * time.Millisecond, MaxBackoff: time.Second, AttemptTimeout: 5 * time.Second,
		})
	}()
	time.Sleep(time.Second) // subscribed

	vmctl := func(args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, "vmctl"), args...)
		cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "HVCTL_PATHS_STATE="+state, "XDG_RUNTIME_DIR="+state)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vmctl %v: %v\n%s", args, err, out)
		}
	}
	vmctl("start", vm, "-q")
	vmctl("kill", vm, "-q")
	// Someone else, later than a command's span and slack (3s): the events are theirs.
	time.Sleep(5 * time.Second)
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // delivered
	cancel()
	if err := <-streamed; err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("events: %v", err)
	}
	if err := sink.Close(); err != nil { // decides what waits for its grace period
		t.Fatal(err)
	}

	history := exec.Command(filepath.Join(bin, "hvctl"), "history", "--vm", vm, "--json")
	history.Env = append(os.Environ(), "HVCTL_SYSTEM_CONFIG=/nonexistent", "HVCTL_PATHS_STATE="+state)
	out, err := history.Output()
	if err != nil {
		t.Fatal(err)
	}
	var recs []model.JournalRecord
	if err := json.Unmarshal(out, &recs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// vmctl's two commands, and then only external records, all from after them: the daemon
	// sends more than one event per change (started/booted comes with resumed/unpaused, a
	// destroy with shutdown/host too), none of them may be taken for someone else's.
	var hvctl, external []string
	var lastEnd time.Time
	for _, r := range recs {
		var line string
		for _, tg := range r.Targets {
			line += fmt.Sprintf("%s %s:%v:%s", r.Command, tg.Name, tg.OK, tg.Action)
		}
		at, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Source {
		case journal.SourceHvctl:
			if r.ExitCode == nil || *r.ExitCode != 0 || r.User != "root" || r.URI != uri || r.DurationSeconds == nil {
				t.Errorf("hvctl record: %+v", r)
				continue
			}
			hvctl = append(hvctl, line)
			lastEnd = at.Add(time.Duration(*r.DurationSeconds * float64(time.Second)))
		default:
			if !at.After(lastEnd.Add(3 * time.Second)) {
				t.Errorf("an event of vmctl's own commands recorded as external: %+v", r)
			}
			external = append(external, line)
		}
	}
	if want := []string{"vmctl start " + vm + ":true:started", "vmctl kill " + vm + ":true:destroyed"}; !slices.Equal(hvctl, want) {
		t.Errorf("hvctl records: got %q, want %q", hvctl, want)
	}
	for _, want := range []string{"event started " + vm + ":true:booted", "event stopped " + vm + ":true:destroyed"} {
		if !slices.Contains(external, want) {
			t.Errorf("external records %q lack %q", external, want)
		}
	}
}
