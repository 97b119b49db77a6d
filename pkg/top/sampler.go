package top

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// Sampler takes the view's samples: one bulk statistics call for every VM (pkg/stats) and the
// host's node statistics, with rates against the previous sample. Its connection is
// stats.Sampler's, shared with vmctl stats and the metrics exporter: a lost one is opened
// again, and a call stuck on a hung VM's QEMU retires it for a fresh one that reports the
// rest (the hung VM marked timed out) instead of freezing the view.
type Sampler struct {
	Connect func(ctx context.Context) (*virt.Conn, error)
	Timeout time.Duration // bounds each sample

	conns    *stats.Sampler
	host     virt.HostCounters // of the last read, set by read
	prev     model.StatsSample
	prevHost virt.HostCounters
}

// openPanic carries a panic of Connect out of stats.Sampler's connecting goroutine, which no
// one guards: unrecovered there it would end the process with the terminal still raw.
type openPanic struct{ msg string }

func (p openPanic) Error() string { return p.msg }

func (s *Sampler) open(ctx context.Context) (c *virt.Conn, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, openPanic{fmt.Sprintf("%v\n\n%s", r, debug.Stack())}
		}
	}()
	return s.Connect(ctx)
}

// read is one sample on c: every VM's counters, then the host's.
func (s *Sampler) read(ctx context.Context, c *virt.Conn) (model.StatsSample, error) {
	smp, err := stats.Sample(ctx, c)
	if err != nil {
		return smp, err
	}
	h, err := c.HostCounters(ctx)
	if err != nil {
		return smp, err
	}
	s.host = h
	return smp, nil
}

// Next takes one sample. The first gives null rates (nothing to compare with yet).
func (s *Sampler) Next(ctx context.Context) (Update, error) {
	if s.conns == nil {
		s.conns = &stats.Sampler{Open: s.open, Read: s.read}
	}
	ctx, cancel := virt.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cur, err := s.conns.Sample(ctx)
	if p, ok := err.(openPanic); ok {
		panic(p.msg) // here, in Run's guarded goroutine, which restores the terminal first
	}
	if err != nil {
		return Update{}, err
	}
	u := Update{Report: stats.Rates(s.prev, cur), Host: s.host, HostBusyPct: virt.HostCPUBusyPercent(s.prevHost, s.host)}
	s.prev, s.prevHost = cur, s.host
	return u, nil
}

// Close closes the connection.
func (s *Sampler) Close() {
	if s.conns != nil {
		s.conns.Close()
	}
}
