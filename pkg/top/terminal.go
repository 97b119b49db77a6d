package top

import (
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// The screen needs a dozen escape sequences that every terminal since the VT100 (xterm and its
// kin, the Linux console, tmux, screen) understands; writing them here keeps hvctl free of a
// curses binding or a TUI framework (see README: golang.org/x/term gives raw mode and the size).
const (
	enterAltScreen = "\x1b[?1049h" // save the shell's screen and switch to a blank one
	leaveAltScreen = "\x1b[?1049l" // … and bring the shell's screen back
	hideCursor     = "\x1b[?25l"
	showCursor     = "\x1b[?25h"
	noAutoWrap     = "\x1b[?7l" // a line that is too long is cut by the terminal, not wrapped
	autoWrap       = "\x1b[?7h"
	cursorHome     = "\x1b[H"
	clearLine      = "\x1b[2K"
	clearScreen    = "\x1b[2J"
	reverseVideo   = "\x1b[7m"
	normalVideo    = "\x1b[m"
)

// EnterSequence is what taking the screen writes; LeaveSequence what giving it back writes,
// ending with leaving the alternate screen and showing the cursor, in that order.
const (
	EnterSequence = enterAltScreen + hideCursor + noAutoWrap + clearScreen
	LeaveSequence = normalVideo + autoWrap + leaveAltScreen + showCursor
)

// Terminal is the terminal the view takes over: raw input (keys arrive one by one, Ctrl-C as a
// byte, nothing echoed) and the alternate screen. Restore gives both back and may be called
// any number of times, from any goroutine; Take takes them again (after a suspension).
type Terminal struct {
	in, out *os.File
	mu      sync.Mutex
	old     *term.State // the modes to go back to
	taken   bool
}

// OpenTerminal puts in into raw mode and out onto the alternate screen.
func OpenTerminal(in, out *os.File) (*Terminal, error) {
	t := &Terminal{in: in, out: out}
	return t, t.Take()
}

// Take puts the terminal into raw mode and onto the alternate screen.
func (t *Terminal) Take() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.taken {
		return nil
	}
	old, err := term.MakeRaw(int(t.in.Fd()))
	if err != nil {
		return err
	}
	if _, err := t.out.WriteString(EnterSequence); err != nil {
		_ = term.Restore(int(t.in.Fd()), old)
		return err
	}
	t.old, t.taken = old, true
	return nil
}

// Restore leaves the alternate screen, shows the cursor and puts the terminal's modes back as
// they were. Errors are ignored: after a hang-up there is no terminal left to restore.
func (t *Terminal) Restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.taken {
		return
	}
	t.taken = false
	_, _ = t.out.WriteString(LeaveSequence)
	_ = term.Restore(int(t.in.Fd()), t.old)
}

// Size is the terminal's width and height; 80×24 when it cannot be read.
func (t *Terminal) Size() (width, height int) {
	w, h, err := term.GetSize(int(t.out.Fd()))
	if err != nil || w <= 0 || h <= 0 {
		return 80, 24
	}
	return w, h
}

// Draw writes lines over the whole screen in one write (no flicker): each line is cleared
// before it is written, lines past the last are cleared too. The lines must already fit the
// width (View.Render sees to it).
func (t *Terminal) Draw(lines []Line, height int) error {
	_, err := t.out.WriteString(Frame(lines, height))
	return err
}

// Frame is the bytes that draw lines on a screen of height lines.
func Frame(lines []Line, height int) string {
	var b strings.Builder
	b.WriteString(cursorHome)
	for i := 0; i < height; i++ {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(clearLine)
		if i < len(lines) {
			if lines[i].Reverse {
				b.WriteString(reverseVideo + lines[i].Text + normalVideo)
			} else {
				b.WriteString(lines[i].Text)
			}
		}
	}
	return b.String()
}
