package virt

import (
	"context"
	"fmt"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Actions reported by lifecycle verbs: what was done, or "none" when nothing had to be.
const (
	ActNone      = "none"
	ActStarted   = "started"
	ActResumed   = "resumed"
	ActStopped   = "stopped"
	ActDestroyed = "destroyed"
	ActRebooted  = "rebooted"
	ActRestarted = "restarted"
	ActPaused    = "paused"
	ActDeleted   = "deleted"
	ActAutoOn    = "autostart_on"
	ActAutoOff   = "autostart_off"
)

// isDown says whether no QEMU process runs for the domain. A crashed domain is not down: it is
// kept (on_crash=preserve) with its process for inspection, so kill and stop act on it.
func isDown(state string) bool { return state == StateShutOff }

// errCrashed is the answer of verbs a crashed domain cannot take.
func (d *Domain) errCrashed(verb string) error {
	return errs.New(errs.Conflict, "%s: domain crashed and is kept for inspection (on_crash=preserve); cannot %s it", d.Name, verb).
		WithHint("power it off with: vmctl kill %s (or stop --force), then start it", d.Name)
}

// Start boots a stopped domain, resumes a paused one, and leaves a running one alone.
func (d *Domain) Start(ctx context.Context) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case state == StatePaused:
		return ActResumed, call0(ctx, d.c, "resume "+d.Name, d.d.Resume)
	case state == StatePMSuspended:
		return ActResumed, call0(ctx, d.c, "wake "+d.Name, func() error { return d.d.PMWakeup(0) })
	case state == StateCrashed:
		return "", d.errCrashed("start")
	case !isDown(state):
		return ActNone, nil
	}
	// A saved domain's start restores it (libvirt does); the result says so.
	act := ActStarted
	if saved, err := d.HasSavedState(ctx); err != nil {
		return "", err
	} else if saved {
		act = ActRestored
	}
	return act, call0(ctx, d.c, "start "+d.Name, d.d.Create)
}

// StopOptions tune a graceful stop.
type StopOptions struct {
	Wait  time.Duration // how long the guest gets to power off
	Force bool          // destroy it when it did not
	Mode  string        // acpi, agent or default (the hypervisor's choice)
}

// Stop asks the guest to power off and waits for it; with Force it destroys a guest that ignores
// the request. The wait has its own deadline so that --force still runs after it.
func (d *Domain) Stop(ctx context.Context, o StopOptions) (act string, err error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	if isDown(state) {
		return ActNone, nil
	}
	if state == StateCrashed {
		// A crashed guest hears no button: only destroying it ends its process.
		if !o.Force {
			return "", d.errCrashed("shut down")
		}
		return d.Kill(ctx)
	}
	if state == StatePaused || state == StatePMSuspended {
		if o.Force {
			return ActDestroyed, call0(ctx, d.c, "destroy "+d.Name, d.d.Destroy)
		}
		// A paused guest cannot see the power button; let it run to hear it, and pause it again
		// unless it powered off: an interrupted or failed stop leaves it as it was found.
		if state == StatePaused {
			defer func() {
				if err != nil {
					err = d.pauseAgain(ctx, err)
				}
			}()
		}
		if _, err := d.Start(ctx); err != nil {
			return "", err
		}
	}
	flags := libvirt.DOMAIN_SHUTDOWN_DEFAULT
	switch o.Mode {
	case "", "acpi":
		flags = libvirt.DOMAIN_SHUTDOWN_ACPI_POWER_BTN
	case "agent":
		flags = libvirt.DOMAIN_SHUTDOWN_GUEST_AGENT
	}
	err = call0(ctx, d.c, "shutdown "+d.Name, func() error { return d.d.ShutdownFlags(flags) })
	if err != nil && flags != libvirt.DOMAIN_SHUTDOWN_DEFAULT && (IsCode(err, libvirt.ERR_INVALID_ARG) || IsCode(err, libvirt.ERR_NO_SUPPORT) || IsCode(err, libvirt.ERR_ARGUMENT_UNSUPPORTED)) && o.Mode == "" {
		// Drivers without a power button (the test driver) take the default.
		flags = libvirt.DOMAIN_SHUTDOWN_DEFAULT
		err = call0(ctx, d.c, "shutdown "+d.Name, func() error { return d.d.ShutdownFlags(flags) })
	}
	if err != nil {
		if errs.KindOf(err) == errs.Conflict {
			if s, _, e := d.State(ctx); e == nil && isDown(s) {
				return ActNone, nil // it stopped on its own meanwhile
			}
		}
		if ctx.Err() != nil && d.poweredOff(ctx) {
			return ActStopped, nil // the request we gave up on was heard
		}
		if !o.Force {
			return "", err
		}
	} else {
		waitCtx, cancel := WithTimeout(ctx, o.Wait)
		// A guest still booting misses the button (no ACPI handler yet): press it again now and
		// then during the wait, as a person at the console would.
		stopRepeat := d.repeat(waitCtx, 5*time.Second, func(ctx context.Context) {
			_ = call0(ctx, d.c, "shutdown "+d.Name, func() error { return d.d.ShutdownFlags(flags) })
		})
		err = d.WaitState(waitCtx, isDown)
		stopRepeat()
		cancel()
		if err == nil || d.poweredOff(ctx) {
			// An interrupt or deadline can end the wait just as the guest powers off: say
			// what happened, not what the wait saw.
			return ActStopped, nil
		}
		if ctx.Err() != nil || errs.KindOf(err) != errs.Timeout {
			return "", err
		}
		if !o.Force {
			return "", (&errs.Error{Kind: errs.Timeout, Msg: fmt.Sprintf("guest did not power off within %s", o.Wait)}).
				WithHint("the guest may ignore ACPI; add --force to power it off after the wait")
		}
	}
	if _, err := d.Kill(ctx); err != nil {
		return "", err
	}
	return ActDestroyed, nil
}

// pauseAgain pauses the domain a failed stop resumed, once the calls the stop gave up on are
// done (a resume still in flight would otherwise undo it), and says so in the error.
func (d *Domain) pauseAgain(ctx context.Context, err error) error {
	cctx, cancel := WithTimeout(context.WithoutCancel(ctx), cleanupWait)
	defer cancel()
	if e := d.c.Settle(cctx); e != nil {
		return fmt.Errorf("%w; it was paused and may be running now", err)
	}
	s, _, e := d.State(cctx)
	if e != nil || s != StateRunning {
		return err
	}
	if e := call0(cctx, d.c, "suspend "+d.Name, d.d.Suspend); e != nil {
		return fmt.Errorf("%w; it was paused and is running now (pausing it again failed: %v)", err, e)
	}
	return fmt.Errorf("%w; paused again, as it was", err)
}

// poweredOff looks, with a short deadline of its own, whether the domain is off now, once the
// calls given up on are done.
func (d *Domain) poweredOff(ctx context.Context) bool {
	if !d.c.Answering() {
		return false
	}
	cctx, cancel := WithTimeout(context.WithoutCancel(ctx), cleanupWait)
	defer cancel()
	_ = d.c.Settle(cctx)
	s, _, err := d.State(cctx)
	return err == nil && isDown(s)
}

// repeat runs fn every interval until the returned stop is called or ctx ends.
func (d *Domain) repeat(ctx context.Context, interval time.Duration, fn func(context.Context)) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// Kill destroys (powers off) the domain at once.
func (d *Domain) Kill(ctx context.Context) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	if isDown(state) {
		return ActNone, nil
	}
	err = call0(ctx, d.c, "destroy "+d.Name, d.d.Destroy)
	if err != nil && errs.KindOf(err) == errs.Conflict {
		if s, _, e := d.State(ctx); e == nil && isDown(s) {
			return ActNone, nil
		}
	}
	return ActDestroyed, err
}

// Reboot asks the running guest to reboot itself.
func (d *Domain) Reboot(ctx context.Context, mode string) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	if state != StateRunning {
		return "", errs.New(errs.Conflict, "domain is %s, not running", state).WithHint("start it with: vmctl start %s", d.Name)
	}
	flags := libvirt.DOMAIN_REBOOT_DEFAULT
	switch mode {
	case "acpi":
		flags = libvirt.DOMAIN_REBOOT_ACPI_POWER_BTN
	case "agent":
		flags = libvirt.DOMAIN_REBOOT_GUEST_AGENT
	}
	return ActRebooted, call0(ctx, d.c, "reboot "+d.Name, func() error { return d.d.Reboot(flags) })
}

// Restart is a full power cycle: a graceful stop (as Stop) and a fresh start, so a changed
// definition takes effect. A stopped domain is just started.
func (d *Domain) Restart(ctx context.Context, o StopOptions) (string, error) {
	if _, err := d.Stop(ctx, o); err != nil {
		return "", err
	}
	if _, err := d.Start(ctx); err != nil {
		return "", err
	}
	return ActRestarted, nil
}

// Pause suspends a running domain.
func (d *Domain) Pause(ctx context.Context) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	switch state {
	case StatePaused:
		return ActNone, nil
	case StateRunning, StateBlocked:
		return ActPaused, call0(ctx, d.c, "suspend "+d.Name, d.d.Suspend)
	}
	return "", errs.New(errs.Conflict, "domain is %s, not running", state)
}

// Resume continues a paused domain.
func (d *Domain) Resume(ctx context.Context) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	switch state {
	case StateRunning, StateBlocked:
		return ActNone, nil
	case StatePaused:
		return ActResumed, call0(ctx, d.c, "resume "+d.Name, d.d.Resume)
	}
	return "", errs.New(errs.Conflict, "domain is %s, not paused", state)
}

// switchAutostart sets an object's autostart flag through get and set: ActAutoOn or
// ActAutoOff, or ActNone when it already was as asked (and nothing is written).
func switchAutostart(get func() (bool, error), set func(bool) error, on bool) (string, error) {
	cur, err := get()
	if err != nil {
		return "", err
	}
	if cur == on {
		return ActNone, nil
	}
	if on {
		return ActAutoOn, set(true)
	}
	return ActAutoOff, set(false)
}

// SetAutostart switches autostart; reports none when it already was as asked.
func (d *Domain) SetAutostart(ctx context.Context, on bool) (string, error) {
	cur, err := call(ctx, d.c, "autostart "+d.Name, d.d.GetAutostart)
	if err != nil {
		return "", err
	}
	if cur == on {
		return ActNone, nil
	}
	act := ActAutoOff
	if on {
		act = ActAutoOn
	}
	return act, call0(ctx, d.c, "autostart "+d.Name, func() error { return d.d.SetAutostart(on) })
}

// Undefined says what Undefine kept: the NVRAM file, when other domains name it too.
type Undefined struct {
	KeptNVRAM  string
	NVRAMUsers []string
}

// Undefine removes the definition with its NVRAM, snapshot and checkpoint metadata and managed
// save image. A running persistent domain is destroyed first only when force is set. An NVRAM
// file another domain's definition names as well (a definition copied by hand keeps the path)
// stays: libvirt would delete it under that domain.
func (d *Domain) Undefine(ctx context.Context, force bool) (Undefined, error) {
	var out Undefined
	err := d.undefine(ctx, force, &out)
	return out, err
}

func (d *Domain) undefine(ctx context.Context, force bool, out *Undefined) error {
	state, _, err := d.State(ctx)
	if err != nil {
		return err
	}
	if !isDown(state) && !force {
		return errs.New(errs.Conflict, "domain is %s", state).WithHint("stop it first, or add --force to power it off and delete it")
	}
	nvram, others, err := d.nvramSharers(ctx)
	if err != nil {
		return errs.Wrap(err, "cannot tell whether another VM uses the NVRAM of %s; nothing deleted", d.Name)
	}
	persistent, err := call(ctx, d.c, "persistent "+d.Name, d.d.IsPersistent)
	if err != nil {
		return err
	}
	if !isDown(state) {
		if _, err := d.Kill(ctx); err != nil {
			return err
		}
	}
	if !persistent {
		return nil // a transient domain vanishes when it stops
	}
	flags := libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
		libvirt.DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE
	if len(others) > 0 {
		flags = flags&^libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_KEEP_NVRAM
		out.KeptNVRAM, out.NVRAMUsers = nvram, others
	}
	err = call0(ctx, d.c, "undefine "+d.Name, func() error { return d.d.UndefineFlags(flags) })
	if err != nil && (IsCode(err, libvirt.ERR_INVALID_ARG) || IsCode(err, libvirt.ERR_NO_SUPPORT)) {
		// A driver that knows no NVRAM or checkpoints (the test driver) still drops the
		// snapshot metadata and managed-save image it has, rather than refuse the undefine.
		err = call0(ctx, d.c, "undefine "+d.Name, func() error {
			return d.d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE)
		})
	}
	if err != nil && (IsCode(err, libvirt.ERR_INVALID_ARG) || IsCode(err, libvirt.ERR_NO_SUPPORT)) {
		err = call0(ctx, d.c, "undefine "+d.Name, d.d.Undefine)
	}
	return err
}

// nvramSharers is d's NVRAM file and the other domains whose definitions (persistent or live)
// name the same file. It reads every domain only when d has an NVRAM file, and fails closed.
func (d *Domain) nvramSharers(ctx context.Context) (string, []string, error) {
	nvramOf := func(def *libvirtxml.Domain) string {
		if def.OS == nil || def.OS.NVRam == nil || def.OS.NVRam.NVRam == "" {
			return ""
		}
		return d.c.RealPath(def.OS.NVRam.NVRam)
	}
	def, err := d.Definition(ctx, true)
	if err != nil {
		return "", nil, err
	}
	own := nvramOf(def)
	if own == "" {
		return "", nil, nil
	}
	names, err := d.c.DomainNames(ctx)
	if err != nil {
		return "", nil, err
	}
	var others []string
	for _, n := range names {
		if n == d.Name {
			continue
		}
		o, err := d.c.Domain(ctx, n)
		if err != nil {
			return "", nil, err
		}
		for _, inactive := range []bool{true, false} {
			def, err := o.Definition(ctx, inactive)
			if err != nil {
				o.Free()
				return "", nil, err
			}
			if nvramOf(def) == own {
				others = append(others, n)
				break
			}
		}
		o.Free()
	}
	return def.OS.NVRam.NVRam, others, nil
}

// WaitState waits until ok(state) holds, woken by lifecycle events and polling as a fallback (some
// drivers and remote transports drop events). It returns a timeout error when ctx expires.
func (d *Domain) WaitState(ctx context.Context, ok func(string) bool) error {
	return d.waitEvents(ctx, func(wake func()) (int, error) {
		return d.c.c.DomainEventLifecycleRegister(d.d, func(*libvirt.Connect, *libvirt.Domain, *libvirt.DomainEventLifecycle) { wake() })
	}, func() (bool, error) {
		state, _, err := d.State(ctx)
		if err != nil {
			if errs.KindOf(err) == errs.NotFound && ok(StateShutOff) {
				return true, nil // a transient domain that stopped is gone
			}
			return false, err
		}
		return ok(state), nil
	})
}

// WaitAgent waits for the guest agent to connect, woken by agent lifecycle events.
func (d *Domain) WaitAgent(ctx context.Context) error {
	return d.waitEvents(ctx, func(wake func()) (int, error) {
		return d.c.c.DomainEventAgentLifecycleRegister(d.d, func(*libvirt.Connect, *libvirt.Domain, *libvirt.DomainEventAgentLifecycle) { wake() })
	}, func() (bool, error) {
		state, _, err := d.State(ctx)
		if err != nil {
			return false, err
		}
		if isDown(state) || state == StateCrashed {
			return false, errs.New(errs.Conflict, "domain is %s; its agent will not connect", state).WithHint("start it first")
		}
		return d.AgentConnected(ctx)
	})
}

// WaitAddresses waits until some source knows an address of the running domain; there are no
// lease events to wake on, so it polls.
func (d *Domain) WaitAddresses(ctx context.Context, sources []string) ([]model.Address, error) {
	var addrs []model.Address
	err := poll(ctx, nil, func() (bool, error) {
		state, _, err := d.State(ctx)
		if err != nil {
			return false, err
		}
		if isDown(state) || state == StateCrashed {
			return false, errs.New(errs.Conflict, "domain is %s; it will not get an address", state).WithHint("start it first")
		}
		addrs, err = d.Addresses(ctx, sources)
		return len(addrs) > 0, err
	})
	return addrs, err
}

// waitEvents polls check, woken early by the events register subscribes to. A driver without
// events (register fails) leaves plain polling.
// Registration and deregistration are libvirt calls like any other: under a deadline (a frozen
// daemon blocks them), and never on a connection libvirt has torn down.
func (d *Domain) waitEvents(ctx context.Context, register func(wake func()) (int, error), check func() (bool, error)) error {
	wake := make(chan struct{}, 1)
	id, err := call(ctx, d.c, "events of "+d.Name, func() (int, error) {
		return register(func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	})
	if err == nil {
		defer func() {
			if !d.c.Answering() {
				return // the daemon is frozen: the registration ends with the connection
			}
			// The wait's own deadline may be what ended it: deregistering gets a short one of its own.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWait)
			defer cancel()
			_ = call0(cctx, d.c, "stop events of "+d.Name, func() error { return d.c.c.DomainEventDeregister(id) })
		}()
	} else if errs.KindOf(err) == errs.Timeout || errs.KindOf(err) == errs.Interrupted {
		return deadlineErrorWait(ctx)
	}
	return poll(ctx, wake, check)
}

// cleanupWait bounds a clean-up call (an event deregistration, a last state read) made after
// the command's own deadline.
const cleanupWait = 2 * time.Second

// poll calls check at once, after every wake-up, and at a growing interval up to 1 s.
func poll(ctx context.Context, wake <-chan struct{}, check func() (bool, error)) error {
	interval := 100 * time.Millisecond
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return deadlineErrorWait(ctx)
		case <-wake:
			t.Stop()
		case <-t.C:
			if interval < time.Second {
				interval *= 2
			}
		}
	}
}

func deadlineErrorWait(ctx context.Context) error {
	if ctx.Err() == context.Canceled {
		return &errs.Error{Kind: errs.Interrupted, Msg: "interrupted", Err: ctx.Err()}
	}
	msg := "timed out"
	if dl, ok := ctx.Value(timeoutKey{}).(time.Duration); ok {
		msg = fmt.Sprintf("timed out after %s", dl)
	}
	return &errs.Error{Kind: errs.Timeout, Msg: msg, Err: ctx.Err()}
}
