package app_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watch starts `vmctl stats --count 0` (through wrapper, if any) on the test fixture and returns
// once it has printed its first report: hvctl's signal handling is in place by then.
func watch(t *testing.T, wrapper ...string) (cmd *exec.Cmd, stderr *bytes.Buffer, rest <-chan string) {
	t.Helper()
	fixture, err := filepath.Abs("../../testdata/libvirt/host.xml")
	if err != nil {
		t.Fatal(err)
	}
	vmctl, err := exec.LookPath("vmctl") // testscript.Main put it on PATH
	if err != nil {
		t.Fatal(err)
	}
	argv := append(wrapper, vmctl, "stats", "--count", "0", "--interval", "50ms", "--json", "web-01")
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HVCTL_URI=test://"+fixture, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+t.TempDir())
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	r := bufio.NewReader(out)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("no first report: %v, stderr %q", err, stderr.String())
	}
	ch := make(chan string, 1)
	go func() { b, _ := io.ReadAll(r); ch <- string(b) }()
	return cmd, stderr, ch
}

// A hang-up (the terminal or the ssh session closed) ends a command as SIGTERM does, through
// its own ending (here: an endless watch finishes its report and says it was interrupted, exit
// 130), not by a kill midway that would skip create's rollback or leave a console's terminal in
// raw mode.
func TestHangUpEndsCommandsCleanly(t *testing.T) {
	cmd, stderr, rest := watch(t)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	out := <-rest
	_ = cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 130 {
		t.Errorf("after SIGHUP: %v, stderr %q; want the watch's own end as interrupted (exit 130)", cmd.ProcessState, stderr.String())
	}
	if out != "" && !strings.HasSuffix(out, "}\n") {
		t.Errorf("the last report was cut: …%q", out[max(0, len(out)-40):])
	}
}

// Under nohup the hang-up stays ignored: hvctl does not take it over.
func TestNohupKeepsHangUpIgnored(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Fatal(err)
	}
	cmd, stderr, rest := watch(t, nohup)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { <-rest; _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatalf("a command under nohup ended on SIGHUP: %v, stderr %q", cmd.ProcessState, stderr.String())
	case <-time.After(500 * time.Millisecond):
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	<-done
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("after SIGINT: exit %d, stderr %q; want 130", code, stderr.String())
	}
}

// A signal that comes after the command finished, in the moment before the process exits, is
// absorbed: the process exits with the command's own code, not killed by the signal (a create
// that had made everything was reported as killed).
func TestLateSignalIsAbsorbed(t *testing.T) {
	bin, err := exec.LookPath("hvctl-late-signal") // testscript.Main put it on PATH
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() || ws.ExitStatus() != 0 {
		t.Errorf("hvctl version, then SIGINT before the exit: %v (%v)\n%s; want exit 0", cmd.ProcessState, err, out)
	}
}
