package cmdutil_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// barrierListener accepts connections on loopback and answers none of them until n are open at
// once; then it closes them all. A client that contacts its hosts one after the other never gets
// there before its per-host deadline; one that contacts them concurrently does at once.
func barrierListener(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			if len(open) >= n {
				for _, c := range open {
					c.Close()
				}
				open = nil
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func fanOutTimeouts(t *testing.T, parallel int, timeout time.Duration) string {
	t.Helper()
	addr := barrierListener(t, 3)
	var hosts []cmdutil.Host
	for i := range 3 {
		hosts = append(hosts, cmdutil.Host{Name: fmt.Sprintf("s%d", i), URI: "qemu+tcp://" + addr + "/system"})
	}
	f, _, stderr := cmdutiltest.NewFactory(t, nil)
	hf := &cmdutil.HostFlags{Hosts: []string{"all"}, Parallel: parallel, Timeout: timeout}
	_, err := cmdutil.FanOut(context.Background(), f, nil, hf, hosts, true,
		func(context.Context, cmdutil.Host, *virt.Conn) ([]int, error) { return nil, nil })
	if err == nil {
		t.Fatal("no host can answer, yet no error")
	}
	return err.Error() + "\n" + stderr.String()
}

func TestFanOutContactsHostsConcurrently(t *testing.T) {
	if got := fanOutTimeouts(t, 8, time.Minute); strings.Contains(got, "did not answer within") {
		t.Errorf("hosts were not contacted at once: some waited for the deadline:\n%s", got)
	}
	// One at a time, the first hosts wait out their deadline: the barrier is what tells them apart.
	if got := fanOutTimeouts(t, 1, time.Second); !strings.Contains(got, "did not answer within 1s") {
		t.Errorf("--host-parallel 1 should have hit the per-host deadline:\n%s", got)
	}
}

// `--host ”` (an empty variable in a script) names no host: a usage error, not a silent
// fall-back to the local libvirt.
func TestEmptyHostFlagIsAnError(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	var hf cmdutil.HostFlags
	cmd := &cobra.Command{Use: "x"}
	cmdutil.AddHostFlags(f, cmd, &hf)
	if err := cmd.Flags().Parse([]string{"--host", ""}); err != nil {
		t.Fatal(err)
	}
	if !hf.Enabled() {
		t.Fatal("--host '' given, yet not enabled")
	}
	if _, err := f.ResolveHosts(&hf); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "empty host name") {
		t.Errorf("ResolveHosts: %v", err)
	}
}
