package cmdutil

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestResolve(t *testing.T) {
	existing := []string{"db-01", "web-01", "web-02"}
	targets, unmatched := BulkFlags{}.Resolve([]string{"web-*", "web-01", "ghost", "x*"}, existing)
	if !slices.Equal(targets, []string{"ghost", "web-01", "web-02"}) || !slices.Equal(unmatched, []string{"x*"}) {
		t.Errorf("got %v %v", targets, unmatched)
	}
	all, _ := BulkFlags{All: true}.Resolve(nil, existing)
	if !slices.Equal(all, existing) {
		t.Errorf("--all: %v", all)
	}
}

func TestRunBulkBoundsParallelism(t *testing.T) {
	var running, peak atomic.Int32
	targets := []string{"a", "b", "c", "d", "e", "f", "g"}
	results, failures := RunBulk(context.Background(), targets, 3, func(_ context.Context, name string) (string, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		if name == "c" {
			return "", errs.New(errs.NotFound, "domain c not found")
		}
		return "started", nil
	})
	if peak.Load() > 3 {
		t.Errorf("peak concurrency %d > 3", peak.Load())
	}
	if len(results) != 7 || results[2].OK || results[2].Code != "not_found" || failures[2] == nil || !results[0].OK || results[0].Action != "started" {
		t.Errorf("results: %+v", results)
	}
	err := BulkResultError("start", results, failures)
	if errs.KindOf(err) != errs.Partial || err.Error() != "start failed for 1 of 7 targets" {
		t.Errorf("partial: %v", err)
	}
	if err := BulkResultError("start", results[:1], failures[:1]); err != nil {
		t.Errorf("all ok: %v", err)
	}
	if err := BulkResultError("start", results[2:3], failures[2:3]); errs.KindOf(err) != errs.NotFound || err.Error() != "start c: domain c not found" {
		t.Errorf("single: %v", err)
	}
}

func TestRunBulkInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results, failures := RunBulk(ctx, []string{"a", "b"}, 1, func(context.Context, string) (string, error) { return "x", nil })
	for i, r := range results {
		if r.OK || failures[i] == nil {
			t.Errorf("%s ran after cancel: %+v", r.Name, r)
		}
	}
}
