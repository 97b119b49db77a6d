// Package revert undoes the steps of a multi-step change that did not complete, the way
// Incus's shared/revert does: register an undo after each step, defer Fail, call Success at
// the end. Fail runs on every exit path (an error return, an interrupt, a panic), so a step
// can never be made and forgotten.
package revert

import "sync"

// Reverter collects undo functions and runs them newest first unless Success was called.
type Reverter struct {
	mu    sync.Mutex
	undos []func()
	done  bool
}

// New returns an armed Reverter.
func New() *Reverter { return &Reverter{} }

// Add registers an undo for a step just taken (or about to be: an undo must tolerate a step
// that turns out not to have happened).
func (r *Reverter) Add(undo func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.undos = append(r.undos, undo)
}

// Fail runs the undos, newest first, once; after Success it does nothing. Meant for defer.
func (r *Reverter) Fail() {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.done = true
	undos := r.undos
	r.undos = nil
	r.mu.Unlock()
	for i := len(undos) - 1; i >= 0; i-- {
		undos[i]()
	}
}

// Success disarms the Reverter: what was made stays.
func (r *Reverter) Success() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	r.undos = nil
}
