package vm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

// sharedHostsConfig names test:///default twice, as hosts a and b (the in-process test driver
// is one state, so both see every event), plus down, where nothing listens.
func sharedHostsConfig(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	toml := "[hosts.a]\nuri = \"test:///default\"\n[hosts.b]\nuri = \"test:///default\"\n[hosts.down]\nuri = \"qemu+tcp://127.0.0.1:1/system\"\n"
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// eventsOnHosts runs vmctl events with args while starting and stopping vm until it ends.
func eventsOnHosts(t *testing.T, cfg, vm string, args ...string) ([]model.Event, string, error) {
	t.Helper()
	conn := virttest.Open(t)
	f, out, errOut := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	done := make(chan error, 1)
	go func() { done <- parse(t, NewCmdEvents(f, nil), f, args...) }()
	d, err := conn.Raw().LookupDomainByName(vm)
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
	var evs []model.Event
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var ev model.Event
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v in %q", err, line)
		}
		evs = append(evs, ev)
	}
	return evs, errOut.String(), runErr
}

func TestEventsHostsMergedStream(t *testing.T) {
	conn := virttest.Open(t)
	virttest.Define(t, conn, `<domain type="test"><name>ev-hosts</name><memory>65536</memory><os><type>hvm</type></os></domain>`)
	cfg := sharedHostsConfig(t)

	// Each start reaches both hosts' streams: one stream, numbered as one, each record its host's.
	evs, stderr, err := eventsOnHosts(t, cfg, "ev-hosts", "--host", "a,b,down", "--json", "ev-hosts", "--type", "started", "--count", "2", "--timeout", "20s")
	if errs.KindOf(err) != errs.Partial || !strings.Contains(err.Error(), "down") {
		t.Errorf("err = %v (%v), want partial naming down", err, errs.KindOf(err))
	}
	if !strings.Contains(stderr, `"host":"down"`) {
		t.Errorf("the unreachable host is not reported: %q", stderr)
	}
	var hosts []string
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.Name != "ev-hosts" || ev.Type != "started" {
			t.Errorf("record %d: %+v", i, ev)
		}
		hosts = append(hosts, ev.Host)
	}
	if slices.Sort(hosts); strings.Join(hosts, " ") != "a b" {
		t.Errorf("hosts of the records: %v, want one each of a and b", hosts)
	}

	// A qualified pattern selects on its host only.
	evs, _, err = eventsOnHosts(t, cfg, "ev-hosts", "--host", "a,b", "b:ev-hosts", "--type", "started", "--count", "2", "--timeout", "20s")
	if err != nil || len(evs) != 2 || evs[0].Host != "b" || evs[1].Host != "b" {
		t.Errorf("b:ev-hosts: %v %+v", err, evs)
	}
}

func TestEventsHostsUnreachable(t *testing.T) {
	cfg := sharedHostsConfig(t)
	f, out, _ := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	start := time.Now()
	err := parse(t, NewCmdEvents(f, nil), f, "--host", "a,down", "--strict", "--timeout", "20s")
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), "host down") || time.Since(start) > 10*time.Second {
		t.Errorf("--strict: %v (%v) after %s", err, errs.KindOf(err), time.Since(start))
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out)
	}
	f, _, stderr := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = cfg
	err = parse(t, NewCmdEvents(f, nil), f, "--host", "down")
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), "no host could be reached: down") {
		t.Errorf("no host: %v (%v)", err, errs.KindOf(err))
	}
	if err := parse(t, NewCmdEvents(f, nil), f, "--host", "a", "--journal"); errs.KindOf(err) != errs.Usage {
		t.Errorf("--journal with --host: %v", err)
	}
	_ = stderr
}
