package statedb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
//   - the file is not an SQLite database, or a damaged one (SQLITE_NOTADB, SQLITE_CORRUPT, at
//     open or in a later query): errs.Unreachable as well, since the state cannot be used
//     whatever the command does, with a hint to move the file aside (never deleted for the user);
//   - a directory where the file should be: errs.Unreachable, with the same kind of hint;
//   - the disk is full: errs.Failure;
//   - a schema newer than this binary: errs.Conflict;
//   - the context's deadline or cancellation: errs.Timeout or errs.Interrupted, said in words
//     (it was Go's "context deadline exceeded").
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
	// Open prefixes some errors with the path already; say it once.
	cause := strings.TrimPrefix(err.Error(), path+": ")
	classified := func(k errs.Kind, what string) *errs.Error {
		return &errs.Error{Kind: k, Msg: path + ": " + what, Err: err}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded): // --timeout: 5, in words, not Go's
		return classified(errs.Timeout, "not done before the deadline (--timeout)")
	case errors.Is(err, context.Canceled): // an interrupt: 130
		return classified(errs.Interrupted, "interrupted")
	case errors.Is(err, ErrTooNew):
		return classified(errs.Conflict, cause)
	case isSQLite && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked):
		return classified(errs.Timeout, "another process held the database longer than the busy timeout: "+cause)
	case isSQLite && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt):
		return classified(errs.Unreachable, "damaged or not a database: "+cause).
			WithHint("move it aside (mv %s %s.damaged): hvctl starts a new one where it was", path, path)
	case errno(syscall.ENOSPC, syscall.EDQUOT) || (isSQLite && se.Code == sqlite3.ErrFull):
		return classified(errs.Failure, "no space left to write the database: "+cause)
	case errno(syscall.EISDIR):
		return classified(errs.Unreachable, "is a directory, not a database").
			WithHint("move it aside (mv %s %s.moved): hvctl starts a new database where it was", path, path)
	case errno(syscall.EROFS):
		return classified(errs.Unreachable, "cannot write: the state directory is on a read-only file system").
			WithHint("set paths.state to a writable directory")
	case errno(syscall.EACCES, syscall.EPERM) || (isSQLite && (se.Code == sqlite3.ErrPerm || se.Code == sqlite3.ErrAuth)):
		return classified(errs.Unreachable, "permission denied").
			WithHint("run as the user that owns paths.state (root for the system's), or set paths.state")
	case errno(syscall.ENOTDIR) && fileOnTheWay(path) != "":
		// Said plainly, not as Go's "mkdir /var/lib/hvctl: not a directory" or, to a reader
		// that creates nothing, "cannot create the database there: stat …: not a directory".
		return classified(errs.Unreachable, fileOnTheWay(path)+" is a file, not a directory").
			WithHint("paths.state must be a directory hvctl can create and write")
	case errno(syscall.ENOENT, syscall.ENOTDIR) || (isSQLite && (se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrReadonly)):
		return classified(errs.Unreachable, "cannot create the database there: "+cause).
			WithHint("paths.state must be a directory hvctl can create and write")
	}
	return classified(errs.Failure, cause)
}

// fileOnTheWay is the nearest directory of path's that is a file instead ("" when none is):
// what makes the database unreachable when the error is ENOTDIR.
func fileOnTheWay(path string) string {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil {
			if st.IsDir() {
				return ""
			}
			return dir
		}
		if parent := filepath.Dir(dir); parent == dir {
			return ""
		}
	}
}
