package virt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// hostWith opens a private test-driver host holding one domain in the given libvirt run state
// (5 shut off, 3 paused, 6 crashed and kept: on_crash=preserve).
func hostWith(t *testing.T, name string, runstate int) *Conn {
	t.Helper()
	p := filepath.Join(t.TempDir(), "host.xml")
	x := `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>` + name +
		`</name><memory>65536</memory><on_crash>preserve</on_crash><os><type>hvm</type></os><test:runstate>` +
		string(rune('0'+runstate)) + `</test:runstate></domain></node>`
	if err := os.WriteFile(p, []byte(x), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), "test://"+p, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func domain(t *testing.T, c *Conn, name string) *Domain {
	t.Helper()
	d, err := c.Domain(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Free)
	return d
}

func stateOf(t *testing.T, d *Domain) string {
	t.Helper()
	s, _, err := d.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A crashed VM kept by on_crash=preserve still has its QEMU process: kill and stop --force
// destroy it, stop without --force and start say why they cannot.
func TestCrashedIsRunningForKillAndStop(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		verb string
		act  func(d *Domain) (string, error)
		want string // action; "" for a conflict
	}{
		{"kill", func(d *Domain) (string, error) { return d.Kill(ctx) }, ActDestroyed},
		{"stop --force", func(d *Domain) (string, error) { return d.Stop(ctx, StopOptions{Wait: time.Second, Force: true}) }, ActDestroyed},
		{"stop", func(d *Domain) (string, error) { return d.Stop(ctx, StopOptions{Wait: time.Second}) }, ""},
		{"start", func(d *Domain) (string, error) { return d.Start(ctx) }, ""},
	} {
		d := domain(t, hostWith(t, "crashy", 6), "crashy")
		act, err := tc.act(d)
		if tc.want != "" {
			if err != nil || act != tc.want || stateOf(t, d) != StateShutOff {
				t.Errorf("%s of a crashed VM: %q, %v, now %s", tc.verb, act, err, stateOf(t, d))
			}
			continue
		}
		if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), "crashed") || !strings.Contains(errs.HintOf(err), "vmctl kill crashy") {
			t.Errorf("%s of a crashed VM: %q, %v (hint %q)", tc.verb, act, err, errs.HintOf(err))
		}
		if s := stateOf(t, d); s != StateCrashed {
			t.Errorf("%s of a crashed VM left it %s", tc.verb, s)
		}
	}
}

// A stop of a paused VM interrupted at any of its libvirt calls leaves it paused (and says so)
// or reports it stopped when it did power off; never running, never "interrupted" for a VM
// that is off.
func TestInterruptedStopOfPausedVM(t *testing.T) {
	for n := int64(1); n < 100; n++ {
		c := hostWith(t, "napper", 3)
		d := domain(t, c, "napper")
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		ctx = WithCallHook(ctx, func(string) {
			if calls.Add(1) == n {
				cancel()
				time.Sleep(20 * time.Millisecond)
			}
		})
		act, err := d.Stop(ctx, StopOptions{Wait: 5 * time.Second})
		cancel()
		state := stateOf(t, d)
		switch {
		case err == nil && calls.Load() < n:
			t.Logf("stop of a paused VM makes %d calls; interrupted at each", n-1)
			if act != ActStopped || state != StateShutOff {
				t.Errorf("uninterrupted stop: %q, now %s", act, state)
			}
			return
		case err == nil:
			if act != ActStopped || state != StateShutOff {
				t.Errorf("interrupted at call %d: reported %q, but it is %s", n, act, state)
			}
		default:
			if state != StatePaused {
				t.Errorf("interrupted at call %d: %v, and it is %s", n, err, state)
			}
		}
	}
	t.Fatal("stop never completed")
}

// An upload interrupted while its volume's create is in flight leaves no volume (the same
// in-flight class as create's rollback), and one that fails later removes its volume too.
func TestUploadFileInterruptedLeavesNoVolume(t *testing.T) {
	c, err := Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	exists := func() bool {
		ok, err := c.VolumeExists(context.Background(), "default-pool", "up.iso")
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctx = WithCallHook(ctx, func(what string) {
		if what == "create volume up.iso" {
			cancel()
			time.Sleep(20 * time.Millisecond)
		}
	})
	if err := c.UploadFile(ctx, "default-pool", "up.iso", src, nil); errs.KindOf(err) != errs.Interrupted {
		t.Errorf("interrupted upload: %v", err)
	}
	if exists() {
		t.Error("the interrupted upload left its volume")
	}
	// The test driver cannot upload: the volume made for it goes again.
	if err := c.UploadFile(context.Background(), "default-pool", "up.iso", src, nil); err == nil {
		t.Skip("this test driver uploads")
	}
	if exists() {
		t.Error("the failed upload left its volume")
	}
}

// A revert the caller gives up on (an interrupt) still completes in libvirt: its snapshot
// handle must not be freed under it.
func TestInterruptedRevertKeepsItsHandle(t *testing.T) {
	c := hostWith(t, "snappy", 1)
	d := domain(t, c, "snappy")
	bg := context.Background()
	if _, err := d.CreateSnapshot(bg, "s1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Kill(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	ctx = WithCallHook(ctx, func(what string) {
		if what == "revert snappy" {
			cancel()
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := d.RevertSnapshot(ctx, "s1", ""); errs.KindOf(err) != errs.Interrupted {
		t.Fatalf("interrupted revert: %v", err)
	}
	if err := c.Settle(bg); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, d); s != StateRunning {
		t.Errorf("the revert in flight did not complete (its handle was freed under it): %s", s)
	}
}
