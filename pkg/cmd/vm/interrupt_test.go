package vm

import (
	"context"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// interruptAt returns a context that is cancelled inside the nth libvirt call (counting from 1),
// just before that call reaches libvirt, and held there until the caller has given up on it:
// the call then completes behind the command's back, as libvirtd does with a call in flight
// when Ctrl-C arrives. calls reports how many calls were made.
func interruptAt(n int64) (ctx context.Context, calls *atomic.Int64, cancel context.CancelFunc) {
	ctx, cancel = context.WithCancel(context.Background())
	calls = &atomic.Int64{}
	ctx = virt.WithCallHook(ctx, func(string) {
		if calls.Add(1) == n {
			cancel()
			time.Sleep(20 * time.Millisecond) // the caller sees Done and returns first
		}
	})
	return ctx, calls, cancel
}

// An interrupt at every libvirt call of create, in turn, leaves nothing: no volume, no
// definition, whatever call was in flight.
func TestCreateInterruptedAtEveryCallLeavesNothing(t *testing.T) {
	c := virttest.Open(t)
	dir := profiles(t)
	for n := int64(1); ; n++ {
		o, _ := createFactory(t, dir)
		o.Profile, o.Start = "small", true
		ctx, calls, cancel := interruptAt(n)
		err := runCreate(ctx, o)
		cancel()
		if err == nil {
			if n < 4 {
				t.Fatalf("create succeeded after only %d calls", calls.Load())
			}
			t.Logf("create makes %d libvirt calls; interrupted at each of the first %d", calls.Load(), n-1)
			return
		}
		if errs.KindOf(err) != errs.Interrupted {
			t.Fatalf("interrupted at call %d: %v", n, err)
		}
		if vols := virttest.Volumes(t, c, "default-pool"); len(vols) != 0 {
			t.Fatalf("interrupted at call %d: volumes left: %v", n, vols)
		}
		if _, err := c.Domain(context.Background(), "small"); errs.KindOf(err) != errs.NotFound {
			t.Fatalf("interrupted at call %d: definition left (%v)", n, err)
		}
		if n > 200 {
			t.Fatal("create never completed")
		}
	}
}

// The same for clone: only the source's volume remains.
func TestCloneInterruptedAtEveryCallLeavesNothing(t *testing.T) {
	c := virttest.Open(t)
	bg := context.Background()
	if _, err := c.CreateVolume(bg, virt.NewVolume{Pool: "default-pool", Name: "src.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateVolume(bg, virt.NewVolume{Pool: "default-pool", Name: "src-data1.qcow2", Format: "qcow2", Capacity: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(cloneSrc, "<disk type='file' device='cdrom'>",
		"<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/><source pool='default-pool' volume='src-data1.qcow2'/><target dev='vdb' bus='virtio'/></disk><disk type='file' device='cdrom'>", 1)
	virttest.Define(t, c, src)
	for _, linked := range []bool{false, true} {
		for n := int64(1); ; n++ {
			o := cloneOpts(t, "src", "dst", linked)
			o.Start = true
			ctx, calls, cancel := interruptAt(n)
			err := runClone(ctx, o)
			cancel()
			if err == nil {
				t.Logf("clone (linked %v) makes %d libvirt calls; interrupted at each of the first %d", linked, calls.Load(), n-1)
				d, err := c.Domain(bg, "dst")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.Undefine(bg, true); err != nil {
					t.Fatal(err)
				}
				d.Free()
				for _, v := range []string{"dst.qcow2", "dst-data1.qcow2"} {
					deleteVolume(t, c, v)
				}
				break
			}
			if errs.KindOf(err) != errs.Interrupted {
				t.Fatalf("linked %v, interrupted at call %d: %v", linked, n, err)
			}
			if vols := virttest.Volumes(t, c, "default-pool"); !slices.Equal(sorted(vols), []string{"src-data1.qcow2", "src.qcow2"}) {
				t.Fatalf("linked %v, interrupted at call %d: volumes %v", linked, n, vols)
			}
			if _, err := c.Domain(bg, "dst"); errs.KindOf(err) != errs.NotFound {
				t.Fatalf("linked %v, interrupted at call %d: definition left (%v)", linked, n, err)
			}
			if n > 200 {
				t.Fatal("clone never completed")
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func deleteVolume(t *testing.T, c *virt.Conn, name string) {
	t.Helper()
	p, err := c.Raw().LookupStoragePoolByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	v, err := p.LookupStorageVolByName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Free()
	if err := v.Delete(0); err != nil {
		t.Fatal(err)
	}
}

// A bulk verb connects, lists and acts under --timeout: a daemon that stops answering (here a
// call that takes 3 s) ends it at the timeout, not at a fixed 30 s.
func TestBulkVerbsHonourTimeout(t *testing.T) {
	virttest.Open(t)
	for _, slow := range []string{"list domains", "destroy test", "start test"} {
		o, _ := createFactory(t, t.TempDir())
		lo := &LifecycleOptions{F: o.F, Verb: "start", Targets: []string{"test"}, Bulk: cmdutil.BulkFlags{Parallel: 1}, PerVM: 300 * time.Millisecond,
			Act: func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) { return d.Start(ctx) }}
		if slow == "destroy test" {
			lo.Verb, lo.Act = "kill", func(ctx context.Context, d *virt.Domain, _ *LifecycleOptions) (string, error) { return d.Kill(ctx) }
		}
		release := make(chan struct{})
		ctx := virt.WithCallHook(context.Background(), func(what string) {
			if what == slow {
				select {
				case <-release:
				case <-time.After(3 * time.Second):
				}
			}
		})
		start := time.Now()
		err := runLifecycle(ctx, lo)
		if took := time.Since(start); errs.KindOf(err) != errs.Timeout || took > 1500*time.Millisecond {
			t.Errorf("%s with %q stuck: %v after %s", lo.Verb, slow, err, took)
		}
		close(release)
		time.Sleep(50 * time.Millisecond) // the released call finishes
	}
}
