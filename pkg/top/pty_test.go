package top_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/top"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/mattn/go-runewidth"
	"golang.org/x/sys/unix"
)

// childEnv makes this test binary run vmctl with its arguments instead of the tests: the pty
// tests run the real command in a process of its own, on a terminal of their own.
const childEnv = "HVCTL_TOP_PTY_CHILD"

// shellEnv makes this test binary stand in for a job-control shell: the session's leader,
// running vmctl in a process group of its own in the terminal's foreground, as a shell runs a
// job, so that group is not orphaned and Ctrl-Z may stop it. It writes vmctl's pid to the file
// the variable names and exits with vmctl's code.
const shellEnv = "HVCTL_TOP_PTY_SHELL"

func TestMain(m *testing.M) {
	if pidFile := os.Getenv(shellEnv); pidFile != "" {
		os.Exit(jobShell(pidFile))
	}
	if os.Getenv(childEnv) == "1" {
		os.Exit(app.Run(append([]string{"vmctl"}, os.Args[1:]...), cmdutil.New("vmctl")))
	}
	os.Exit(m.Run())
}

func jobShell(pidFile string) int {
	job := exec.Command(os.Args[0], os.Args[1:]...)
	job.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, shellEnv+"=") }), childEnv+"=1")
	job.Stdin, job.Stdout, job.Stderr = os.Stdin, os.Stdout, os.Stderr
	job.SysProcAttr = &syscall.SysProcAttr{Foreground: true, Ctty: 0}
	if err := job.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "job shell:", err)
		return 125
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(job.Process.Pid)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "job shell:", err)
		return 125
	}
	_ = job.Wait()
	if ws, ok := job.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return job.ProcessState.ExitCode()
}

// session is vmctl top running on a pseudo-terminal.
type session struct {
	t      *testing.T
	ptmx   *os.File // the terminal emulator's side: what we type, what the screen gets
	tty    *os.File // the program's side, held open here too so its modes can be read afterwards
	cmd    *exec.Cmd
	pid    int // vmctl's: cmd's own, or under a job shell the job's
	stderr bytes.Buffer
	done   chan struct{}

	mu  sync.Mutex
	out []byte
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

func startTop(t *testing.T, args ...string) (*session, unix.Termios) {
	t.Helper()
	return startTopEnv(t, nil, args...)
}

// startTopInShell is startTop under a job-control shell (see shellEnv) instead of as the
// session's leader, whose process group is orphaned.
func startTopInShell(t *testing.T, args ...string) (*session, unix.Termios) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	s, before := startTopEnv(t, []string{shellEnv + "=" + pidFile}, args...)
	for end := time.Now().Add(10 * time.Second); s.pid == s.cmd.Process.Pid; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			s.pid, _ = strconv.Atoi(string(b))
		} else if time.Now().After(end) {
			t.Fatalf("the job shell did not start vmctl top: %v; stderr %q", err, s.stderr.String())
		}
	}
	return s, before
}

// startTopEnv is startTop with env added to the command's environment.
func startTopEnv(t *testing.T, env []string, args ...string) (*session, unix.Termios) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, ptmx: ptmx, tty: tty, done: make(chan struct{})}
	before := termios(t, tty)
	s.cmd = exec.Command(os.Args[0], append([]string{"-c", "test:///default", "top", "--interval", "100ms"}, args...)...)
	s.cmd.Env = append(os.Environ(), childEnv+"=1", "HVCTL_SYSTEM_CONFIG=/nonexistent", "HOME="+t.TempDir(), "HVCTL_FORCE_TTY=")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = tty, tty, &s.stderr
	// Its own session with the pty as controlling terminal: resizing it sends SIGWINCH.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pid = s.cmd.Process.Pid
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			if s.pid != s.cmd.Process.Pid { // a job shell's job, maybe stopped
				_ = syscall.Kill(s.pid, syscall.SIGKILL)
			}
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
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	return s, before
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.out)
}

// waitFor waits until the output matches re.
func (s *session) waitFor(what string, ok func(out string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(s.output()) {
		select {
		case <-s.done:
			s.t.Fatalf("vmctl top exited (%v) before %s; stderr %q; output:\n%q", s.cmd.ProcessState, what, s.stderr.String(), s.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s in 15s; output:\n%q", what, s.output())
		}
	}
}

// exit waits for the process to end and for its last output to arrive, and returns its code.
func (s *session) exit() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.t.Fatalf("vmctl top still runs 15s later; output:\n%q", s.output())
	}
	for last := ""; last != s.output(); time.Sleep(100 * time.Millisecond) {
		last = s.output()
	}
	return s.cmd.ProcessState.ExitCode()
}

var escapes = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// lastFrame is the screen of the last complete frame drawn on a height-line terminal, as text.
func lastFrame(out string, height int) ([]string, bool) {
	i := strings.LastIndex(out, "\x1b[H")
	if i < 0 {
		return nil, false
	}
	frame := out[i:]
	if strings.Count(frame, "\x1b[2K") < height {
		return nil, false
	}
	return strings.Split(escapes.ReplaceAllString(frame, ""), "\r\n"), true
}

var vmRow = regexp.MustCompile(`\x1b\[2Ktest +running +[0-9.]+ +[0-9.]+ +2 +2GiB`)

// Each way out of the view restores the terminal: the modes as they were before, the output
// ending with leaving the alternate screen and showing the cursor; and exits with the code the
// help documents.
func TestTopPTYRestoresTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(s *session) error
		code int
	}{
		{"q", func(s *session) error { _, err := s.ptmx.Write([]byte("q")); return err }, 0},
		{"ctrl-c byte", func(s *session) error { _, err := s.ptmx.Write([]byte{0x03}); return err }, 0},
		{"SIGINT", func(s *session) error { return s.cmd.Process.Signal(syscall.SIGINT) }, 0},
		{"SIGTERM", func(s *session) error { return s.cmd.Process.Signal(syscall.SIGTERM) }, 130},
		{"SIGHUP", func(s *session) error { return s.cmd.Process.Signal(syscall.SIGHUP) }, 130},
		// Go's own SIGQUIT (a stack dump, exit 2) left the alternate screen and a hidden cursor.
		{"SIGQUIT", func(s *session) error { return s.cmd.Process.Signal(syscall.SIGQUIT) }, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, before := startTop(t)
			s.waitFor("the alternate screen and a VM row", func(out string) bool {
				return strings.HasPrefix(out, top.EnterSequence) && vmRow.MatchString(out)
			})
			if raw := termios(t, s.tty); raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
				t.Fatalf("the view runs without raw mode (lflag %#o): the restore check below would prove nothing", raw.Lflag)
			}
			if err := tc.end(s); err != nil {
				t.Fatal(err)
			}
			if code := s.exit(); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tc.code, s.stderr.String())
			}
			after := termios(t, s.tty)
			if after.Iflag != before.Iflag || after.Oflag != before.Oflag || after.Cflag != before.Cflag || after.Lflag != before.Lflag || after.Cc != before.Cc {
				t.Errorf("terminal modes not restored:\nbefore %+v\nafter  %+v", before, after)
			}
			if out := s.output(); !strings.HasSuffix(out, "\x1b[?1049l\x1b[?25h") {
				t.Errorf("output does not end by leaving the alternate screen and showing the cursor: …%q", out[max(0, len(out)-80):])
			}
			if tc.code == 130 && !strings.HasPrefix(s.stderr.String(), "vmctl: interrupted") {
				t.Errorf("stderr %q does not say it was interrupted", s.stderr.String())
			}
		})
	}
}

// Keys reach the view through the terminal, and a resize redraws it at the new size, every
// line cut to the new width.
func TestTopPTYKeysAndResize(t *testing.T) {
	s, _ := startTop(t, "--sort", "name")
	s.waitFor("the first screen", func(out string) bool { return vmRow.MatchString(out) })
	if _, err := s.ptmx.Write([]byte("\x1b[Cm")); err != nil { // → (ignored), then m
		t.Fatal(err)
	}
	s.waitFor("sort by memory", func(out string) bool { return strings.Contains(out, "sort: memory") })
	if err := pty.Setsize(s.ptmx, &pty.Winsize{Rows: 9, Cols: 40}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	s.waitFor("a 40×9 frame", func(out string) bool {
		var ok bool
		lines, ok = lastFrame(out, 9)
		return ok && len(lines) == 9 && strings.HasPrefix(lines[5], "NAME") && !strings.Contains(lines[5], "DISK")
	})
	for i, l := range lines {
		if w := runewidth.StringWidth(l); w > 40 {
			t.Errorf("line %d is %d cells on a 40-cell terminal: %q", i, w, l)
		}
	}
	if !strings.HasPrefix(lines[6], "test ") {
		t.Errorf("the VM row is gone after the resize:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := s.ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(); code != 0 {
		t.Errorf("exit code %d after q", code)
	}
}

// In a pipe (stdout not a terminal) top prints stats' table and takes nothing of the terminal.
func TestTopPipeIsBatch(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-c", "test:///default", "top", "--interval", "50ms", "--count", "2", "test")
	cmd.Env = append(os.Environ(), childEnv+"=1", "HVCTL_SYSTEM_CONFIG=/nonexistent", "HOME="+t.TempDir(), "HVCTL_FORCE_TTY=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	if strings.Contains(got, "\x1b") || strings.Count(got, "NAME ") != 2 || !regexp.MustCompile(`(?m)^test +running +[0-9.]+ +2 +2GiB `).MatchString(got) {
		t.Errorf("pipe output:\n%q", got)
	}
}

// TestTopDumbTerminalIsBatch: on a terminal that cannot move the cursor (TERM=dumb: Emacs's
// shell) top prints the reports stats --count prints; the live view's escape sequences would
// show as text there.
func TestTopDumbTerminalIsBatch(t *testing.T) {
	s, _ := startTopEnv(t, []string{"TERM=dumb"}, "--count", "2", "test")
	if code := s.exit(); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, s.stderr.String())
	}
	got := s.output()
	if strings.Contains(got, "\x1b") || strings.Count(got, "NAME ") != 2 || !regexp.MustCompile(`(?m)^test +running +[0-9.]+ +2 +2GiB `).MatchString(got) {
		t.Errorf("TERM=dumb output:\n%q", got)
	}
}

// A panic, in the loop's own goroutine or in the sampler's, still restores the terminal before
// it propagates.
func TestRunPanicRestoresTerminal(t *testing.T) {
	for _, where := range []string{"view", "sampler"} {
		t.Run(where, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			_ = pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80})
			var mu sync.Mutex
			var out []byte
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := ptmx.Read(buf)
					mu.Lock()
					out = append(out, buf[:n]...)
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			before := termios(t, tty)
			v := &top.View{Sort: top.SortCPU}
			s := &top.Sampler{Timeout: time.Second, Connect: func(context.Context) (*virt.Conn, error) {
				panic("boom in the sampler")
			}}
			first := top.Update{}
			if where == "view" {
				v.Match = func(string) bool { panic("boom in the view") }
				first.Report.VMs = []model.VMStatsReport{{VMStats: model.VMStats{Name: "x"}}}
			}
			recovered := func() (r any) {
				defer func() { r = recover() }()
				_ = top.Run(context.Background(), top.Options{In: tty, Out: tty, View: v, Sampler: s, Interval: 10 * time.Millisecond, First: first})
				return nil
			}()
			if r := fmt.Sprint(recovered); !strings.Contains(r, "boom in the "+where) {
				t.Fatalf("Run did not pass the panic on: %v", recovered)
			}
			after := termios(t, tty)
			if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
				t.Errorf("terminal modes not restored after a panic in the %s", where)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				o := string(out)
				mu.Unlock()
				if strings.HasSuffix(o, "\x1b[?1049l\x1b[?25h") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("output does not end by leaving the alternate screen: …%q", o[max(0, len(o)-80):])
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// ptyOutput opens a pseudo-terminal for an in-process Run and collects what the screen gets.
func ptyOutput(t *testing.T) (tty *os.File, output func() string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	_ = pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 160})
	var mu sync.Mutex
	var out []byte
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out = append(out, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return tty, func() string { mu.Lock(); defer mu.Unlock(); return string(out) }
}

func eventually(t *testing.T, what string, output func() string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(output()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in 10s; output ends …%q", what, tail(output(), 600))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// When libvirt cannot be reached, or stops answering, the view says so on its status line,
// keeps the last data, backs off, and picks up again once libvirt answers.
func TestRunShowsLibvirtTroubleAndRecovers(t *testing.T) {
	tty, output := ptyOutput(t)
	var reachable, stuck atomic.Bool
	release := make(chan struct{})
	var statsCalls atomic.Int64
	ctx, cancel := context.WithCancel(virt.WithCallHook(context.Background(), func(what string) {
		if what == "domain stats" {
			statsCalls.Add(1)
			if stuck.Load() {
				<-release // a daemon that does not answer, until it does
			}
		}
	}))
	defer cancel()
	s := &top.Sampler{Timeout: 300 * time.Millisecond, Connect: func(ctx context.Context) (*virt.Conn, error) {
		if !reachable.Load() {
			return virt.Open(ctx, "test:///nonexistent/host.xml", true) // a real connection failure
		}
		return virt.Open(ctx, "test:///default", true)
	}}
	done := make(chan error, 1)
	go func() {
		done <- top.Run(ctx, top.Options{In: tty, Out: tty, View: &top.View{URI: "test:///default", Interval: 50 * time.Millisecond}, Sampler: s, Interval: 50 * time.Millisecond})
	}()
	status := func(re string) func(string) bool {
		r := regexp.MustCompile(re)
		return func(out string) bool {
			lines, ok := lastFrame(out, 24)
			return ok && len(lines) > 3 && r.MatchString(lines[3])
		}
	}
	eventually(t, "the connection error", output, status(`^libvirt: cannot connect to test:///nonexistent/host\.xml: .*; retrying in [0-9]+s$`))
	reachable.Store(true)
	eventually(t, "a VM row after reconnecting", output, func(out string) bool {
		lines, ok := lastFrame(out, 24)
		return ok && len(lines) > 6 && strings.HasPrefix(lines[6], "test ") && strings.HasPrefix(lines[3], "keys:")
	})

	stuck.Store(true)
	eventually(t, "the timeout", output, status(`^libvirt: domain stats: libvirt at test:///default did not answer within 300ms; retrying in [0-9]+s; data from [0-9:]+$`))
	// Each attempt asks at most twice (stats.Sampler asks again on a fresh connection at half
	// its time), and the attempts back off: a frozen daemon is not flooded.
	calls := statsCalls.Load()
	time.Sleep(2 * time.Second) // attempts at most every 50ms+300ms without backoff: 12 calls
	if n := statsCalls.Load() - calls; n > 8 {
		t.Errorf("%d calls in 2s on a daemon that does not answer: no backoff", n)
	}
	if lines, _ := lastFrame(output(), 24); len(lines) < 7 || !strings.HasPrefix(lines[6], "test ") {
		t.Errorf("the last data left the screen while libvirt was stuck: %q", lines)
	}
	stuck.Store(false)
	close(release)
	eventually(t, "recovery", output, status(`^keys:`))
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	eventually(t, "the restore", output, func(out string) bool { return strings.HasSuffix(out, top.LeaveSequence) })
}

// processState is the state letter of /proc/PID/stat: T when stopped.
func processState(t *testing.T, pid int) string {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return fields[0]
}

// Ctrl-Z (and SIGTSTP from elsewhere) suspends as in any program: the terminal is given back
// while the job is stopped, and taken again, with a fresh screen, when the shell continues it.
func TestTopPTYSuspend(t *testing.T) {
	s, before := startTopInShell(t)
	s.waitFor("the first screen", func(out string) bool { return vmRow.MatchString(out) })
	pid := s.pid
	for i, stop := range []func() error{
		func() error { _, err := s.ptmx.Write([]byte{0x1a}); return err },
		func() error { return syscall.Kill(pid, syscall.SIGTSTP) },
	} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		s.waitFor("the alternate screen left", func(out string) bool { return strings.HasSuffix(out, top.LeaveSequence) })
		for end := time.Now().Add(10 * time.Second); processState(t, pid) != "T"; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("case %d: vmctl top did not stop (state %s)", i, processState(t, pid))
			}
		}
		time.Sleep(300 * time.Millisecond) // it stays stopped, the terminal given back
		stopped := s.output()
		if !strings.HasSuffix(stopped, top.LeaveSequence) || processState(t, pid) != "T" {
			t.Fatalf("case %d: went on by itself: state %s, output …%q", i, processState(t, pid), tail(stopped, 80))
		}
		if now := termios(t, s.tty); now.Lflag != before.Lflag || now.Iflag != before.Iflag || now.Oflag != before.Oflag {
			t.Errorf("case %d: stopped with the terminal still raw (lflag %#o, was %#o)", i, now.Lflag, before.Lflag)
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		s.waitFor("the screen taken again", func(out string) bool {
			rest := strings.TrimPrefix(out, stopped)
			return len(out) > len(stopped) && strings.HasPrefix(rest, top.EnterSequence) && vmRow.MatchString(rest)
		})
		if raw := termios(t, s.tty); raw.Lflag&(unix.ICANON|unix.ECHO) != 0 {
			t.Errorf("case %d: continued without raw mode (lflag %#o)", i, raw.Lflag)
		}
	}
	if _, err := s.ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(); code != 0 {
		t.Errorf("exit %d after q", code)
	}
	if after := termios(t, s.tty); after.Lflag != before.Lflag {
		t.Errorf("modes not restored at the end")
	}
}

// In an orphaned process group (here vmctl is its session's leader; in life, its shell died or
// it was started with setsid) nothing would continue a stopped top: Ctrl-Z and SIGTSTP leave it
// running, with the terminal still its own, and say why, as the kernel drops a terminal's stop
// signals for such a group.
func TestTopPTYSuspendOrphaned(t *testing.T) {
	s, before := startTop(t)
	s.waitFor("the first screen", func(out string) bool { return vmRow.MatchString(out) })
	for i, stop := range []func() error{
		func() error { _, err := s.ptmx.Write([]byte{0x1a}); return err },
		func() error { return syscall.Kill(s.pid, syscall.SIGTSTP) },
	} {
		if i > 0 { // a key clears the last refusal, so this one is seen anew
			mark := len(s.output())
			if _, err := s.ptmx.Write([]byte("c")); err != nil {
				t.Fatal(err)
			}
			s.waitFor("the keys line again", func(out string) bool { return strings.Contains(out[mark:], "keys: c m d n sort") })
		}
		mark := len(s.output())
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		s.waitFor("the refusal on the status line", func(out string) bool {
			return strings.Contains(out[mark:], "not suspended: no job-control shell")
		})
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if st := processState(t, s.pid); st == "T" {
				t.Fatalf("case %d: vmctl top stopped in an orphaned process group", i)
			}
		}
		if out := s.output()[mark:]; strings.Contains(out, top.LeaveSequence) {
			t.Fatalf("case %d: gave the terminal back though it did not stop: …%q", i, tail(out, 80))
		}
		if raw := termios(t, s.tty); raw.Lflag&(unix.ICANON|unix.ECHO) != 0 {
			t.Errorf("case %d: the terminal left raw mode (lflag %#o)", i, raw.Lflag)
		}
	}
	mark := len(s.output())
	s.waitFor("a refresh after the refusals", func(out string) bool { return vmRow.MatchString(out[mark:]) })
	if _, err := s.ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(); code != 0 {
		t.Errorf("exit %d after q", code)
	}
	if after := termios(t, s.tty); after.Lflag != before.Lflag {
		t.Errorf("modes not restored at the end")
	}
}
