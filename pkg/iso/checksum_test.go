package iso

import (
	"sort"
	"strings"
	"testing"
)

const (
	h256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	h512 = "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff"
)

func TestParseChecksums(t *testing.T) {
	data := strings.Join([]string{
		"# comment",
		h256 + "  debian-12.iso",
		strings.ToUpper(h256[:60]) + "abcd *debian-12.iso.torrent",
		"SHA512 (Fedora-40.iso) = " + h512,
		"SHA256 (./alpine.iso) = " + h256,
		"-----BEGIN PGP SIGNATURE-----",
		"garbage line",
	}, "\r\n")
	c, err := ParseChecksums([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c.For("debian-12.iso"); !ok || d.Algo != "sha256" || d.Hex != h256 {
		t.Errorf("gnu: %v %v", d, ok)
	}
	if d, _ := c.For("debian-12.iso.torrent"); d.Hex == h256 {
		t.Error("torrent took the iso's hash")
	}
	if d, ok := c.For("Fedora-40.iso"); !ok || d.Algo != "sha512" {
		t.Errorf("bsd sha512: %v", d)
	}
	if _, ok := c.For("alpine.iso"); !ok {
		t.Error("./ prefix not trimmed")
	}
	if _, ok := c.For("debian"); ok {
		t.Error("substring matched")
	}
}

func TestChecksumErrors(t *testing.T) {
	if _, err := ParseChecksums([]byte("nothing here\n")); err == nil {
		t.Error("empty accepted")
	}
	twice := h256 + "  a.iso\n" + strings.Replace(h256, "9f", "00", 1) + "  a.iso\n"
	if _, err := ParseChecksums([]byte(twice)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("conflicting lines: %v", err)
	}
	for _, bad := range []string{"xyz", "abcd", "sha512:" + h256, "md5:" + h256[:32]} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
	if d, err := ParseDigest("SHA256:" + strings.ToUpper(h256)); err == nil {
		t.Errorf("upper-case algo name accepted oddly: %v", d)
	}
}

// A publisher's declared format: lines of the other shape are not read.
func TestParseChecksumsAs(t *testing.T) {
	doc := []byte(h256 + "  gnu.iso\nSHA256 (bsd.iso) = " + h256 + "\n")
	for format, want := range map[string]string{"": "bsd.iso gnu.iso", "gnu": "gnu.iso", "bsd": "bsd.iso"} {
		c, err := ParseChecksumsAs(doc, format)
		if err != nil {
			t.Fatalf("%q: %v", format, err)
		}
		var names []string
		for n := range c {
			names = append(names, n)
		}
		sort.Strings(names)
		if strings.Join(names, " ") != want {
			t.Errorf("%q: read %v, want %s", format, names, want)
		}
	}
	if _, err := ParseChecksumsAs(doc, "md5"); err == nil {
		t.Error("unknown format accepted")
	}
}
