package historycmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/journal"
	"github.com/mattn/go-sqlite3"
)

// A journal a reader may not open is "permission denied" (exit 7) with the sudo hint, also
// when SQLite meets the EACCES itself (a root-only journal.db in a readable directory: what
// `hvctl history` as a user sees, which the tests, run as root, cannot make for real).
func TestOpenErrorPermission(t *testing.T) {
	path := "/var/lib/hvctl/journal.db"
	sqliteErr := fmt.Errorf("%s: %w", path, sqlite3.Error{Code: sqlite3.ErrCantOpen, SystemErrno: syscall.EACCES})
	for _, err := range []error{sqliteErr, &os.PathError{Op: "stat", Path: path, Err: syscall.EACCES}} {
		got := openError(path, err)
		var e *errs.Error
		if errs.KindOf(got) != errs.Unreachable || !strings.Contains(got.Error(), "permission denied") || !errors.As(got, &e) || !strings.Contains(e.Hint, "sudo") {
			t.Errorf("%v: got %v (kind %v)", err, got, errs.KindOf(got))
		}
	}
}

// A state path through a file cannot hold a journal: exit 7 naming it, as metrics and
// stats --since say, not a bare failure.
func TestHistoryStateNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, _ := newFactory(t, file)
	err := run(f, NewCmdHistory(f, nil), "history")
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), filepath.Join(file, "journal.db")) || out.Len() != 0 {
		t.Errorf("got %v (kind %v), out %q", err, errs.KindOf(err), out)
	}
}

// A malformed --vm pattern is a usage error naming it, not an empty list.
func TestHistoryBadVMPattern(t *testing.T) {
	f, out, _ := newFactory(t, t.TempDir())
	err := run(f, NewCmdHistory(f, nil), "history", "--vm", "web[")
	if errs.KindOf(err) != errs.Usage || err.Error() != `--vm: invalid pattern "web["` || out.Len() != 0 {
		t.Errorf("got %v (kind %v), out %q", err, errs.KindOf(err), out)
	}
}

// --since a time before 1678 (Unix nanoseconds' start) selects everything; it wrapped to the
// far future and selected nothing.
func TestHistorySinceLongAgo(t *testing.T) {
	state := t.TempDir()
	seed(t, state, journal.Entry{Command: "a"}, journal.Entry{Command: "b"})
	f, out, _ := newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--since", "1600-01-01", "--jq", "length"); err != nil || strings.TrimSpace(out.String()) != "2" {
		t.Errorf("--since 1600-01-01: %v, %q records", err, out)
	}
}

// A journal whose pages are damaged opens (its header is intact) and fails in the query:
// that too is exit 7 naming the file with the hint to move it aside, not exit 1.
func TestHistoryDamagedPages(t *testing.T) {
	state := t.TempDir()
	entries := make([]journal.Entry, 200)
	for i := range entries {
		entries[i] = journal.Entry{Command: "vmctl start", Argv: []string{"vmctl", "start", strings.Repeat("web", 40)}, Kind: "vm"}
	}
	seed(t, state, entries...)
	path := filepath.Join(state, journal.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 8*4096 {
		t.Fatalf("journal is %d bytes: too few pages to damage", len(data))
	}
	for i := 4096; i < len(data); i++ { // every page but the first (header and schema)
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, _ := newFactory(t, state)
	err = run(f, NewCmdHistory(f, nil), "history")
	var e *errs.Error
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), path+": damaged or not a database") ||
		!errors.As(err, &e) || !strings.Contains(e.Hint, "mv "+path) || out.Len() != 0 {
		t.Errorf("got %v (kind %v), out %q", err, errs.KindOf(err), out)
	}
}

// --prune's question says how many records, how old and from which file, as one sentence on a
// terminal and in the hint without one (it read "Prune journal records for 2 record(s) …").
func TestHistoryPrunePromptWording(t *testing.T) {
	state := t.TempDir()
	seed(t, state, journal.Entry{Command: "a"}, journal.Entry{Command: "b"}, journal.Entry{Command: "c"})
	path := filepath.Join(state, journal.FileName)
	want := "rune 2 journal records older than 10h30m (started before 2026-12-01T01:30:00Z) from " + path

	f, _, errOut := newFactory(t, state)
	f.IO.SetTTY(true, false, true)
	f.IO.In.(*bytes.Buffer).WriteString("n\n")
	err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "10h30m")
	if errs.KindOf(err) != errs.Usage || errOut.String() != "P"+want+"? [y/N] " {
		t.Errorf("terminal: %v, prompt %q; want %q", err, errOut, "P"+want+"? [y/N] ")
	}

	f, _, _ = newFactory(t, state)
	err = run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "10h30m")
	var e *errs.Error
	if !errors.As(err, &e) || e.Hint != "would p"+want+"; add --yes to go ahead without a terminal" {
		t.Errorf("no terminal: %v, hint %q", err, errs.HintOf(err))
	}

	f, _, errOut = newFactory(t, state)
	if err := run(f, NewCmdHistory(f, nil), "history", "--prune", "--older-than", "11h", "--yes"); err != nil ||
		errOut.String() != "hvctl: pruned 1 journal record older than 11h\n" {
		t.Errorf("--yes: %v, %q", err, errOut)
	}
}
