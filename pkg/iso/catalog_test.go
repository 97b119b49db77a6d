package iso

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	c, err := Catalog([]Entry{{Name: "debian-netinst", URL: "http://mirror.local/d.iso", Version: "x"}, {Name: "local", URL: "http://127.0.0.1/l.iso"}})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Entry{}
	for _, e := range c {
		by[e.Name] = e
	}
	if by["debian-netinst"].Source != "config" || by["debian-netinst"].URL != "http://mirror.local/d.iso" || by["local"].Source != "config" {
		t.Errorf("config entries: %+v", by)
	}
	u := by["ubuntu-live-server"].Expand()
	if u.URL != "https://releases.ubuntu.com/24.04/{file}" || u.File != "ubuntu-24.04*-live-server-amd64.iso" || !u.Signed() || len(u.Keys) != 1 {
		t.Errorf("ubuntu: %+v", u)
	}
	if by["debian-genericcloud"].Signed() || !by["alpine-virt"].Signed() {
		t.Error("Debian's cloud checksums are not signed; Alpine signs its images")
	}
	if _, err := Catalog([]Entry{{Name: "nourl"}}); err == nil {
		t.Error("entry without url accepted")
	}
}

// The list of distributions, each of which the catalogue must carry.
var wantDistros = []string{"ubuntu-live-server", "debian-netinst", "fedora-server", "rocky-minimal", "almalinux-minimal",
	"centos-stream", "opensuse-leap", "opensuse-tumbleweed", "archlinux", "nixos-minimal", "alpine-virt", "freebsd",
	"kali-netinst", "ubuntu-cloud", "debian-genericcloud", "fedora-cloud"}

// TestCatalogEntriesAreUsable lints every built-in entry: what a typo in catalog.toml would
// otherwise only show on a user's pull.
func TestCatalogEntriesAreUsable(t *testing.T) {
	c, err := Catalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	fpr := regexp.MustCompile(`^[0-9A-F]{40}$`)
	for _, raw := range c {
		have[raw.Name] = true
		e := raw.Expand()
		if !ValidImageName(e.Name) || e.Description == "" || e.Version == "" || e.Arch == "" {
			t.Errorf("%s: needs a name, description, version and arch: %+v", e.Name, e)
		}
		if n, err := e.MaxBytes(); err != nil || e.MaxSize == "" || n >= DefaultMaxBytes {
			t.Errorf("%s: a built-in entry caps its size below the default: %q, %v", e.Name, e.MaxSize, err)
		}
		for _, u := range []string{e.URL, e.ChecksumURL, e.SignatureURL, e.KeyURL} {
			if u == "" {
				continue
			}
			if strings.Contains(u, "{version}") || strings.Contains(u, "{arch}") {
				t.Errorf("%s: unexpanded placeholder in %s", e.Name, u)
			}
			p, err := url.Parse(strings.ReplaceAll(u, "{file}", "x"))
			if err != nil || p.Scheme != "https" || p.Host == "" {
				t.Errorf("%s: %s is not an https URL", e.Name, u)
			}
		}
		if e.ChecksumURL == "" {
			t.Errorf("%s: no checksum list", e.Name)
		}
		if strings.Contains(e.URL, "{file}") && e.File == "" {
			t.Errorf("%s: url has {file} but there is no file", e.Name)
		}
		if e.File != "" {
			if _, err := path.Match(e.File, "x"); err != nil || strings.Contains(e.File, "/") {
				t.Errorf("%s: bad file pattern %q", e.Name, e.File)
			}
		}
		if !strings.Contains(e.URL, "{file}") && e.File != "" && !strings.ContainsAny(e.File, globChars) && path.Base(e.URL) != e.File {
			t.Errorf("%s: fixed file %s differs from the URL's name", e.Name, e.File)
		}
		if f := e.ChecksumFormat; f != "" && f != "gnu" && f != "bsd" {
			t.Errorf("%s: checksum_format %q", e.Name, f)
		}
		if (e.SignatureKind == "detached" || e.SignatureKind == "image") != (e.SignatureURL != "") ||
			e.SignatureKind != "" && e.SignatureKind != "detached" && e.SignatureKind != "clearsigned" && e.SignatureKind != "image" {
			t.Errorf("%s: signature_kind %q with signature_url %q", e.Name, e.SignatureKind, e.SignatureURL)
		}
		if e.Signed() {
			if e.SignatureKind == "" {
				t.Errorf("%s: signed, but the kind is not declared (a stripped signature would pass)", e.Name)
			}
			if len(e.Keys) == 0 {
				t.Errorf("%s: signed but nothing pinned", e.Name)
			}
			for _, k := range e.Keys {
				if !fpr.MatchString(k) {
					t.Errorf("%s: pin %q is not a 40-hex fingerprint", e.Name, k)
				}
			}
			if e.KeyURL == "" && len(builtinKeys(e.Keys)) == 0 {
				t.Errorf("%s: no key URL and no built-in key", e.Name)
			}
		}
	}
	for _, n := range wantDistros {
		if !have[n] {
			t.Errorf("catalogue lacks %s", n)
		}
	}
}

// TestBuiltinKeys: every key shipped in the binary parses, carries the fingerprint published
// for it, and is pinned by some entry (no dead weight, no unpinned trust).
func TestBuiltinKeys(t *testing.T) {
	published := map[string]string{"4F50A6114CD5C6976A7F1179655A4B02F577861E": "Fedora 45"}
	got := BuiltinFingerprints()
	files, _ := keyFiles.ReadDir("keys")
	if len(got) != len(files) || len(got) != len(published) {
		t.Fatalf("built-in keys %v from %d files, want %v", got, len(files), published)
	}
	c, _ := Catalog(nil)
	for _, f := range got {
		if published[f] == "" {
			t.Errorf("built-in key %s is not one of the published fingerprints", f)
		}
		pinned := false
		for _, e := range c {
			for _, k := range e.Keys {
				pinned = pinned || k == f
			}
		}
		if !pinned {
			t.Errorf("built-in key %s is pinned by no entry", f)
		}
	}
}
