package stats

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// openTest connects to the in-process test driver, counting connects; each connect first
// waits for gate (nil: at once).
func openTest(opens *atomic.Int32, gate chan struct{}) func(context.Context) (*virt.Conn, error) {
	return func(ctx context.Context) (*virt.Conn, error) {
		opens.Add(1)
		if gate != nil {
			<-gate
		}
		return virt.Open(ctx, "test:///default", true)
	}
}

// TestSamplerOneConnectAtATime: while the daemon does not answer a connect, 50 timed-out
// samples wait for one connect attempt instead of leaving 50 behind; once it answers, every
// sample reuses that one connection.
func TestSamplerOneConnectAtATime(t *testing.T) {
	gate := make(chan struct{})
	var opens atomic.Int32
	s := &Sampler{Open: openTest(&opens, gate)}
	defer s.Close()
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := s.Sample(ctx)
		cancel()
		if errs.KindOf(err) != errs.Timeout {
			t.Fatalf("sample %d with the connect stuck: %v, want a timeout", i, err)
		}
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("50 timed-out samples started %d connects, want 1", n)
	}
	if g := runtime.NumGoroutine(); g > before+2 {
		t.Errorf("50 timed-out samples left %d goroutines (%d before)", g, before)
	}
	close(gate)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		smp, err := s.Sample(ctx)
		if err != nil || len(smp.VMs) == 0 {
			t.Fatalf("sample %d once the daemon answers: %v, %d VMs", i, err, len(smp.VMs))
		}
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("3 samples after the connect used %d connects, want the one", n)
	}
	// A connection whose daemon went away is retired; the next sample connects again.
	c, _ := s.get(ctx)
	s.failed(c, errs.New(errs.Unreachable, "lost connection"))
	if d, err := s.get(ctx); err != nil || d == c || opens.Load() != 2 {
		t.Errorf("after a lost connection: %v, new connection %v, %d connects", err, d != c, opens.Load())
	}
}

// TestSamplerAsksAgainOnAFreshConnection: a sample whose libvirt call gets stuck (the call hook
// holds it, as a hung QEMU's monitor holds the real call) answers by its deadline from a second
// connection; the stuck one is retired and closes itself once its call returns.
func TestSamplerAsksAgainOnAFreshConnection(t *testing.T) {
	var opens, reads atomic.Int32
	gate := make(chan struct{})
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	s := &Sampler{Open: openTest(&opens, nil), Read: func(ctx context.Context, c *virt.Conn) (model.StatsSample, error) {
		if reads.Add(1) == 1 {
			ctx = virt.WithCallHook(ctx, func(string) { <-gate })
		}
		return Sample(ctx, c)
	}}
	defer s.Close()
	first, err := s.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	smp, err := s.Sample(ctx)
	took := time.Since(start)
	if err != nil || len(smp.VMs) == 0 {
		t.Fatalf("sample with the first call stuck: %v, %d VMs", err, len(smp.VMs))
	}
	if took < 900*time.Millisecond || took > 1900*time.Millisecond {
		t.Errorf("sample took %s: want about half its 2s (then asked again), and within it", took)
	}
	if opens.Load() != 2 || reads.Load() != 2 || first.Unanswered() != 1 {
		t.Errorf("%d connects, %d reads, %d stuck calls on the first connection; want 2, 2, 1", opens.Load(), reads.Load(), first.Unanswered())
	}
	// The next sample uses the fresh connection at once.
	start = time.Now()
	if _, err := s.Sample(context.Background()); err != nil || time.Since(start) > 500*time.Millisecond || opens.Load() != 2 {
		t.Errorf("next sample: %v in %s with %d connects", err, time.Since(start), opens.Load())
	}
	close(gate)
	poll := time.Now()
	for first.Unanswered() != 0 && time.Since(poll) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if first.Unanswered() != 0 {
		t.Errorf("the stuck call did not return after the hook let it go")
	}
}
