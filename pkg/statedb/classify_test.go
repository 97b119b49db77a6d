package statedb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// TestClassifyRealFailures provokes each failure for real and checks its kind and line.
func TestClassifyRealFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(path string, o Options) error {
		db, err := Open(ctx, path, schema, o)
		if err == nil {
			db.Close()
		}
		return Classify(path, err)
	}
	check := func(what string, err error, kind errs.Kind, text string) {
		t.Helper()
		if errs.KindOf(err) != kind || !strings.Contains(err.Error(), text) || strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "x.db") != 1 {
			t.Errorf("%s: %v (kind %v); want one %v line containing %q, naming the file once", what, err, errs.KindOf(err), kind, text)
		}
	}
	// A file where a directory of the path should be is named, for a writer and a reader
	// alike: it was "cannot create the database there: mkdir …: not a directory" (or stat …).
	check("state dir through a file", open(filepath.Join(file, "x.db"), Options{}), errs.Unreachable, "x.db: "+file+" is a file, not a directory")
	check("state dir through a file, read", open(filepath.Join(file, "state", "x.db"), Options{ReadOnly: true}), errs.Unreachable, "x.db: "+file+" is a file, not a directory")
	if err := open(filepath.Join(file, "state", "x.db"), Options{}); strings.Contains(err.Error(), "mkdir") || strings.Contains(err.Error(), "stat ") {
		t.Errorf("state dir through a file: %v; want it without Go's mkdir/stat wording", err)
	}
	check("state dir in /proc", open("/proc/hvctl-no-such-dir/x.db", Options{}), errs.Unreachable, "/proc/hvctl-no-such-dir/x.db: cannot create")

	// A directory where the database should be, written or read: one line naming it once (it
	// was exit 1, "x.db: open x.db: is a directory" or "disk I/O error: is a directory").
	squatted := filepath.Join(t.TempDir(), "x.db")
	if err := os.Mkdir(squatted, 0o700); err != nil {
		t.Fatal(err)
	}
	check("a directory in the database's place", open(squatted, Options{}), errs.Unreachable, "x.db: is a directory, not a database")
	check("a directory in the database's place, read", open(squatted, Options{ReadOnly: true}), errs.Unreachable, "x.db: is a directory, not a database")

	path := filepath.Join(dir, "x.db")
	if err := open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	check("newer schema", Classify(path, func() error { _, err := Open(ctx, path, schema[:1], Options{}); return err }()), errs.Conflict, "upgrade hvctl")

	// A query cut short by --timeout is a timeout, not a failure.
	db, err := Open(ctx, path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	_, err = db.QueryContext(expired, "SELECT count(*) FROM t")
	check("deadline", Classify(path, err), errs.Timeout, "x.db: not done before the deadline (--timeout)")
	if strings.Contains(Classify(path, err).Error(), "context") {
		t.Errorf("deadline: %v; want it in words, not Go's context error", Classify(path, err))
	}
	interrupted, stop := context.WithCancel(ctx)
	stop()
	_, err = db.QueryContext(interrupted, "SELECT count(*) FROM t")
	check("interrupt", Classify(path, err), errs.Interrupted, "x.db: interrupted")
	db.Close()

	// One process holds the write lock; another gives up after its busy timeout.
	holder, err := Open(ctx, path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.Exec("INSERT INTO t (who) VALUES ('holder')"); err != nil {
		t.Fatal(err)
	}
	// Open itself writes (it checks the schema under the write lock), so it is what waits.
	check("busy", open(path, Options{BusyTimeout: 50 * time.Millisecond}), errs.Timeout, "another process held the database")

	if os.Getuid() != 0 { // root is not stopped by modes
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		check("unwritable dir", open(filepath.Join(ro, "x.db"), Options{}), errs.Unreachable, "permission denied")
	}
	if Classify(path, nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}
