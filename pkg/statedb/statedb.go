// Package statedb opens hvctl's SQLite databases under paths.state (the operations journal,
// the metrics history) the one way they are all opened: WAL journal mode so readers never block
// the writer, a busy timeout so concurrent hvctl processes wait for each other instead of
// failing, owner-only files, and schema versions applied in one transaction.
//
// The driver is github.com/mattn/go-sqlite3: cgo is already required for libvirt, it is the most
// used SQLite driver for Go, and it bundles the SQLite amalgamation, so no system library or
// version skew comes with it.
package statedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-sqlite3" // also registers the "sqlite3" driver
)

// DefaultBusyTimeout is how long a writer waits for another process's write to finish.
const DefaultBusyTimeout = 5 * time.Second

// Options tune Open; the zero value is what hvctl uses.
type Options struct {
	BusyTimeout time.Duration // 0: DefaultBusyTimeout
	ReadOnly    bool          // open an existing database for reading; never creates or migrates
}

// Open opens (creating when needed) the database at path and brings its schema up to date:
// migrations[i] takes the schema from version i to i+1 (PRAGMA user_version records it). A
// database newer than the migrations this binary knows is refused rather than written to.
func Open(ctx context.Context, path string, migrations []string, opt Options) (*sql.DB, error) {
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = DefaultBusyTimeout
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate") // a writing transaction takes the lock up front: no upgrade deadlocks
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		q.Set("mode", "ro")
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL") // with WAL: durable at checkpoints, never corrupt
		// Create the file owner-only before SQLite does (it would honour the umask).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	dsn := func() string { return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode() }
	db, err := sql.Open("sqlite3", dsn())
	if err != nil {
		return nil, err
	}
	err = pingWaitingOutBusy(ctx, db, opt.BusyTimeout)
	var se sqlite3.Error
	if err != nil && opt.ReadOnly && errors.As(err, &se) && (se.Code == sqlite3.ErrCantOpen || se.Code == sqlite3.ErrReadonly) && walHoldsNothing(path) {
		// A WAL database is read with its -wal and -shm files beside it, which SQLite creates
		// when they are missing: in a directory this process cannot write (a read-only mount,
		// a backup copy, root's state directory read by a user the file's mode lets in) it
		// cannot, and the open failed as if the file were missing (CANTOPEN) or as
		// SQLITE_READONLY_DIRECTORY, "attempt to write a readonly database". With no
		// -wal, every committed write is in the file itself and nobody is writing it (a writer
		// would have made one): read it as immutable, without those files.
		db.Close()
		q.Set("immutable", "1")
		if db, err = sql.Open("sqlite3", dsn()); err != nil {
			return nil, err
		}
		err = pingWaitingOutBusy(ctx, db, opt.BusyTimeout)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !opt.ReadOnly {
		if err := migrate(ctx, db, migrations); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if err := checkVersion(ctx, db, len(migrations)); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// pingWaitingOutBusy opens the first connection, which runs the DSN's pragmas. Switching a
// fresh file to WAL needs the exclusive lock while holding a shared one; when another process
// holds the write lock, SQLite returns BUSY at once rather than risk a deadlock in its busy
// handler. Several hvctl processes starting on a new database meet exactly that, so the open is
// retried for as long as the busy timeout would have waited.
func pingWaitingOutBusy(ctx context.Context, db *sql.DB, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		err := db.PingContext(ctx)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || (se.Code != sqlite3.ErrBusy && se.Code != sqlite3.ErrLocked) ||
			time.Now().Add(backoff).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// walHoldsNothing says that path's write-ahead log holds no write that is not in the file
// itself: there is none (none could be created), or it is empty.
func walHoldsNothing(path string) bool {
	st, err := os.Stat(path + "-wal")
	return err != nil || !st.Mode().IsRegular() || st.Size() == 0
}

// ErrTooNew says the database was written by a newer hvctl.
var ErrTooNew = errors.New("database schema is newer than this hvctl knows; upgrade hvctl")

// ErrNoSchema says a read-only open found a file without hvctl's schema: an empty file (a
// writer stopped between creating it and its first transaction, or `touch`), or an SQLite
// database hvctl never wrote. It matches fs.ErrNotExist, so a reader treats it as the database
// that does not exist yet, which is what it is to hvctl: the first writer adds the schema.
var ErrNoSchema = fmt.Errorf("no hvctl schema in it yet: %w", fs.ErrNotExist)

func checkVersion(ctx context.Context, db *sql.DB, known int) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > known {
		return fmt.Errorf("%w (schema %d, known %d)", ErrTooNew, v, known)
	}
	if v == 0 && known > 0 {
		return ErrNoSchema
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	// BEGIN IMMEDIATE (the _txlock above): two processes migrating at once serialise, and the
	// second sees the version the first wrote.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("%w (schema %d, known %d)", ErrTooNew, v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("schema version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}
