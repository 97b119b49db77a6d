package statedb

import (
	"errors"
	"syscall"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/mattn/go-sqlite3"
)

// Classify gives an error from opening or writing the database at path hvctl's kind, with one
// line that names the file:
//   - the state directory cannot be written or created (read-only file system, permission
//     denied, a path through a file or a missing mount): errs.Unreachable, the "permission
//     denied" exit code;
//   - another process held the write lock past the busy timeout: errs.Timeout;
//   - the disk is full: errs.Failure;
//   - a schema newer than this binary: errs.Conflict.
//
// A caller that may go on without the database (the journal) tests the kind; one that cannot
// returns the error.
func Classify(path string, err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	var se sqlite3.Error
	isSQLite := errors.As(err, &se)
	errno := func(targets ...syscall.Errno) bool {
		for _, t := range targets {
			if errors.Is(err, t) || (isSQLite && se.SystemErrno == t) {
				return true
			}
		}
		return false
	}
	switch {
	case errors.Is(err, ErrTooNew):
		return errs.New(errs.Conflict, "%s: %w", path, err)
	case isSQLite && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked):
		return errs.New(errs.Timeout, "%s: another process held the database longer than the busy timeout: %w", path, err)
	case errno(syscall.ENOSPC, syscall.EDQUOT) || (isSQLite && se.Code == sqlite3.ErrFull):
		return errs.New(errs.Failure, "%s: no space left to write the database: %w", path, err)
	case errno(syscall.EROFS):
		return errs.New(errs.Unreachable, "%s: cannot write: the state directory is on a read-only file system", path).
			WithHint("set paths.state to a writable directory")
	case errno(syscall.EACCES, syscall.EPERM) || (isSQLite && (se.Code == sqlite3.ErrPerm || se.Code == sqlite3.ErrAuth)):
		return errs.New(errs.Unreachable, "%s: permission denied", path).
			WithHint("run as the user that owns paths.state (root for the system's), or set paths.state")
	case errno(syscall.ENOENT, syscall.ENOTDIR) || (isSQLite && (se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrReadonly)):
		return errs.New(errs.Unreachable, "%s: cannot create the database there: %w", path, err).
			WithHint("paths.state must be a directory hvctl can create and write")
	}
	return errs.New(errs.Failure, "%s: %w", path, err)
}
