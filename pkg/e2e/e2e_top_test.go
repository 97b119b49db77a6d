package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// topSession is `vmctl top` on a pseudo-terminal of its own.
type topSession struct {
	t    *testing.T
	ptmx *os.File
	tty  *os.File
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  []byte
	// before is the pty's modes before top started: what it must leave behind.
	before *unix.Termios
}

func (e *env) top(args ...string) *topSession {
	t := e.t
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 20, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	s := &topSession{t: t, ptmx: ptmx, tty: tty, done: make(chan struct{})}
	if s.before, err = unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(filepath.Join(e.bin, "vmctl"), append([]string{"top"}, args...)...)
	s.cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = tty, tty, tty
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out = append(s.out, buf[:n]...)
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// screen is the last complete frame as text lines.
func (s *topSession) screen() []string {
	s.mu.Lock()
	out := string(s.out)
	s.mu.Unlock()
	for {
		i := strings.LastIndex(out, "\x1b[H")
		if i < 0 {
			return nil
		}
		if frame := out[i:]; strings.Count(frame, "\x1b[2K") >= 20 {
			return strings.Split(ansi.ReplaceAllString(frame, ""), "\r\n")
		}
		out = out[:i] // still being drawn: take the one before
	}
}

// until waits for a screen that ok accepts.
func (s *topSession) until(what string, limit time.Duration, ok func(lines []string) bool) []string {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		lines := s.screen()
		if len(lines) > 6 && ok(lines) {
			return lines
		}
		select {
		case <-s.done:
			s.t.Fatalf("vmctl top exited before %s; screen:\n%s", what, strings.Join(lines, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s in %s; screen:\n%s", what, limit, strings.Join(lines, "\n"))
		}
	}
}

// `vmctl top` on the real daemon with a running guest: the host's own CPU and memory figures
// (node statistics the test driver lacks), the guest's row; libvirtd killed under it shows on
// the status line over the last data and the view reconnects once the daemon is back; q then
// leaves the terminal as it found it.
func TestTopOnRealDaemon(t *testing.T) {
	e := setup(t)
	e.act("started", "start", "e2e-1")
	t.Cleanup(func() { e.run("vmctl", "kill", "e2e-1") })

	s := e.top("e2e-*", "--interval", "1s", "--timeout", "5s")
	host := regexp.MustCompile(`^Host: [0-9]+ CPUs, [0-9.]+% busy; memory [0-9.]+[KMGT]iB, [0-9.]+[KMGT]iB used$`)
	// The totals are the host's, whatever the pattern: other VMs may run on it.
	vms := regexp.MustCompile(`^VMs: [1-9][0-9]* running, [0-9]+ total; [0-9]+ vCPUs using [0-9.]+% of the host; memory `)
	row := regexp.MustCompile(`^e2e-1 +running +([0-9.]+) +([0-9.]+) +1 +256MiB `)
	busy := func(lines []string) bool {
		for _, l := range lines[6:] {
			if m := row.FindStringSubmatch(l); m != nil {
				cpu, _ := strconv.ParseFloat(m[2], 64)
				return host.MatchString(lines[1]) && cpu > 0 && vms.MatchString(lines[2])
			}
		}
		return false
	}
	s.until("the host totals and e2e-1 busy", time.Minute, busy)

	t.Cleanup(func() {
		// Bring libvirtd back for whatever runs next, as scripts/setup-host.sh would.
		if out, err := exec.Command("bash", "../../scripts/setup-host.sh").CombinedOutput(); err != nil {
			t.Errorf("restarting libvirtd: %v\n%s", err, out)
		}
	})
	if out, err := exec.Command("pkill", "-x", "libvirtd").CombinedOutput(); err != nil {
		t.Fatalf("pkill libvirtd: %v %s", err, out)
	}
	lost := s.until("the lost connection on the status line", time.Minute, func(lines []string) bool {
		return strings.HasPrefix(lines[3], "libvirt: ") && strings.Contains(lines[3], "qemu:///system") && strings.Contains(lines[3], "retrying in ")
	})
	t.Logf("while libvirtd is gone: %s", lost[3])
	if !slices.ContainsFunc(lost[6:], func(l string) bool { return strings.HasPrefix(l, "e2e-1 ") }) {
		t.Errorf("the last data left the screen when the daemon went away:\n%s", strings.Join(lost, "\n"))
	}
	if out, err := exec.Command("bash", "../../scripts/setup-host.sh").CombinedOutput(); err != nil {
		t.Fatalf("restarting libvirtd: %v\n%s", err, out)
	}
	s.until("the view back after the daemon", 90*time.Second, func(lines []string) bool {
		return strings.HasPrefix(lines[3], "keys:") && busy(lines)
	})

	if _, err := s.ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("vmctl top did not quit on q")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after q", code)
	}
	tio, err := unix.IoctlGetTermios(int(s.tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag != s.before.Lflag || tio.Iflag != s.before.Iflag || tio.Oflag != s.before.Oflag || tio.Cc != s.before.Cc {
		t.Errorf("terminal modes not restored:\nbefore %+v\nafter  %+v", s.before, tio)
	}
}
