package statedb

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var schema = []string{
	`CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)`,
	`ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 0`,
}

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "x.db")
	db, err := Open(context.Background(), path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(schema) {
		t.Fatalf("user_version = %d, %v; want %d", v, err, len(schema))
	}
	if _, err := db.Exec("INSERT INTO t (who, n) VALUES ('a', 1)"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

func TestOpenMigratesOnceAcrossConcurrentOpeners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	const writers, rows = 8, 50
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each opener is its own *sql.DB, as separate processes would be.
			db, err := Open(context.Background(), path, schema, Options{})
			if err != nil {
				errc <- err
				return
			}
			defer db.Close()
			for i := range rows {
				if _, err := db.Exec("INSERT INTO t (who, n) VALUES (?, ?)", w, i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, schema, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != writers*rows {
		t.Fatalf("rows = %d, %v; want %d", n, err, writers*rows)
	}
}

func TestOpenRefusesNewerSchemaAndMissingReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(context.Background(), path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, schema[:1], Options{}); !errors.Is(err, ErrTooNew) {
		t.Errorf("older binary opening newer schema: %v; want ErrTooNew", err)
	}
	if _, err := Open(context.Background(), path, schema[:1], Options{ReadOnly: true}); !errors.Is(err, ErrTooNew) {
		t.Errorf("read-only, newer schema: %v; want ErrTooNew", err)
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if _, err := Open(context.Background(), missing, schema, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open of a missing database: %v; want not-exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only open created %s", missing)
	}
}

// TestOpenReadOnlyWithoutSchemaIsNotThereYet: an empty file (a first writer stopped before its
// first transaction, or touch) or an SQLite database without hvctl's schema is, to a reader,
// the database that does not exist yet: not "no such table: …" (exit 1) from the first query.
func TestOpenReadOnlyWithoutSchemaIsNotThereYet(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite3", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{empty, foreign} {
		if _, err := Open(context.Background(), path, schema, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrNoSchema) {
			t.Errorf("read-only open of %s: %v; want ErrNoSchema, a not-exist", filepath.Base(path), err)
		}
		// A writer still adds the schema to it.
		db, err := Open(context.Background(), path, schema, Options{})
		if err != nil {
			t.Fatalf("writer on %s: %v", filepath.Base(path), err)
		}
		db.Close()
		db, err = Open(context.Background(), path, schema, Options{ReadOnly: true})
		if err != nil {
			t.Errorf("read-only open of %s after a writer: %v", filepath.Base(path), err)
		} else {
			db.Close()
		}
	}
}

// TestOpenWaitsOutWALSwitchDeadlock: a database still in rollback mode whose write lock another
// connection holds. Switching it to WAL needs the exclusive lock while holding a shared one, the
// case in which SQLite returns BUSY at once instead of calling the busy handler (several first
// recorders on a fresh file hit it). Open must wait for the holder as the busy timeout promises.
func TestOpenWaitsOutWALSwitchDeadlock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	holder, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=DELETE&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.Exec("CREATE TABLE early (x)"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO early VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		tx.Rollback() //nolint:errcheck
		close(released)
	}()
	start := time.Now()
	db, err := Open(ctx, path, schema, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open gave up after %v while another connection held the lock for 300ms: %v", time.Since(start).Round(time.Millisecond), err)
	}
	defer db.Close()
	<-released
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
}

// TestOpenReadOnlyWhereNothingCanBeCreated: a database read where its -wal and -shm cannot be
// created (a read-only mount, a backup copy; here a directory squats the -wal name, as root
// may write any directory) is read as it is. It failed with SQLite's "unable to open database
// file", which hvctl reported as a directory it could not create the database in.
func TestOpenReadOnlyWhereNothingCanBeCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(context.Background(), path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t (who, n) VALUES ('a', 1)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sidecar := range []string{"-wal", "-shm"} {
		if err := os.RemoveAll(path + sidecar); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(path+"-wal", 0o700); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(context.Background(), path, schema, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open where no -wal can be made: %v", err)
	}
	defer ro.Close()
	var who string
	if err := ro.QueryRow("SELECT who FROM t").Scan(&who); err != nil || who != "a" {
		t.Errorf("read %q, %v", who, err)
	}
}

// TestOpenReadOnlyInADirectoryNotWritable: a database whose file this user may read, in a
// directory it may not write (root's state directory with the file made 0644 for a monitoring
// user), is read without its -wal and -shm. SQLite said SQLITE_READONLY_DIRECTORY ("attempt to
// write a readonly database"), which the fallback for CANTOPEN did not take: exit 7, "cannot
// create the database there". Root writes any directory, so as root the check runs in a child
// process of this test as nobody.
func TestOpenReadOnlyInADirectoryNotWritable(t *testing.T) {
	if path := os.Getenv("HVCTL_STATEDB_READ_AS_USER"); path != "" {
		ro, err := Open(context.Background(), path, schema, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open in a directory this user cannot write: %v", err)
		}
		defer ro.Close()
		var who string
		if err := ro.QueryRow("SELECT who FROM t").Scan(&who); err != nil || who != "a" {
			t.Fatalf("read %q, %v", who, err)
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := Open(context.Background(), path, schema, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t (who, n) VALUES ('a', 1)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sidecar := range []string{"-wal", "-shm"} {
		if err := os.RemoveAll(path + sidecar); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700) //nolint:errcheck // so that TempDir's cleanup can remove it
		t.Setenv("HVCTL_STATEDB_READ_AS_USER", path)
		TestOpenReadOnlyInADirectoryNotWritable(t)
		return
	}
	// As root: this test binary, copied where nobody may run it, reads the database as nobody
	// from a directory root owns (0755: nobody may enter it, not write it).
	const nobody = 65534
	bin := filepath.Join(t.TempDir(), "statedb.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(bin), filepath.Dir(filepath.Dir(bin))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestOpenReadOnlyInADirectoryNotWritable$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HVCTL_STATEDB_READ_AS_USER="+path, "HOME=/", "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}
