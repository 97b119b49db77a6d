package progress

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// Steps shows which step of a long command is running, on one status line of a terminal with
// the time the step has taken so far ("create web01: waiting for an IP address (12s)"), and
// nothing when stderr is not a terminal or messages are silenced (-q).
type Steps interface {
	Step(format string, args ...any)
	Finish() // clears the status line; safe to call more than once
}

type noSteps struct{}

func (noSteps) Step(string, ...any) {}
func (noSteps) Finish()             {}

type statusLine struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	text   string
	since  time.Time
	now    func() time.Time
	stop   chan struct{}
	done   bool
}

// NewSteps returns a status line for a command, prefix naming it ("create web01").
func NewSteps(ios *iostreams.IOStreams, prefix string) Steps {
	if !ios.IsStderrTTY() || ios.Quiet {
		return noSteps{}
	}
	s := &statusLine{w: ios.ErrOut, prefix: prefix, now: time.Now, stop: make(chan struct{})}
	go s.tick(time.Second)
	return s
}

func (s *statusLine) Step(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.text, s.since = fmt.Sprintf(format, args...), s.now()
	s.draw()
}

// draw rewrites the line; the caller holds mu.
func (s *statusLine) draw() {
	line := s.prefix + ": " + s.text
	if secs := int(s.now().Sub(s.since).Seconds()); secs > 0 {
		line += fmt.Sprintf(" (%ds)", secs)
	}
	fmt.Fprint(s.w, "\r\x1b[K"+output.Escape(line))
}

func (s *statusLine) tick(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.done && s.text != "" {
				s.draw()
			}
			s.mu.Unlock()
		}
	}
}

func (s *statusLine) Finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	close(s.stop)
	if s.text != "" {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
}
