package cmdutil

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// HostSession is a host that answered ConnectHosts: its connection, still open, and what the
// look found there.
type HostSession[T any] struct {
	Host  Host
	Conn  *virt.Conn
	Found T
}

// CloseSessions closes the connections ConnectHosts left open.
func CloseSessions[T any](sessions []HostSession[T]) {
	for _, s := range sessions {
		s.Conn.Close()
	}
}

// ConnectHosts is FanOut for commands that act after they have looked (bulk verbs, evacuate):
// they must see every host's targets before asking for confirmation, then act over the same
// connections, under deadlines of their own rather than --host-timeout. It connects to every
// host concurrently (at most hf.Parallel at once) and runs look there, both under the host's own
// deadline (hf.Timeout); the connections of the hosts that answered stay open for the caller,
// who closes them (CloseSessions). Hosts that did not answer are reported and make the returned
// error as in FanOut: partial (exit 6) when some answered, the failure itself when none did or
// with --strict (then no sessions are returned, and none is left open).
func ConnectHosts[T any](ctx context.Context, f *Factory, cmd *cobra.Command, hf *HostFlags, hosts []Host, readOnly bool,
	look func(ctx context.Context, h Host, conn *virt.Conn) (T, error)) ([]HostSession[T], error) {
	sessions := make([]*HostSession[T], len(hosts))
	failures := make([]error, len(hosts))
	sem := make(chan struct{}, hf.Parallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				failures[i] = ctx.Err()
				return
			}
			hctx, cancel := virt.WithTimeout(ctx, hf.Timeout)
			defer cancel()
			conn, err := virt.Open(hctx, h.URI, readOnly)
			if err == nil {
				var found T
				if found, err = look(hctx, h, conn); err == nil {
					sessions[i] = &HostSession[T]{Host: h, Conn: conn, Found: found}
				} else {
					conn.Close()
				}
			}
			if err != nil && hctx.Err() != nil && ctx.Err() == nil {
				// Name --host-timeout only where the command has it: evacuate gives its hosts a
				// deadline of its own.
				knob, hint := "--host-timeout ", "is its daemon stuck or overloaded? raise --host-timeout or check that host's libvirtd log"
				if cmd == nil || cmd.Flags().Lookup("host-timeout") == nil {
					knob, hint = "", "is its daemon stuck or overloaded? check that host's libvirtd log"
				}
				msg := err.Error()
				if errs.KindOf(err) != errs.Timeout {
					msg = fmt.Sprintf("no answer within %s%s", knob, ShortDuration(hf.Timeout))
				}
				err = &errs.Error{Kind: errs.Timeout, Msg: msg, Err: err, Hint: hint}
			}
			failures[i] = err
		}()
	}
	wg.Wait()
	var out []HostSession[T]
	for _, s := range sessions {
		if s != nil {
			out = append(out, *s)
		}
	}
	if err := ctx.Err(); err != nil {
		CloseSessions(out)
		return nil, err
	}
	var failed []HostFailure
	for i, h := range hosts {
		if failures[i] != nil {
			failed = append(failed, HostFailure{Host: h, Err: failures[i]})
		}
	}
	if len(failed) == 0 {
		return out, nil
	}
	if hf.Strict || len(failed) == len(hosts) {
		CloseSessions(out)
		return nil, f.hostsFailed(cmd, failed, len(hosts))
	}
	names := make([]string, len(failed))
	for i, fl := range failed {
		f.reportHostFailure(cmd, fl)
		names[i] = fl.Host.Name
	}
	return out, errs.New(errs.Partial, "%d of %d hosts did not answer: %s", len(failed), len(hosts), strings.Join(names, ", "))
}
