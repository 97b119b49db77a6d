// Package errs holds hvctl's error kinds and their exit codes: the one place where a failure
// becomes a number.
//
// Like every package under pkg/, it exists for hvctl itself and carries no API promise: the
// promises hvctl makes are its command line, its exit codes and the JSON in pkg/model.
package errs

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies a failure; each kind has one exit code and one JSON code.
type Kind int

const (
	Failure     Kind = iota // anything not covered below
	Usage                   // bad flag, argument, profile or config file
	NotFound                // VM, network, image, profile, snapshot
	Conflict                // exists, wrong state, in use
	Timeout                 // a deadline passed
	Partial                 // a bulk operation failed for some targets
	Unreachable             // cannot connect to libvirt, or permission denied
	Verify                  // checksum or signature mismatch
	Findings                // audit findings at or above --fail-on
	Drift                   // diff --exit-code: a VM differs from its profile
	NoAgent                 // the guest agent is not configured, not connected or not answering
	Interrupted             // SIGINT/SIGTERM
)

// kinds is the one table of kinds, in exit-code order: code, JSON name, meaning for help.
var kinds = [...]struct {
	code           int
	name, describe string
}{
	Failure:     {1, "failure", "failure not covered below"},
	Usage:       {2, "usage", "usage: bad flag or argument, invalid profile or config file"},
	NotFound:    {3, "not_found", "not found: VM, network, image, profile, snapshot"},
	Conflict:    {4, "conflict", "conflict: already exists, wrong state, in use"},
	Timeout:     {5, "timeout", "timeout"},
	Partial:     {6, "partial", "partial: a bulk operation failed for some targets"},
	Unreachable: {7, "unreachable", "cannot connect to libvirt, or permission denied"},
	Verify:      {8, "verification_failed", "verification failed: checksum or signature mismatch"},
	Findings:    {9, "audit_findings", "audit findings at or above --fail-on"},
	Drift:       {10, "drift", "drift: a VM differs from its profile (diff --exit-code)"},
	NoAgent:     {11, "agent_unavailable", "guest agent not configured or not connected (exec, cp, guest)"},
	Interrupted: {130, "interrupted", "interrupted"},
}

// ExitCode is the process exit status for the kind.
func (k Kind) ExitCode() int { return kinds[k].code }

// String is the stable JSON code for the kind.
func (k Kind) String() string { return kinds[k].name }

// Describe is the one-line meaning of each exit code, shown in help and man pages.
func (k Kind) Describe() string { return kinds[k].describe }

// Kinds lists every kind in exit-code order, for help texts and docs.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i := range kinds {
		out[i] = Kind(i)
	}
	return out
}

// Error is a classified error with an optional hint line for people.
type Error struct {
	Kind Kind
	Msg  string
	Hint string
	Err  error // the cause, if any; its text is already part of Msg
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// New makes a classified error. A %w verb keeps its operand as the cause (errors.Is and
// errors.As see it), as with fmt.Errorf.
func New(k Kind, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	e := &Error{Kind: k, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
	if _, many := wrapped.(interface{ Unwrap() []error }); many {
		e.Err = wrapped // several %w: errors.Is and As look through each
	}
	return e
}

// WithHint returns e with a hint line.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Wrap prefixes err's message with a context (such as "start web01") and keeps its kind.
func Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf(format, args...)
	var e *Error
	if errors.As(err, &e) {
		return &Error{Kind: e.Kind, Msg: prefix + ": " + e.Msg, Hint: e.Hint, Err: err}
	}
	return &Error{Kind: KindOf(err), Msg: prefix + ": " + err.Error(), Err: err}
}

// Status ends a command with an exit status of its own and no message of hvctl's: vmctl exec
// passes the guest process's status through this way. Code 0 is not an error: return nil.
type Status struct{ Code int }

func (s *Status) Error() string { return fmt.Sprintf("exit status %d", s.Code) }

// KindOf classifies any error.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return Failure
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Interrupted
	}
	return Failure
}

// HintOf returns the hint of the outermost classified error, if any.
func HintOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}
