package virt

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// A domain undefined while list reads its hvctl metadata went away while we looked: the list
// goes on, as it does when the lookup itself finds nothing. (Another tenant defining and
// undefining domains made every vmctl list on that host fail with "domain not found".)
func TestListVMsGoesOnWhenADomainIsUndefinedMidway(t *testing.T) {
	c := fixture(t)
	var once sync.Once
	ctx := WithCallHook(context.Background(), func(what string) {
		if what != "metadata web-01" {
			return
		}
		once.Do(func() {
			d, err := c.Raw().LookupDomainByName("web-01")
			if err != nil {
				t.Error(err)
				return
			}
			defer d.Free()
			_ = d.Destroy()
			if err := d.Undefine(); err != nil {
				t.Error(err)
			}
		})
	})
	vms, err := c.ListVMs(ctx)
	if err != nil {
		t.Fatalf("a domain undefined midway failed the list: %v", err)
	}
	if !slices.ContainsFunc(vms, func(v model.VM) bool { return v.Name == "db-01" }) {
		t.Errorf("the other domains are missing: %+v", vms)
	}
	called := false
	once.Do(func() { called = true })
	if called {
		t.Fatal("list read no metadata of web-01: the test undefined nothing")
	}
}

// list reads the metadata of several domains at once: over a link with latency, one after
// another cost two or three round trips per domain. Each metadata call waits (up to 2 s) until
// another is in flight beside it; one at a time, none ever is.
func TestListVMsReadsMetadataConcurrently(t *testing.T) {
	c := fixture(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	together := make(chan struct{})
	var once sync.Once
	ctx := WithCallHook(context.Background(), func(what string) {
		if !strings.HasPrefix(what, "metadata ") {
			return
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight >= 2 {
			once.Do(func() { close(together) })
		}
		mu.Unlock()
		select {
		case <-together:
		case <-time.After(2 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	if _, err := c.ListVMs(ctx); err != nil {
		t.Fatal(err)
	}
	if most < 2 {
		t.Errorf("metadata reads went out one at a time (at most %d in flight)", most)
	}
}
