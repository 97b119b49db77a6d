// Package progress reports how far long work has come: a progress bar on stderr when stderr is
// a terminal, nothing otherwise (cron and pipelines read results, not animations).
package progress

import (
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/schollz/progressbar/v3"
)

// Reporter counts finished units of work. It is safe for concurrent use.
type Reporter interface {
	Done(n int)
	Finish()
}

type nop struct{}

func (nop) Done(int) {}
func (nop) Finish()  {}

type bar struct {
	mu sync.Mutex
	b  *progressbar.ProgressBar
}

func (b *bar) Done(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.b.Add(n)
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
	return &bar{b: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(ios.ErrOut),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}
