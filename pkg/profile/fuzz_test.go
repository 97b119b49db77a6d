package profile

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzLoad feeds arbitrary profile files to Load: it must return a profile or an error, never
// panic, and a profile it returns must be complete (the defaults applied).
func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		// Dir is empty: an `extends` can name only files, and none exist but this one.
		p, err := Load(path, Options{Defaults: defaults})
		if err != nil {
			var inv *Invalid
			if errors.As(err, &inv) && len(inv.Issues) == 0 {
				t.Fatalf("Invalid without issues for %q", body)
			}
			return
		}
		if p.Name == "" || p.VCPUs < 1 || p.Memory == "" || p.Disk.Size == "" {
			t.Fatalf("accepted profile is incomplete: %+v", p)
		}
	})
}

// FuzzImport feeds arbitrary JSON to the legacy importer. What it writes must be TOML, and its
// notes must stay comments: a JSON key or value must never become a TOML line of its own.
func FuzzImport(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		out, notes, err := Import(data)
		if err != nil {
			return
		}
		header, body, ok := bytes.Cut(out, []byte("\n\n"))
		if !ok {
			t.Fatalf("no blank line between notes and profile:\n%s", out)
		}
		sc := bufio.NewScanner(bytes.NewReader(header))
		lines := 0
		for sc.Scan() {
			lines++
			if !strings.HasPrefix(sc.Text(), "# ") {
				t.Fatalf("header line %q is not a comment (notes %q)", sc.Text(), notes)
			}
		}
		if lines != len(notes)+1 {
			t.Fatalf("%d notes took %d header lines:\n%s", len(notes), lines-1, header)
		}
		var whole, plain map[string]any
		if err := toml.Unmarshal(out, &whole); err != nil {
			t.Fatalf("output is not TOML: %v\n%s", err, out)
		}
		if err := toml.Unmarshal(body, &plain); err != nil {
			t.Fatalf("profile part is not TOML: %v\n%s", err, body)
		}
		if len(whole) != len(plain) {
			t.Fatalf("the notes changed the profile:\n%s", out)
		}
	})
}
