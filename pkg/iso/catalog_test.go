package iso

import "testing"

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
	if u.URL != "https://releases.ubuntu.com/24.04.1/ubuntu-24.04.1-live-server-amd64.iso" || !u.Signed() || len(u.Keys) != 1 {
		t.Errorf("ubuntu: %+v", u)
	}
	if by["alpine-virt"].Signed() {
		t.Error("alpine's checksums are not signed")
	}
	for _, e := range c {
		if e.Source == "builtin" && e.ChecksumURL == "" {
			t.Errorf("%s has no checksum file", e.Name)
		}
	}
	if _, err := Catalog([]Entry{{Name: "nourl"}}); err == nil {
		t.Error("entry without url accepted")
	}
}
