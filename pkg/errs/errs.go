// Package errs holds hvctl's error kinds and their exit codes: the one place where a failure
// becomes a number. Packages under pkg/ carry no API promise; they exist for hvctl itself.
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
	Interrupted             // SIGINT/SIGTERM
)

var kindInfo = [...]struct {
	code int
	name string
}{
	Failure:     {1, "failure"},
	Usage:       {2, "usage"},
	NotFound:    {3, "not_found"},
	Conflict:    {4, "conflict"},
	Timeout:     {5, "timeout"},
	Partial:     {6, "partial"},
	Unreachable: {7, "unreachable"},
	Verify:      {8, "verification_failed"},
	Findings:    {9, "audit_findings"},
	Interrupted: {130, "interrupted"},
}

// ExitCode is the process exit status for the kind.
func (k Kind) ExitCode() int { return kindInfo[k].code }

// String is the stable JSON code for the kind.
func (k Kind) String() string { return kindInfo[k].name }

// Kinds lists every kind in exit-code order, for help texts and docs.
func Kinds() []Kind {
	return []Kind{Failure, Usage, NotFound, Conflict, Timeout, Partial, Unreachable, Verify, Findings, Interrupted}
}

// Describe is the one-line meaning of each exit code, shown in help and man pages.
func (k Kind) Describe() string {
	switch k {
	case Failure:
		return "failure not covered below"
	case Usage:
		return "usage: bad flag or argument, invalid profile or config file"
	case NotFound:
		return "not found: VM, network, image, profile, snapshot"
	case Conflict:
		return "conflict: already exists, wrong state, in use"
	case Timeout:
		return "timeout"
	case Partial:
		return "partial: a bulk operation failed for some targets"
	case Unreachable:
		return "cannot connect to libvirt, or permission denied"
	case Verify:
		return "verification failed: checksum or signature mismatch"
	case Findings:
		return "audit findings at or above --fail-on"
	case Interrupted:
		return "interrupted"
	}
	return ""
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

// New makes a classified error.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
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
