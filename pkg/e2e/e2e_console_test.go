package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// session is `vmctl console` on a terminal (script(1) gives it one), fed through a pipe.
type session struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (e *env) console(args ...string) *session {
	e.t.Helper()
	s := &session{done: make(chan error, 1)}
	line := filepath.Join(e.bin, "vmctl") + " console " + strings.Join(args, " ")
	s.cmd = exec.Command("script", "-qefc", line, "/dev/null")
	s.cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		e.t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	return s
}

func (s *session) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// exit waits for the session to end and returns its exit code.
func (s *session) exit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatalf("console session did not end:\n%s", s.output())
	}
	return -1
}

func (s *session) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.output(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q from the console:\n%s", text, s.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A console already open elsewhere is a conflict with a --force hint; --force takes it and the
// displaced session is told so (not that libvirtd died); detaching frees the stream only after
// the receiving goroutine is done, so libvirt prints no warnings about freed objects.
func TestConsoleSessions(t *testing.T) {
	e := setup(t)
	const name = "t-drift-cons"
	d, err := e.conn.DomainCreateXML(`<domain type='qemu'><name>`+name+`</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><serial type='pty'/><console type='pty'><target type='serial'/></console>
<memballoon model='none'/></devices></domain>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Destroy(); _ = d.Free() })

	first := e.console(name)
	first.waitFor(t, "Connected to")
	second := e.console(name)
	if code := second.exit(t); code != 4 || !strings.Contains(second.output(), "--force") {
		t.Errorf("second session: exit %d\n%s", code, second.output())
	}
	third := e.console(name, "--force")
	third.waitFor(t, "Connected to")
	if code := first.exit(t); code != 4 || !strings.Contains(first.output(), "another session took the console") {
		t.Errorf("displaced session: exit %d\n%s", code, first.output())
	}
	if _, err := third.in.Write([]byte{0x1d}); err != nil {
		t.Fatal(err)
	}
	if code := third.exit(t); code != 0 {
		t.Errorf("detach: exit %d\n%s", code, third.output())
	}
	for _, s := range []*session{first, second, third} {
		if out := s.output(); strings.Contains(out, "virObjectLockable") || strings.Contains(out, "lost connection") {
			t.Errorf("console output:\n%s", out)
		}
	}
}
