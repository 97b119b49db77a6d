package top

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"golang.org/x/sys/unix"
)

// Options of one interactive run.
type Options struct {
	In, Out  *os.File // the terminal
	View     *View
	Sampler  *Sampler
	Interval time.Duration
	Count    int    // stop after this many refreshes (0: until quit)
	First    Update // the sample taken before the screen was taken (its rates are null)
}

// maxRetry caps the wait between attempts while libvirt cannot be reached.
const maxRetry = 30 * time.Second

// Run shows the view on the terminal until q, Ctrl-C (a byte in raw mode, or SIGINT), Count
// refreshes (all: nil), SIGTERM, SIGHUP or SIGQUIT (errs.Interrupted), or a closed terminal. The
// terminal is restored on every way out, a panic in any of its goroutines included; a failing
// libvirt is shown on the status line and tried again, doubling the wait up to 30 s.
func Run(ctx context.Context, o Options) (err error) {
	t, err := OpenTerminal(o.In, o.Out)
	if err != nil {
		return errs.New(errs.Failure, "top: cannot take the terminal: %v", err)
	}
	defer t.Restore() // runs while a panic of this goroutine unwinds, too

	sigs := make(chan os.Signal, 4)
	// SIGQUIT too: Go's default for it (a stack dump, exit 2) left the terminal in the
	// alternate screen with the cursor hidden.
	watched := []os.Signal{syscall.SIGWINCH, syscall.SIGTERM, os.Interrupt, syscall.SIGTSTP, syscall.SIGQUIT}
	if !signal.Ignored(syscall.SIGHUP) { // under nohup a hang-up shows as the input's end instead
		watched = append(watched, syscall.SIGHUP)
	}
	signal.Notify(sigs, watched...)
	defer signal.Stop(sigs)

	// A panic in another goroutine would end the process without this one's deferred Restore:
	// those goroutines hand theirs over, and it is raised again here, after the restore.
	panics := make(chan string, 2)
	guard := func() {
		if r := recover(); r != nil {
			panics <- fmt.Sprintf("%v\n\n%s", r, debug.Stack())
		}
	}

	stop := make(chan struct{})
	defer close(stop)
	keys, inputErr := make(chan byte, 64), make(chan error, 1)
	go readKeys(o.In, keys, inputErr, stop, guard)

	sampleCtx, cancelSamples := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSamples()
	updates := make(chan Update, 1)
	inFlight := false
	defer func() {
		if !inFlight { // one still running owns the connection; the process's end closes it
			o.Sampler.Close()
		}
	}()
	sample := func() {
		inFlight = true
		go func() {
			defer guard()
			u, err := o.Sampler.Next(sampleCtx)
			u.Err = err
			updates <- u
		}()
	}

	v := o.View
	draw := func() error {
		w, h := t.Size()
		return t.Draw(v.Render(w, h), h)
	}
	// suspend is Ctrl-Z (a byte in raw mode) or SIGTSTP: give the terminal back, stop the whole
	// process group as the terminal would have (the shell sees its job stop), and take the
	// terminal again once the shell continues us (fg). The stop lands a moment after kill
	// returns, so the terminal is taken back only on SIGCONT, which comes with the
	// continuation. In an orphaned process group nothing would continue us: like the kernel,
	// which drops the terminal's stop signals there, we stay and say why.
	continued := make(chan os.Signal, 1)
	signal.Notify(continued, syscall.SIGCONT)
	defer signal.Stop(continued)
	suspend := func() error {
		if groupOrphaned() {
			v.Say(notSuspended)
			_ = draw()
			return nil
		}
		t.Restore()
		select {
		case <-continued: // a stale one
		default:
		}
		stopGroup()
		select {
		case <-continued:
		case <-ctx.Done():
			return errs.Wrap(ctx.Err(), "top")
		}
		if err := t.Take(); err != nil {
			return errs.New(errs.Interrupted, "top: cannot take the terminal back: %v", err)
		}
		_ = draw()
		return nil
	}
	v.Apply(o.First)
	if err := draw(); err != nil {
		return errs.New(errs.Failure, "top: %v", err)
	}
	timer := time.NewTimer(o.Interval)
	defer timer.Stop()
	refreshes, failures := 0, 0
	for {
		select {
		case k := <-keys:
			if k == keyCtrlZ {
				if err := suspend(); err != nil {
					return err
				}
				continue
			}
			switch v.Key(k) {
			case Quit:
				return nil
			case Redraw:
				if k == keyCtrlL {
					_, _ = o.Out.WriteString(clearScreen)
				}
				_ = draw()
			}
		case s := <-sigs:
			switch s {
			case syscall.SIGWINCH:
				_ = draw()
				continue
			case syscall.SIGTSTP:
				if err := suspend(); err != nil {
					return err
				}
				continue
			}
			return signalled(s)
		case <-ctx.Done():
			// The root's signal context saw SIGINT or SIGTERM; our own channel says which.
			select {
			case s := <-sigs:
				return signalled(s)
			case <-time.After(100 * time.Millisecond):
				return errs.Wrap(ctx.Err(), "top")
			}
		case err := <-inputErr:
			return errs.New(errs.Interrupted, "top: the terminal went away: %v", err)
		case p := <-panics:
			t.Restore()
			panic(p)
		case <-timer.C:
			if !inFlight {
				sample()
			}
		case u := <-updates:
			inFlight = false
			next := o.Interval
			if u.Err != nil {
				failures++
				next = min(o.Interval<<min(failures, 10), maxRetry)
				u.RetryIn = next
			} else {
				failures = 0
			}
			v.Apply(u)
			_ = draw()
			if u.Err == nil {
				refreshes++
				if o.Count > 0 && refreshes >= o.Count {
					return nil
				}
			}
			timer.Reset(next)
		}
	}
}

// signalled is how a signal ends the view: SIGINT is Ctrl-C sent as a signal (a plain quit,
// exit 0); SIGTERM, SIGHUP and SIGQUIT come from elsewhere and end it as interrupted (exit 130).
func signalled(s os.Signal) error {
	if s == os.Interrupt {
		return nil
	}
	return &errs.Error{Kind: errs.Interrupted, Msg: "interrupted by " + unix.SignalName(s.(syscall.Signal))}
}

// readKeys sends the terminal's key presses, escape sequences (arrows, function keys) left out,
// until stop. It polls rather than blocks in read, so that once the view ends it reads no
// more: a key typed at the shell afterwards is not swallowed.
func readKeys(in *os.File, keys chan<- byte, failed chan<- error, stop <-chan struct{}, guard func()) {
	defer guard()
	fd := int(in.Fd())
	var dec keyDecoder
	buf := make([]byte, 64)
	for {
		select {
		case <-stop:
			return
		default:
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			failed <- err
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 { // hang-up or error without data
			failed <- errors.New("hang-up")
			return
		}
		m, err := unix.Read(fd, buf)
		if m <= 0 {
			if err == nil {
				err = errors.New("end of input")
			}
			failed <- err
			return
		}
		for _, b := range buf[:m] {
			if k, ok := dec.feed(b); ok {
				select {
				case keys <- k:
				case <-stop:
					return
				}
			}
		}
	}
}

// keyDecoder drops escape sequences (ESC [ … final byte, ESC O x) from the input, so that an
// arrow key (ESC [ D) does not read as a 'D'.
type keyDecoder struct {
	state int // 0 plain, 1 after ESC, 2 inside CSI, 3 after ESC O
}

func (d *keyDecoder) feed(b byte) (byte, bool) {
	switch d.state {
	case 1:
		switch b {
		case '[':
			d.state = 2
		case 'O':
			d.state = 3
		default:
			d.state = 0 // Alt+key: ignore the key
		}
		return 0, false
	case 2:
		if b >= 0x40 && b <= 0x7e {
			d.state = 0
		}
		return 0, false
	case 3:
		d.state = 0
		return 0, false
	}
	if b == 0x1b {
		d.state = 1
		return 0, false
	}
	return b, true
}
