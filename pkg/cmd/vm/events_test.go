package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdEvents(t *testing.T) {
	runFlagCases(t, "events", func(f *cmdutil.Factory, r func(context.Context, *EventsOptions) error) *cobra.Command {
		return NewCmdEvents(f, r)
	},
		func(o *EventsOptions) string {
			s := fmt.Sprintf("%v types=%v kinds=%v count=%d until=%v timeout=%s", o.Patterns, o.Types, o.Kinds, o.Count, o.Until, o.Timeout)
			if o.Publish {
				s += fmt.Sprintf(" publish nats=%s creds=%s ca=%s buffer=%d tee=%v", o.NATS, o.NATSCreds, o.NATSCA, o.NATSBuffer, o.Tee)
			}
			if o.Journal {
				s += " journal"
			}
			return s
		}, []flagCase{
			{argv: nil, want: "[] types=[] kinds=[vm] count=0 until=[] timeout=0s"},
			{argv: []string{"web-*", "db01", "--type", "reboot,crashed", "--type", "stopped"}, want: "[web-* db01] types=[crashed reboot stopped] kinds=[vm] count=0 until=[] timeout=0s"},
			{argv: []string{"--type", "lifecycle"}, want: "[] types=[crashed defined pmsuspended resumed shutdown started stopped suspended undefined] kinds=[vm] count=0 until=[] timeout=0s"},
			{argv: []string{"--kind", "vm,network,pool", "--count", "10", "--until", "stopped", "--timeout", "5m"}, want: "[] types=[] kinds=[vm network pool] count=10 until=[stopped] timeout=5m0s"},
			{argv: []string{"--nats", "nats://127.0.0.1:4222", "--tee", "--nats-creds", "/etc/n.creds", "--nats-buffer", "5"},
				want: "[] types=[] kinds=[vm] count=0 until=[] timeout=0s publish nats=nats://127.0.0.1:4222 creds=/etc/n.creds ca= buffer=5 tee=true"},
			{argv: []string{"--publish", "--nats-ca", "ca.pem"}, want: "[] types=[] kinds=[vm] count=0 until=[] timeout=0s publish nats= creds= ca=ca.pem buffer=10000 tee=false"},
			{argv: []string{"db-*", "--journal", "-q"}, want: "[db-*] types=[] kinds=[vm] count=0 until=[] timeout=0s journal"},
			{argv: []string{"--tee"}, err: errs.Usage},
			{argv: []string{"--nats-creds", "/etc/n.creds"}, err: errs.Usage},
			{argv: []string{"--nats-ca", "ca.pem"}, err: errs.Usage},
			{argv: []string{"--nats-buffer", "5"}, err: errs.Usage},
			{argv: []string{"--nats", "http://broker:4222"}, err: errs.Usage},
			{argv: []string{"--publish", "--nats-buffer", "0"}, err: errs.Usage},
			{argv: []string{"--type", "stoped"}, err: errs.Usage},
			{argv: []string{"--until", "lunch"}, err: errs.Usage},
			{argv: []string{"--kind", "secret"}, err: errs.Usage},
			{argv: []string{"--count", "-1"}, err: errs.Usage},
			{argv: []string{"--timeout", "0s"}, err: errs.Usage},
			{argv: []string{"web["}, err: errs.Usage},
		})
}

// The whole command against the test driver: in a pipe it prints NDJSON, one flushed record
// per event, and --type/--count select and end. The test's own connection changes the driver's
// state (test:///default is shared within a process) until the command has seen a start.
func TestEventsCommand(t *testing.T) {
	conn := virttest.Open(t)
	virttest.Define(t, conn, `<domain type="test"><name>ev-cmd</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	cmd := NewCmdEvents(f, nil)
	done := make(chan error, 1)
	go func() { done <- parse(t, cmd, f, "ev-*", "--type", "started", "--count", "1", "--timeout", "20s") }()
	d, err := conn.Raw().LookupDomainByName("ev-cmd")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	var runErr error
loop:
	for {
		_ = d.Create()
		_ = d.Destroy()
		select {
		case runErr = <-done:
			break loop
		case <-time.After(50 * time.Millisecond):
		}
	}
	if runErr != nil {
		t.Fatalf("events: %v\n%s", runErr, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var ev model.Event
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &ev) != nil {
		t.Fatalf("--count 1 in a pipe printed %q, want one JSON line", out.String())
	}
	if ev.Kind != "vm" || ev.Name != "ev-cmd" || ev.Type != "started" || ev.Detail != "booted" || ev.Seq != 1 || len(ev.UUID) != 36 {
		t.Errorf("record %+v", ev)
	}
	for _, key := range []string{`"time":"`, `"host":"`, `"data":{"event":2,"detail":0}`} {
		if !strings.Contains(lines[0], key) {
			t.Errorf("record %s lacks %s", lines[0], key)
		}
	}
}

// --journal hands the records to the operations journal's sink: a start no hvctl command made
// is recorded as an external event on that VM.
func TestEventsJournal(t *testing.T) {
	conn := virttest.Open(t)
	virttest.Define(t, conn, `<domain type="test"><name>ev-jnl</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	state := t.TempDir()
	f, _, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_STATE": state}))
	cmd := NewCmdEvents(f, nil)
	done := make(chan error, 1)
	go func() {
		done <- parse(t, cmd, f, "ev-jnl", "--type", "started", "--count", "1", "--journal", "--timeout", "20s")
	}()
	d, err := conn.Raw().LookupDomainByName("ev-jnl")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Free() }()
	var runErr error
loop:
	for {
		_ = d.Create()
		_ = d.Destroy()
		select {
		case runErr = <-done:
			break loop
		case <-time.After(50 * time.Millisecond):
		}
	}
	if runErr != nil {
		t.Fatalf("events --journal: %v\n%s", runErr, errOut)
	}
	j, err := journal.Open(context.Background(), filepath.Join(state, journal.FileName), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = j.Close() }()
	recs, err := j.Query(context.Background(), journal.Filter{VM: "ev-jnl"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Source != "external" || !strings.Contains(recs[0].Command, "started") {
		t.Errorf("journal records %+v, want the one external start", recs)
	}
}

// A journal that cannot be opened stops --journal before the stream with exit 7 and one
// line naming the file, as hvctl history and metrics record say it (it was exit 1 and a
// bare "mkdir …: not a directory").
func TestEventsJournalUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(map[string]string{"HVCTL_PATHS_STATE": file}))
	err := parse(t, NewCmdEvents(f, nil), f, "--journal", "--timeout", "2s")
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), "--journal: "+filepath.Join(file, journal.FileName)) || out.Len() != 0 {
		t.Errorf("got %v (kind %v), out %q", err, errs.KindOf(err), out)
	}
}
