// Package iostreams carries stdin/stdout/stderr with their terminal properties, so commands never
// touch os.Stdout directly and tests can pretend to be a terminal.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// IOStreams is the I/O of one command invocation.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	width                 int
	color                 bool
	Quiet                 bool // -q: no messages, only errors
}

// System returns the process's streams. HVCTL_FORCE_TTY=1 (or a width) makes tests see a terminal.
func System() *IOStreams {
	s := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	s.inTTY = term.IsTerminal(int(os.Stdin.Fd()))
	s.outTTY = term.IsTerminal(int(os.Stdout.Fd()))
	s.errTTY = term.IsTerminal(int(os.Stderr.Fd()))
	s.width = 80
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
		s.width = w
	}
	if f := os.Getenv("HVCTL_FORCE_TTY"); f != "" && f != "0" {
		s.inTTY, s.outTTY, s.errTTY = true, true, true
		if n, err := strconv.Atoi(f); err == nil && n > 1 {
			s.width = n
		}
	}
	_, noColor := os.LookupEnv("NO_COLOR")
	s.color = s.outTTY && !noColor && os.Getenv("TERM") != "dumb"
	return s
}

// Test returns streams backed by buffers: not a terminal, 80 columns, no colour.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, width: 80}, in, out, errOut
}

func (s *IOStreams) IsStdinTTY() bool  { return s.inTTY }
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }
func (s *IOStreams) ColorEnabled() bool {
	return s.color
}
func (s *IOStreams) TerminalWidth() int { return s.width }

// SetTTY overrides terminal detection (tests).
func (s *IOStreams) SetTTY(in, out, err bool) { s.inTTY, s.outTTY, s.errTTY = in, out, err }

// CanPrompt says whether a question can be asked and answered.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.errTTY }
