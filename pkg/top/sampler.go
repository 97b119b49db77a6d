package top

import (
	"context"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Sampler takes the view's samples: one bulk statistics call for every VM (pkg/stats) and the
// host's node statistics, with rates against the previous sample. It owns its connection: a
// lost one is closed and opened again at the next attempt; one whose daemon stopped answering
// is kept, and no new call is stacked on it until the stuck one returns (keepalive ends it if
// the daemon never does).
type Sampler struct {
	Connect func(ctx context.Context) (*virt.Conn, error)
	Timeout time.Duration // bounds each attempt: connecting, or one sample

	conn     *virt.Conn
	prev     model.StatsSample
	prevHost virt.HostCounters
	lastErr  error
}

// Next takes one sample. The first gives null rates (nothing to compare with yet).
func (s *Sampler) Next(ctx context.Context) (Update, error) {
	ctx, cancel := virt.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if s.conn == nil {
		c, err := s.Connect(ctx)
		if err != nil {
			return Update{}, err
		}
		s.conn = c
	}
	if !s.conn.Answering() && s.lastErr != nil {
		return Update{}, s.lastErr // the call that timed out is still in the daemon
	}
	cur, err := stats.Sample(ctx, s.conn)
	var host virt.HostCounters
	if err == nil {
		host, err = s.conn.HostCounters(ctx)
	}
	if err != nil {
		s.lastErr = err
		if errs.KindOf(err) == errs.Unreachable {
			s.conn.Close()
			s.conn = nil
		}
		return Update{}, err
	}
	s.lastErr = nil
	u := Update{Report: stats.Rates(s.prev, cur), Host: host, HostBusyPct: virt.HostCPUBusyPercent(s.prevHost, host)}
	s.prev, s.prevHost = cur, host
	return u, nil
}

// Close closes the connection.
func (s *Sampler) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
