// Package progress reports how far long work has come: a progress bar on stderr when stderr is
// a terminal, nothing otherwise (cron and pipelines read results, not animations).
package progress

import (
	"io"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/schollz/progressbar/v3"
)

// Reporter counts finished units of work. It is safe for concurrent use.
type Reporter interface {
	Done(n int)
	Finish()
	// Above runs say, which writes whole lines to stderr, with the bar cleared before and
	// drawn again after, so that a message between units does not run into the bar's line.
	Above(say func())
}

type nop struct{}

func (nop) Done(int)         {}
func (nop) Finish()          {}
func (nop) Above(say func()) { say() }

type bar struct {
	mu sync.Mutex
	b  *progressbar.ProgressBar
	w  io.Writer
}

func (b *bar) Done(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.b.Add(n)
}

func (b *bar) Above(say func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.b.Clear()
	say()
	// The bar's last drawing, again: rendering anew would be throttled away right after a unit.
	if drawn := b.b.String(); drawn != "" {
		_, _ = io.WriteString(b.w, "\r"+drawn)
	} else {
		_ = b.b.RenderBlank()
	}
}

func (b *bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.b.Finish()
}

// New returns a reporter for total units described by what; a bar only when stderr is a
// terminal, messages are not silenced (-q) and there is more than one unit.
func New(ios *iostreams.IOStreams, total int, what string) Reporter {
	if !ios.IsStderrTTY() || ios.Quiet || total < 2 {
		return nop{}
	}
	return &bar{w: ios.ErrOut, b: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(ios.ErrOut),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// Bytes is a reporter of transferred bytes (a download): bar with size, rate and time left on
// a terminal, nothing otherwise.
type Bytes interface {
	Set(done, total int64)
	Finish()
}

type nopBytes struct{}

func (nopBytes) Set(int64, int64) {}
func (nopBytes) Finish()          {}

type byteBar struct {
	b     *progressbar.ProgressBar
	total int64
}

func (b *byteBar) Set(done, total int64) {
	if total > 0 && total != b.total {
		b.total = total
		b.b.ChangeMax64(total)
	}
	_ = b.b.Set64(done)
}

func (b *byteBar) Finish() { _ = b.b.Finish() }

// NewBytes returns a byte reporter for what.
func NewBytes(ios *iostreams.IOStreams, what string) Bytes {
	if !ios.IsStderrTTY() || ios.Quiet {
		return nopBytes{}
	}
	return &byteBar{b: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(ios.ErrOut),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}
