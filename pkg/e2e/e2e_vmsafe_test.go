package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/seed"
	"libvirt.org/go/libvirt"
)

const interruptVM = "t-vmsafe-int"

// libvirtdPID is the process of the daemon behind qemu:///system.
func libvirtdPID(t *testing.T) int {
	t.Helper()
	// pidof would pick any libvirtd: the second host's (scripts/second-host.sh) or a benchmark's
	// private daemon run in other mount namespaces, and freezing one of those proves nothing. Ours
	// is the one whose mount namespace is this process's.
	ours, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	var pids []int
	for _, comm := range comms {
		name, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(name)) != "libvirtd" {
			continue
		}
		dir := filepath.Dir(comm)
		if ns, err := os.Readlink(filepath.Join(dir, "ns", "mnt")); err == nil && ns == ours {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("want one libvirtd in this mount namespace, found %v", pids)
	}
	return pids[0]
}

// freeze stops libvirtd; the returned thaw (also run at cleanup, whatever happens) resumes it.
func freeze(t *testing.T) (thaw func()) {
	t.Helper()
	pid := libvirtdPID(t)
	thaw = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(thaw)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		thaw()
		t.Fatalf("SIGSTOP libvirtd: %v", err)
	}
	return thaw
}

// leftovers lists what a create of interruptVM left: its definition and volumes.
func (e *env) leftovers() []string {
	var left []string
	if d, err := e.conn.LookupDomainByName(interruptVM); err == nil {
		left = append(left, "domain "+interruptVM)
		_ = d.Free()
	}
	p, err := e.conn.LookupStoragePoolByName(poolName)
	if err != nil {
		e.t.Fatal(err)
	}
	defer p.Free()
	_ = p.Refresh(0)
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range vols {
		if n, _ := v.GetName(); strings.HasPrefix(n, interruptVM) {
			left = append(left, "volume "+n)
		}
		_ = v.Free()
	}
	return left
}

func (e *env) removeInterruptVM() {
	if d, err := e.conn.LookupDomainByName(interruptVM); err == nil {
		_ = d.Destroy()
		_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM)
		_ = d.Free()
	}
	if p, err := e.conn.LookupStoragePoolByName(poolName); err == nil {
		for _, n := range []string{".qcow2", "-data1.qcow2", "-cidata.iso"} {
			if v, err := p.LookupStorageVolByName(interruptVM + n); err == nil {
				_ = v.Delete(0)
				_ = v.Free()
			}
		}
		_ = p.Free()
	}
}

// createCmd is `vmctl create` of a small VM with a data disk and a seed, not started.
func (e *env) createCmd(extra ...string) *exec.Cmd {
	dir := e.t.TempDir()
	prof := fmt.Sprintf("name = %q\ndomain_type = \"qemu\"\nmemory = \"128MiB\"\n[disk]\nsize = \"16MiB\"\n[[extra_disks]]\nsize = \"8MiB\"\n[[network]]\nnetwork = %q\n[cloud_init]\nuser = \"ops\"\n", interruptVM, netName)
	if err := os.WriteFile(filepath.Join(dir, "int.toml"), []byte(prof), 0o644); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), append([]string{"create", "int"}, extra...)...)
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config,
		"HVCTL_VM_DEFAULTS_POOL="+poolName, "HVCTL_PATHS_PROFILES="+dir)
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1000
	}
	return 0
}

// offsets spreads n signal times over a run that takes d, from the start of the process.
func offsets(d time.Duration, n int) []time.Duration {
	var out []time.Duration
	for i := range n {
		out = append(out, d*time.Duration(i)/time.Duration(n-1))
	}
	return out
}

// SIGINT and SIGTERM at many points of a create leave nothing behind: every libvirt call in
// flight when the signal arrives is waited for and its object removed.
func TestCreateInterruptedLeavesNothing(t *testing.T) {
	e := setup(t)
	t.Cleanup(e.removeInterruptVM)
	start := time.Now()
	if out, err := e.createCmd().CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted create: %v\n%s", err, out)
	}
	took := time.Since(start)
	e.removeInterruptVM()
	t.Logf("an uninterrupted create takes %s", took)
	interrupted := 0
	for i, at := range offsets(took, 24) {
		sig := syscall.SIGINT
		if i%3 == 2 {
			sig = syscall.SIGTERM
		}
		cmd := e.createCmd()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		_ = cmd.Process.Signal(sig)
		code := exitCode(cmd.Wait())
		switch code {
		case 0:
			e.removeInterruptVM() // it finished before the signal
			continue
		case 130:
			interrupted++
		case -int(sig):
			// killed before hvctl handles signals: before it made anything (checked below)
		default:
			t.Errorf("%s at %s: exit %d\n%s", sig, at, code, stderr.String())
		}
		if left := e.leftovers(); len(left) > 0 {
			t.Errorf("%s at %s left %v\n%s", sig, at, left, stderr.String())
			e.removeInterruptVM()
		}
	}
	if interrupted < 6 {
		t.Errorf("only %d of 24 signals interrupted a create: the offsets miss it", interrupted)
	}
}

// A daemon frozen at many points of a create ends the create at --timeout; once the daemon
// runs again (within the rollback's own deadline) the rollback removes everything, the calls
// that were in flight included.
func TestCreateWithFrozenDaemonLeavesNothing(t *testing.T) {
	e := setup(t)
	t.Cleanup(e.removeInterruptVM)
	start := time.Now()
	if out, err := e.createCmd().CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted create: %v\n%s", err, out)
	}
	took := time.Since(start)
	e.removeInterruptVM()
	timedOut := 0
	for _, at := range offsets(took, 10) {
		cmd := e.createCmd("--timeout", "2s")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		thaw := freeze(t)
		time.Sleep(3 * time.Second)
		thaw()
		code := exitCode(cmd.Wait())
		switch code {
		case 0:
			e.removeInterruptVM()
			continue
		case 5:
			timedOut++
		default:
			t.Errorf("frozen at %s: exit %d\n%s", at, code, stderr.String())
		}
		if left := e.leftovers(); len(left) > 0 {
			t.Errorf("frozen at %s left %v\n%s", at, left, stderr.String())
			e.removeInterruptVM()
		}
	}
	if timedOut < 3 {
		t.Errorf("only %d of 10 freezes caught a create", timedOut)
	}
}

// wait ends at --timeout when the daemon freezes mid-wait, for every condition, and does not
// crash when the daemon comes back (it did: SIGSEGV in virConnectDomainEventDeregisterAny).
func TestWaitWithFrozenDaemon(t *testing.T) {
	e := setup(t)
	e.act("started", "start", guests[0])
	t.Cleanup(func() { _, _, _ = e.run("vmctl", "kill", guests[0]) })
	for _, cond := range []string{"ip", "agent", "stopped"} {
		for _, at := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
			cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "wait", guests[0], "--for", cond, "--timeout", "3s")
			cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			begun := time.Now()
			time.Sleep(at)
			thaw := freeze(t)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(12 * time.Second):
				thaw()
				err = <-done
				t.Errorf("wait --for %s, frozen at %s: still waiting 12 s later (ended %s after the thaw)", cond, at, time.Since(begun)-12*time.Second)
			}
			took := time.Since(begun)
			thaw()
			// The guest boots while the cases run: its address and its agent may come before the
			// freeze (success is then right); a running guest never satisfies "stopped".
			if code := exitCode(err); code < 0 || code == 2 || code == 0 && cond == "stopped" || took > 4500*time.Millisecond {
				t.Errorf("wait --for %s, frozen at %s: exit %d after %s\n%s", cond, at, code, took, stderr.String())
			} else {
				t.Logf("wait --for %s, frozen at %s: exit %d after %s: %s", cond, at, code, took.Round(time.Millisecond), strings.TrimSpace(stderr.String()))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// A clone whose source has a malformed seed (go-diskfs panicked on it, and the clone left two
// volumes) fails cleanly and leaves nothing.
func TestCloneWithMalformedSeedLeavesNothing(t *testing.T) {
	e := setup(t)
	const clone = interruptVM + "-cl"
	t.Cleanup(e.removeInterruptVM)
	t.Cleanup(func() {
		if p, err := e.conn.LookupStoragePoolByName(poolName); err == nil {
			for _, n := range []string{".qcow2", "-data1.qcow2", "-cidata.iso"} {
				if v, err := p.LookupStorageVolByName(clone + n); err == nil {
					_ = v.Delete(0)
					_ = v.Free()
				}
			}
			_ = p.Free()
		}
	})
	if out, err := e.createCmd().CombinedOutput(); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	iso, err := (&seed.Seed{UserData: []byte("#cloud-config\n{}\n"), MetaData: []byte(`{}`)}).ISO()
	if err != nil {
		t.Fatal(err)
	}
	for sec := 16; sec < 32; sec++ { // shorten the Joliet path table to 3 bytes
		if d := iso[sec*2048:]; d[0] == 2 && string(d[1:6]) == "CD001" {
			binary.LittleEndian.PutUint32(d[132:], 3)
			binary.BigEndian.PutUint32(d[136:], 3)
		}
	}
	if err := os.WriteFile(filepath.Join(poolDir, interruptVM+"-cidata.iso"), iso, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.run("vmctl", "clone", interruptVM, clone)
	if code == 0 || code == 2 || !strings.Contains(errOut, "malformed") || strings.Contains(errOut, "goroutine") {
		t.Errorf("clone of a VM with a malformed seed: exit %d\n%s", code, errOut)
	}
	p, err := e.conn.LookupStoragePoolByName(poolName)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	_ = p.Refresh(0)
	for _, n := range []string{".qcow2", "-data1.qcow2", "-cidata.iso"} {
		if v, err := p.LookupStorageVolByName(clone + n); err == nil {
			_ = v.Free()
			t.Errorf("the failed clone left %s", clone+n)
		}
	}
	if d, err := e.conn.LookupDomainByName(clone); err == nil {
		_ = d.Free()
		t.Errorf("the failed clone left its definition")
	}
}

// After a create is SIGKILLed (no rollback can run) a new create of the name fails on the
// leftover volumes; vmctl gc lists and removes them, and the create then works.
func TestGCAfterKilledCreate(t *testing.T) {
	e := setup(t)
	t.Cleanup(e.removeInterruptVM)
	start := time.Now()
	if out, err := e.createCmd().CombinedOutput(); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	took := time.Since(start)
	e.removeInterruptVM()
	env := append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config, "HVCTL_VM_DEFAULTS_POOL="+poolName)
	orphaned := 0
	for _, at := range offsets(took, 12) {
		cmd := e.createCmd()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// libvirtd finishes a call whose client died: a define sent just before the kill can
		// land after it. Judge what was left only once the daemon has settled.
		left := e.settledLeftovers()
		if len(left) == 0 {
			continue
		}
		if d, err := e.conn.LookupDomainByName(interruptVM); err == nil {
			_ = d.Free()
			e.removeInterruptVM() // killed after the define: a whole VM, not gc's business
			continue
		}
		orphaned++
		if out, err := e.createCmd().CombinedOutput(); err == nil || !strings.Contains(string(out), "vmctl gc") {
			t.Errorf("create over leftovers %v: %v\n%s", left, err, out)
		}
		gc := exec.Command(filepath.Join(e.bin, "vmctl"), "gc", interruptVM, "--yes", "--json")
		gc.Env = env
		out, err := gc.CombinedOutput()
		if err != nil {
			t.Fatalf("gc: %v\n%s", err, out)
		}
		if still := e.leftovers(); len(still) > 0 {
			t.Errorf("gc left %v (had %v)\n%s", still, left, out)
		}
		if out, err := e.createCmd().CombinedOutput(); err != nil {
			t.Errorf("create after gc: %v\n%s", err, out)
		}
		e.removeInterruptVM()
	}
	t.Logf("%d of 12 kills left orphaned volumes, all removed by gc", orphaned)
}

// settledLeftovers is leftovers once two looks a second apart agree, for at most ten seconds:
// calls of a killed client may still be running in libvirtd.
func (e *env) settledLeftovers() []string {
	left := e.leftovers()
	for range 10 {
		time.Sleep(time.Second)
		again := e.leftovers()
		if slices.Equal(again, left) {
			return again
		}
		left = again
	}
	return left
}
