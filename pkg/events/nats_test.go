package events

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/nats-io/nkeys"
)

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		ev   model.Event
		want string
	}{
		{model.Event{Host: "web1.example.com", Kind: "vm", Name: "a.b", UUID: "c86ffd0c-666a-4a61-9f34-defa1ef1145b", Type: "started"},
			"hvctl.web1_example_com.vm.c86ffd0c-666a-4a61-9f34-defa1ef1145b.started"},
		{model.Event{Host: "h*>x y", Kind: "host", Type: "resync"}, "hvctl.h__x_y.host.resync"},
		{model.Event{Host: "", Kind: "pool", UUID: "u1", Type: "refresh"}, "hvctl._.pool.u1.refresh"},
	} {
		if got := Subject(tc.ev); got != tc.want {
			t.Errorf("Subject(%+v) = %s, want %s", tc.ev, got, tc.want)
		}
	}
}

func TestCheckCredsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.creds")
	if err := os.WriteFile(p, []byte("creds"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckCredsFile(p); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "open to others (mode 0644)") || !strings.Contains(errs.HintOf(err), "chmod 600") {
		t.Errorf("0644: %v (%s)", err, errs.HintOf(err))
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	// Owner-only but no credentials: refused now, not found out (or never) at the broker.
	if err := CheckCredsFile(p); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not a .creds file") {
		t.Errorf("0600 without a seed: %v", err)
	}
	writeCreds(t, p)
	if err := CheckCredsFile(p); err != nil {
		t.Errorf("0600: %v", err)
	}
	if err := CheckCredsFile(dir); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("a directory: %v", err)
	}
	if err := CheckCredsFile(filepath.Join(dir, "none")); errs.KindOf(err) != errs.NotFound {
		t.Errorf("missing: %v", err)
	}
	// NewNATS checks it before it connects anywhere.
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := NewNATS(NATSOptions{URL: "nats://127.0.0.1:1", CredsFile: p, Buffer: 1, Warnf: t.Logf}); errs.KindOf(err) != errs.Usage {
		t.Errorf("NewNATS with 0640 credentials: %v", err)
	}
}

func TestCheckNATSURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"nats://127.0.0.1:4222": true, "tls://broker:4443": true, "nats://a:1,nats://b:2": true,
		"http://x:1": false, "127.0.0.1:4222": false, "nats://": false,
	} {
		if err := CheckNATSURL(url); (err == nil) != ok {
			t.Errorf("CheckNATSURL(%q): %v", url, err)
		}
	}
}

// A broker that is not there: Send never blocks, the warning comes once, the queue keeps the
// newest records up to its bound, and Close counts what it dropped and what was left.
func TestNATSBrokerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // a port nothing listens on
	var mu sync.Mutex
	var warnings []string
	warn := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(format, args...))
	}
	pub, err := NewNATS(NATSOptions{URL: "nats://" + addr, Buffer: 5, Warnf: warn})
	if err != nil {
		t.Fatalf("a broker that is down is no error: %v", err)
	}
	start := time.Now()
	for i := range 20 {
		if err := pub.Send(model.Event{Seq: uint64(i + 1), Kind: "vm", UUID: "u", Type: "started"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("20 sends to a broker that is down took %s", d)
	}
	time.Sleep(1500 * time.Millisecond) // the publisher tries, and fails, at least once more
	if got := pub.Dropped(); got != 15 {
		t.Errorf("dropped %d, want 15 (20 sent, 5 kept)", got)
	}
	pub.Close(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	unreachable := 0
	for _, w := range warnings {
		if strings.Contains(w, "is unreachable") {
			unreachable++
		}
	}
	if unreachable != 1 || !strings.Contains(warnings[len(warnings)-1], "5 events not published at exit, 15 dropped") {
		t.Errorf("warnings %q, want one unreachable and the count at exit", warnings)
	}
}

// writeCreds writes a .creds file as nsc does: a user JWT (the server checks it, not the
// client) and a new user's seed.
func writeCreds(t *testing.T, path string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	creds := "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	if err := os.WriteFile(path, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A CA bundle that is missing or no PEM is the user's file, said before connecting: not
// exit 7 ("cannot connect") from the client.
func TestCheckCAFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		kind errs.Kind
		msg  string
	}{
		{filepath.Join(dir, "none.pem"), errs.NotFound, "no such file"},
		{junk, errs.Usage, "holds no PEM certificate"},
		{dir, errs.Usage, "is a directory"},
	} {
		_, err := NewNATS(NATSOptions{URL: "tls://127.0.0.1:1", CAFile: tc.path, Buffer: 1, Warnf: t.Logf})
		if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "NATS CA file "+tc.path) {
			t.Errorf("%s: %v (kind %v)", tc.path, err, errs.KindOf(err))
		}
	}
}
