// Package virt is hvctl's narrow layer over libvirt.org/go/libvirt: connection with keepalive,
// a deadline on every call, libvirt errors mapped once to hvctl's error kinds, and bulk reads.
package virt

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// Conn is an open libvirt connection bound to a URI.
type Conn struct {
	URI      string
	ReadOnly bool
	c        *libvirt.Connect

	// calls counts libvirt calls still running, those whose caller stopped waiting included.
	calls inflight
	// unanswered counts calls still running whose deadline passed: while there are any, the
	// daemon is not answering, and clean-up calls are not worth their wait.
	unanswered atomic.Int64
	// closed is set when libvirt tears the connection down (keepalive, daemon gone): nothing
	// may be called on it then, a deregistration included (that crashed in libvirt).
	closed atomic.Bool
	// lost is closed with closed set, for those who wait on it (an event stream).
	lost     chan struct{}
	lostOnce sync.Once
	// journal, when set, records what create-like calls make (see Journal).
	journal *Journal
}

// inflight counts running calls and lets a caller wait until none runs.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (f *inflight) start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

// wait returns a channel that is closed once no call runs.
func (f *inflight) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.idle
}

// Answering says whether the daemon answers: no call that ran out of time is still waiting
// for it. Clean-up after a deadline (a last state read, an event deregistration) is skipped
// when it does not, instead of adding its own wait to the command's.
func (c *Conn) Answering() bool { return c.unanswered.Load() == 0 }

// Settle waits, bounded by ctx, until no libvirt call on c is running, the calls whose callers
// gave up on them (an interrupt, a deadline) included: a rollback must know what those made
// before it undoes anything, or libvirtd finishes a create after the rollback.
func (c *Conn) Settle(ctx context.Context) error {
	select {
	case <-c.calls.wait():
		return nil
	case <-ctx.Done():
		return deadlineError(ctx, c.URI, "waiting for unfinished libvirt calls")
	}
}

// freeWhenIdle runs free (a handle's release) now if no call runs on c, else once none does:
// a call its caller gave up on may still be using the handle.
func (c *Conn) freeWhenIdle(free func()) {
	select {
	case <-c.calls.wait():
		free()
	default:
		idle := c.calls.wait()
		go func() {
			<-idle
			free()
		}()
	}
}

type callHookKey struct{}

// WithCallHook makes every libvirt call under ctx run hook(what) first, inside the call's own
// goroutine: fault-injection tests use it to interrupt a command at every call in turn.
func WithCallHook(ctx context.Context, hook func(what string)) context.Context {
	return context.WithValue(ctx, callHookKey{}, hook)
}

var eventLoop struct {
	once sync.Once
	err  error
}

// startEventLoop runs libvirt's default event loop, which keepalive and domain events need.
func startEventLoop() error {
	eventLoop.once.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoop.err = err
			return
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	})
	return eventLoop.err
}

// Open connects to uri. The connection attempt is bounded by ctx; a daemon that does not answer
// gives a timeout error, one that is not there an unreachable error, both naming the URI.
func Open(ctx context.Context, uri string, readOnly bool) (*Conn, error) {
	// libxml2 would print its own warning for a missing test-driver file; say it once, better.
	if p, ok := strings.CutPrefix(uri, "test://"); ok && p != "/default" {
		if _, err := os.Stat(p); err != nil {
			return nil, errs.New(errs.Unreachable, "cannot connect to %s: no such file %s", uri, p).
				WithHint("the test driver takes test:///default or the absolute path of a host XML file")
		}
	}
	if err := startEventLoop(); err != nil {
		return nil, errs.New(errs.Failure, "libvirt event loop: %v", err)
	}
	type res struct {
		c   *libvirt.Connect
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var r res
		if readOnly {
			r.c, r.err = libvirt.NewConnectReadOnly(uri)
		} else {
			r.c, r.err = libvirt.NewConnect(uri)
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, connectError(uri, r.err)
		}
		// Keepalive makes a daemon that dies or hangs fail our calls instead of blocking them.
		// Local and test drivers do not support it; that is fine.
		_ = r.c.SetKeepAlive(5, 3)
		conn := &Conn{URI: uri, ReadOnly: readOnly, c: r.c, lost: make(chan struct{})}
		_ = r.c.RegisterCloseCallback(func(*libvirt.Connect, libvirt.ConnectCloseReason) {
			conn.closed.Store(true)
			conn.lostOnce.Do(func() { close(conn.lost) })
		})
		return conn, nil
	case <-ctx.Done():
		// The connection may still complete; close it then so the daemon sees us go.
		go func() {
			if r := <-ch; r.c != nil {
				_, _ = r.c.Close()
			}
		}()
		return nil, deadlineError(ctx, uri, "connect")
	}
}

// closeWait bounds how long Close waits for calls still running and for the close itself.
const closeWait = 500 * time.Millisecond

// Close releases the connection. A call still running (its caller gave up on a stuck daemon)
// would use what closing frees, so Close waits for running calls, bounded, and otherwise
// leaves the connection to the process's exit; the close itself is bounded too.
func (c *Conn) Close() {
	if c == nil || c.c == nil {
		return
	}
	if !c.Answering() {
		return // a call is stuck in the daemon; closing would free what it uses
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	if c.Settle(ctx) != nil {
		return
	}
	raw := c.c
	c.c = nil
	done := make(chan struct{})
	go func() {
		_ = raw.UnregisterCloseCallback()
		_, _ = raw.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Unanswered is the number of calls on c whose deadline passed and that still wait for the
// daemon (a hung QEMU's monitor, a frozen libvirtd).
func (c *Conn) Unanswered() int { return int(c.unanswered.Load()) }

// CloseWhenIdle closes c once no call runs on it, however long that takes, in the background:
// a long-lived user retires a connection whose calls are stuck this way, so it is released
// when they return instead of leaked, and never freed under a running call. The returned
// channel is closed once it is closed.
func (c *Conn) CloseWhenIdle() <-chan struct{} {
	done := make(chan struct{})
	if c == nil || c.c == nil {
		close(done)
		return done
	}
	raw := c.c
	idle := c.calls.wait()
	go func() {
		defer close(done)
		<-idle
		if !c.closed.Load() {
			_ = raw.UnregisterCloseCallback()
		}
		_, _ = raw.Close()
	}()
	return done
}

// Raw gives the underlying connection to code in this package's callers that needs a call the
// wrapper lacks; the caller must respect ctx itself.
func (c *Conn) Raw() *libvirt.Connect { return c.c }

// call runs fn under ctx: if the deadline passes first, the caller gets a timeout error at once
// and the stuck C call is left to finish (or fail on keepalive) in the background.
func call[T any](ctx context.Context, c *Conn, what string, fn func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, deadlineError(ctx, c.URI, what)
	}
	if c.closed.Load() {
		return zero, c.lostError(what)
	}
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	hook, _ := ctx.Value(callHookKey{}).(func(string))
	var abandoned atomic.Bool
	c.calls.start()
	go func() {
		defer c.calls.done()
		if hook != nil {
			hook(what)
		}
		v, err := fn()
		if !abandoned.CompareAndSwap(false, true) {
			c.unanswered.Add(-1)
		}
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return zero, c.mapError(r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded && abandoned.CompareAndSwap(false, true) {
			c.unanswered.Add(1)
		}
		return zero, deadlineError(ctx, c.URI, what)
	}
}

func call0(ctx context.Context, c *Conn, what string, fn func() error) error {
	_, err := call(ctx, c, what, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func deadlineError(ctx context.Context, uri, what string) error {
	if ctx.Err() == context.Canceled {
		return &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: ctx.Err()}
	}
	msg := fmt.Sprintf("%s: libvirt at %s did not answer in time", what, uri)
	if dl, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		msg = fmt.Sprintf("%s: libvirt at %s did not answer within %s", what, uri, dl)
	}
	return (&errs.Error{Kind: errs.Timeout, Msg: msg, Err: ctx.Err()}).
		WithHint("is the daemon stuck or overloaded? raise --timeout or check the libvirtd log")
}

type timeoutKey struct{}

// WithTimeout is context.WithTimeout that also remembers the duration for error messages.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(parent, timeoutKey{}, d), d)
}

// lostError is the error of a call on a connection libvirt has torn down.
func (c *Conn) lostError(what string) error {
	return (&errs.Error{Kind: errs.Unreachable, Msg: fmt.Sprintf("%s: lost connection to %s", what, c.URI)}).
		WithHint("did libvirtd stop, restart or freeze? check it and run the command again")
}

// connectError classifies a failed connection attempt.
func connectError(uri string, err error) error {
	lerr, ok := err.(libvirt.Error)
	msg := err.Error()
	if ok {
		msg = oneLine(lerr.Message)
	}
	e := &errs.Error{Kind: errs.Unreachable, Msg: fmt.Sprintf("cannot connect to %s: %s", uri, msg), Err: err}
	switch {
	case ok && (lerr.Code == libvirt.ERR_AUTH_FAILED || lerr.Code == libvirt.ERR_AUTH_CANCELLED ||
		lerr.Code == libvirt.ERR_ACCESS_DENIED || lerr.Code == libvirt.ERR_OPERATION_DENIED ||
		strings.Contains(msg, "ermission denied")):
		return e.WithHint("run as root, or join the group that owns the libvirt socket (usually libvirt)")
	case ok && lerr.Code == libvirt.ERR_NO_CONNECT && strings.Contains(msg, "no connection driver"):
		e.Kind = errs.Usage
		return e.WithHint("check the URI scheme, e.g. qemu:///system or test:///default")
	case strings.HasPrefix(uri, "test://"):
		return e.WithHint("the test driver needs an absolute path to an existing XML file, e.g. test:///default")
	}
	return e.WithHint("is libvirtd (or virtqemud) running? start it, or choose another URI with -c")
}

// mapError turns a libvirt error into an hvctl error kind with libvirt's message.
func (c *Conn) mapError(err error) error {
	lerr, ok := err.(libvirt.Error)
	if !ok {
		return err
	}
	msg := oneLine(lerr.Message)
	kind := errs.Failure
	switch lerr.Code {
	case libvirt.ERR_NO_DOMAIN, libvirt.ERR_NO_NETWORK, libvirt.ERR_NO_STORAGE_POOL,
		libvirt.ERR_NO_STORAGE_VOL, libvirt.ERR_NO_DOMAIN_SNAPSHOT, libvirt.ERR_NO_NWFILTER,
		libvirt.ERR_NO_SECRET, libvirt.ERR_NO_INTERFACE, libvirt.ERR_NO_NODE_DEVICE:
		kind = errs.NotFound
	case libvirt.ERR_OPERATION_INVALID, libvirt.ERR_DOM_EXIST, libvirt.ERR_NETWORK_EXIST,
		libvirt.ERR_STORAGE_VOL_EXIST, libvirt.ERR_STORAGE_POOL_BUILT, libvirt.ERR_RESOURCE_BUSY:
		kind = errs.Conflict
	case libvirt.ERR_OPERATION_TIMEOUT, libvirt.ERR_AGENT_UNRESPONSIVE:
		kind = errs.Timeout
	case libvirt.ERR_AUTH_FAILED, libvirt.ERR_ACCESS_DENIED, libvirt.ERR_OPERATION_DENIED,
		libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC:
		kind = errs.Unreachable
	}
	// Errors raised by the RPC layer itself (socket closed, end of file, keepalive timeout)
	// mean the daemon is gone, whatever the code.
	if lerr.Domain == libvirt.FROM_RPC && kind == errs.Failure {
		kind = errs.Unreachable
	}
	e := &errs.Error{Kind: kind, Msg: msg, Err: err}
	if kind == errs.Unreachable {
		if lerr.Code == libvirt.ERR_ACCESS_DENIED || lerr.Code == libvirt.ERR_OPERATION_DENIED {
			e.WithHint("this needs a read-write connection with enough rights (root or the libvirt group)")
		} else {
			e.Msg = fmt.Sprintf("lost connection to %s: %s", c.URI, msg)
			e.WithHint("did libvirtd stop or restart? check it and run the command again")
		}
	}
	return e
}

// IsCode says whether err came from libvirt with the given code.
func IsCode(err error, code libvirt.ErrorNumber) bool {
	for e := err; e != nil; {
		if le, ok := e.(libvirt.Error); ok {
			return le.Code == code
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	// Lower-case the first letter of a sentence, not of an acronym such as XML.
	if len(s) > 1 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'a' && s[1] <= 'z' {
		s = strings.ToLower(s[:1]) + s[1:]
	}
	return strings.TrimSuffix(s, ".")
}

// LibraryVersion is the version of the libvirt library hvctl runs with, e.g. 9.0.0.
func LibraryVersion() string {
	v, err := libvirt.GetVersion()
	if err != nil {
		return "unknown"
	}
	return FormatVersion(v)
}

// FormatVersion renders libvirt's major*1e6+minor*1e3+micro encoding.
func FormatVersion(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

// HostInfo describes the other end of the connection.
type HostInfo struct {
	Driver, Daemon, Hypervisor string
}

// Host reads driver type and versions.
func (c *Conn) Host(ctx context.Context) (HostInfo, error) {
	return call(ctx, c, "host info", func() (HostInfo, error) {
		var h HostInfo
		var err error
		if h.Driver, err = c.c.GetType(); err != nil {
			return h, err
		}
		if v, err := c.c.GetLibVersion(); err == nil {
			h.Daemon = FormatVersion(v)
		}
		if v, err := c.c.GetVersion(); err == nil && v > 0 {
			h.Hypervisor = FormatVersion(v)
		}
		return h, nil
	})
}
