package iso

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// A mistyped --legacy directory, or a file given for it, is an error, not an empty success.
func TestImportLegacyNeedsADirectory(t *testing.T) {
	root, store := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "one.iso")
	_ = os.WriteFile(file, image(1000), 0o644)
	if _, err := ImportLegacy(context.Background(), filepath.Join(root, "isoz"), store, time.Now()); errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "no such directory") {
		t.Errorf("a missing directory: %v", err)
	}
	if _, err := ImportLegacy(context.Background(), file, store, time.Now()); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
	if res, err := ImportLegacy(context.Background(), root, store, time.Now()); err != nil || len(res) != 1 {
		t.Errorf("a directory: %v %+v", err, res)
	}
}

func TestImportLegacy(t *testing.T) {
	legacy, store := t.TempDir(), t.TempDir()
	good, bad := image(100000), image(5000)
	_ = os.WriteFile(filepath.Join(legacy, "good.iso"), good, 0o644)
	_ = os.WriteFile(filepath.Join(legacy, "good.iso.sha256"), []byte(sum256(good).Hex+"  good.iso\n"), 0o644)
	// A lying marker: the sidecar says one thing, the file is another; .verified says "trust me".
	_ = os.WriteFile(filepath.Join(legacy, "liar.iso"), bad, 0o644)
	_ = os.WriteFile(filepath.Join(legacy, "liar.iso.sha256"), []byte(sum256(good).Hex+"\n"), 0o644)
	_ = os.WriteFile(filepath.Join(legacy, "liar.iso.sha256.verified"), nil, 0o644)
	_ = os.WriteFile(filepath.Join(legacy, "bare.iso"), bad, 0o644)
	_ = os.WriteFile(filepath.Join(legacy, "bare.iso.sha256.verified"), nil, 0o644)
	res, err := ImportLegacy(context.Background(), legacy, store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]LegacyResult{}
	for _, r := range res {
		byName[filepath.Base(r.File)] = r
	}
	if r := byName["good.iso"]; r.Err != nil || !r.Record.Verified {
		t.Errorf("good: %+v", r)
	}
	if r := byName["liar.iso"]; errs.KindOf(r.Err) != errs.Verify {
		t.Errorf("liar: %v", r.Err)
	}
	if r := byName["bare.iso"]; errs.KindOf(r.Err) != errs.Verify || !strings.Contains(r.Err.Error(), "no .sha256 sidecar") {
		t.Errorf("bare: %v", r.Err)
	}
	if files := storeFiles(t, store); strings.Join(files, " ") != "good.iso good.iso.record.json" {
		t.Errorf("store: %v", files)
	}
	// Importing again is a conflict; without a digest it is stored but marked unverified.
	if _, err := ImportFile(context.Background(), filepath.Join(legacy, "good.iso"), store, "", nil, time.Now()); errs.KindOf(err) != errs.Conflict {
		t.Errorf("again: %v", err)
	}
	r, err := ImportFile(context.Background(), filepath.Join(legacy, "bare.iso"), store, "", nil, time.Now())
	if err != nil || r.Verified || !r.Insecure {
		t.Errorf("unverified import: %v %+v", err, r)
	}
}

// Locate: a file name first; else the newest image pulled as that catalogue entry, in version
// order; records whose file is gone do not count.
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []Record{{Name: "d-13.9.iso", Catalog: "debian"}, {Name: "d-13.10.iso", Catalog: "debian"},
		{Name: "d-13.11.iso", Catalog: "debian"}, {Name: "other.iso", Catalog: "other"}, {Name: "debian", Catalog: "x"}} {
		if err := WriteRecord(dir, &r); err != nil {
			t.Fatal(err)
		}
		if r.Name != "d-13.11.iso" {
			_ = os.WriteFile(filepath.Join(dir, r.Name), nil, 0o644)
		}
	}
	if r, err := Locate(dir, "other.iso"); err != nil || r.Name != "other.iso" {
		t.Errorf("by file name: %v %v", r, err)
	}
	// "debian" is also a file name: the file wins over the entry.
	if r, err := Locate(dir, "debian"); err != nil || r.Name != "debian" {
		t.Errorf("file before entry: %v %v", r, err)
	}
	_ = os.Remove(filepath.Join(dir, "debian"))
	if r, err := Locate(dir, "debian"); err != nil || r.Name != "d-13.10.iso" {
		t.Errorf("by entry (13.11's file is missing): %v %v", r, err)
	}
	if _, err := Locate(dir, "fedora"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("unknown: %v", err)
	}
}

// The stored copy is no more readable than its source: a seed only root could read stays so,
// and a leftover partial of an interrupted import does not lend it its own, wider mode.
func TestImportKeepsTheSourcesReaders(t *testing.T) {
	root, store := t.TempDir(), t.TempDir()
	// A partial an interrupted import left, world-readable.
	_ = os.WriteFile(filepath.Join(store, ".s600.iso"+importSuffix), []byte("old"), 0o644)
	for _, c := range []struct {
		src, want os.FileMode
	}{{0o600, 0o600}, {0o400, 0o600}, {0o640, 0o640}, {0o604, 0o604}, {0o644, 0o644}, {0o755, 0o644}} {
		name := fmt.Sprintf("s%o.iso", c.src)
		file := filepath.Join(root, name)
		_ = os.WriteFile(file, image(1000), 0o600)
		_ = os.Chmod(file, c.src) // whatever the umask
		if _, err := ImportFile(context.Background(), file, store, "", nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(store, name))
		if err != nil {
			t.Fatal(err)
		}
		// The store's 0644 is less the umask; what the source withholds stays withheld.
		if got := fi.Mode().Perm(); got&^c.want != 0 || got&0o400 == 0 {
			t.Errorf("source %o stored as %o, want at most %o", c.src, got, c.want)
		}
	}
}

// A source readable by its group gives the copy no group read unless the copy is in that group:
// the importer's group may hold other people.
func TestImportDropsAnotherGroupsRead(t *testing.T) {
	root, store := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "g.iso")
	_ = os.WriteFile(file, image(1000), 0o640)
	_ = os.Chmod(file, 0o640)
	if err := os.Chown(file, -1, os.Getegid()+4242); err != nil {
		t.Skip("cannot give the source another group:", err)
	}
	if _, err := ImportFile(context.Background(), file, store, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(store, "g.iso")); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("a 0640 source of another group stored as %v (%v), want no group or other read", fi.Mode(), err)
	}
}

// An import never renames over a symlink in the store, even one whose target is missing (an
// unmounted share): os.Stat said "not there" and the rename replaced the user's link.
func TestImportKeepsADanglingSymlinkInTheStore(t *testing.T) {
	root, store := t.TempDir(), t.TempDir()
	file := filepath.Join(root, "x.iso")
	_ = os.WriteFile(file, image(1000), 0o644)
	link := filepath.Join(store, "x.iso")
	if err := os.Symlink("/nonexistent/share/x.iso", link); err != nil {
		t.Fatal(err)
	}
	_, err := ImportFile(context.Background(), file, store, "", nil, time.Now())
	if errs.KindOf(err) != errs.Conflict {
		t.Errorf("import onto a dangling symlink: %v", err)
	}
	if target, err := os.Readlink(link); err != nil || target != "/nonexistent/share/x.iso" {
		t.Errorf("the symlink was replaced: %q %v", target, err)
	}
}
