package virt

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"libvirt.org/go/libvirt"
)

// A Journal records the volumes and domains a multi-step command makes on a connection, so that
// its rollback can remove them. Each object is entered under its name before the call that
// makes it, and the call itself (in its own goroutine) records whether it made it: a call that
// finishes after its caller gave up (an interrupt, a deadline, a frozen daemon) is still known.
// Rollback first settles the connection, then removes what was made.
type Journal struct {
	mu      sync.Mutex
	entries []*journalEntry
}

type entryState int

const (
	entryPlanned entryState = iota // entered; its call has not reached libvirt
	entryRunning                   // its call is in libvirt
	entryMade
	entryFailed
)

type journalEntry struct {
	j                *Journal
	kind             string // "volume" or "domain"
	pool, name, uuid string
	state            entryState
}

// Journal starts recording what create-like calls on c make (CreateVolume, CopyVolume,
// DefineDomain) and returns the record.
func (c *Conn) Journal() *Journal {
	j := &Journal{}
	c.journal = j
	return j
}

func (j *Journal) enter(kind, pool, name, uuid string) *journalEntry {
	if j == nil {
		return nil
	}
	e := &journalEntry{j: j, kind: kind, pool: pool, name: name, uuid: uuid}
	j.mu.Lock()
	j.entries = append(j.entries, e)
	j.mu.Unlock()
	return e
}

// running records that the call is about to ask libvirt; pool is filled in when only
// libvirt knew it.
func (e *journalEntry) running(pool string) {
	if e == nil {
		return
	}
	e.j.mu.Lock()
	defer e.j.mu.Unlock()
	e.state = entryRunning
	if pool != "" {
		e.pool = pool
	}
}

// made records the outcome of the call.
func (e *journalEntry) made(err error) {
	if e == nil {
		return
	}
	e.j.mu.Lock()
	defer e.j.mu.Unlock()
	e.state = entryMade
	if err != nil {
		e.state = entryFailed
	}
}

func (e *journalEntry) String() string {
	if e.kind == "domain" {
		return fmt.Sprintf("domain %s (uuid %s)", e.name, e.uuid)
	}
	return fmt.Sprintf("volume %s/%s", e.pool, e.name)
}

// Rollback removes, newest first, every object the journal saw made, after waiting (bounded by
// ctx) for calls still running. An object whose call may still be running when ctx ends is
// removed if it is there and named in the error otherwise, as is anything that could not be
// removed; the error's hint says how to find such leftovers later.
func (c *Conn) Rollback(ctx context.Context, j *Journal) error {
	settleErr := c.Settle(ctx)
	j.mu.Lock()
	entries := append([]*journalEntry(nil), j.entries...)
	j.mu.Unlock()
	var left []string
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		j.mu.Lock()
		state := e.state
		j.mu.Unlock()
		if state == entryPlanned || state == entryFailed {
			continue
		}
		err := c.remove(ctx, e)
		switch {
		case err == nil:
		case errs.KindOf(err) == errs.NotFound && state == entryMade:
			// gone already (removed with its domain, or by someone else)
		case errs.KindOf(err) == errs.NotFound:
			left = append(left, e.String()+": its call had not finished")
		default:
			left = append(left, fmt.Sprintf("%s: %v", e, err))
		}
	}
	if len(left) == 0 {
		return nil
	}
	msg := "rollback incomplete, may be left: " + strings.Join(left, "; ")
	if settleErr != nil {
		msg += " (libvirt did not finish its calls in time)"
	}
	return (&errs.Error{Kind: errs.Failure, Msg: msg}).
		WithHint("vmctl gc lists what interrupted creates and clones left, and removes it")
}

func (c *Conn) remove(ctx context.Context, e *journalEntry) error {
	if e.kind == "domain" {
		raw, err := call(ctx, c, "lookup "+e.name, func() (*libvirt.Domain, error) { return c.c.LookupDomainByUUIDString(e.uuid) })
		if err != nil {
			return err
		}
		d := &Domain{Name: e.name, c: c, d: raw}
		defer d.Free()
		_, err = d.Undefine(ctx, true)
		return err
	}
	_, err := withVolume(ctx, c, e.pool, e.name, "delete volume", func(v *libvirt.StorageVol) (struct{}, error) {
		return struct{}{}, v.Delete(0)
	})
	return err
}

// NewUUID returns a random (version 4) UUID: a domain defined with a UUID of its own choosing
// can be found, and removed, by it even when the define call's answer never arrived.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// definedUUID reads the <uuid> of a domain definition.
func definedUUID(def string) string {
	var d struct {
		UUID string `xml:"uuid"`
	}
	_ = xml.Unmarshal([]byte(def), &d)
	return strings.TrimSpace(d.UUID)
}
