package iso

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestPartialsListAndRemove(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".a.iso.partial", "half")
	write(".a.iso.partial.json", `{"url":"https://x/a.iso","validator":"\"v1\""}`)
	write(".b.iso.partial", "no validator")
	write("c.iso", "a stored image is no partial")
	ps, err := Partials(dir)
	if err != nil || len(ps) != 2 {
		t.Fatalf("partials: %+v, %v", ps, err)
	}
	if a := ps[0]; a.Name != "a.iso" || a.SizeBytes != 4 || !a.Resumable || a.URL != "https://x/a.iso" || a.Active {
		t.Errorf("a.iso: %+v", a)
	}
	if b := ps[1]; b.Name != "b.iso" || b.Resumable {
		t.Errorf("b.iso: %+v", b)
	}
	// A pull holding the lock: its partial is active and stays.
	unlock, err := lock(context.Background(), filepath.Join(dir, ".a.iso.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if ps, _ := Partials(dir); !ps[0].Active {
		t.Errorf("a.iso under a pull's lock: %+v", ps[0])
	}
	if err := RemovePartialDownload(dir, "a.iso"); errs.KindOf(err) != errs.Conflict {
		t.Errorf("removing a partial a pull is writing: %v", err)
	}
	unlock()
	if err := RemovePartialDownload(dir, "a.iso"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".a.iso.partial", ".a.iso.partial.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s stayed: %v", f, err)
		}
	}
	if err := RemovePartialDownload(dir, "nothing.iso"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("no such partial: %v", err)
	}
}

// An import of a name whose pull was interrupted leaves the pull's partial alone.
func TestImportKeepsAPullsPartial(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, ".x.iso.partial")
	if err := os.WriteFile(partial, []byte("half of a pull"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "x.iso")
	if err := os.WriteFile(src, []byte("a local copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportFile(context.Background(), src, dir, "", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(partial); err != nil || string(b) != "half of a pull" {
		t.Errorf("the pull's partial: %q, %v", b, err)
	}
}
