package iso

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The parsers below read what a mirror, a publisher or a stranger's file hands over. The seed
// corpora live in testdata/fuzz/FuzzX; CI runs each target briefly (scripts/fuzz.sh), longer by
// hand: go test -fuzz=FuzzX -fuzztime=10m ./pkg/iso

var lowerHex = regexp.MustCompile(`^[0-9a-f]+$`)

func FuzzParseChecksums(f *testing.F) {
	f.Add([]byte(h256+"  debian.iso\n"), "")
	f.Add([]byte("SHA512 (a b.iso) = "+strings.Repeat("ab", 64)+"\r\n# comment\n"), "bsd")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		sums, err := ParseChecksumsAs(data, format)
		if err != nil {
			return
		}
		if len(sums) == 0 {
			t.Fatal("success with no entries")
		}
		for name, d := range sums {
			if name == "" || strings.HasPrefix(name, "./") {
				t.Errorf("name %q", name)
			}
			if !lowerHex.MatchString(d.Hex) || (d.Algo != "sha256" || len(d.Hex) != 64) && (d.Algo != "sha512" || len(d.Hex) != 128) {
				t.Errorf("%s: digest %+v", name, d)
			}
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + h256)
	f.Add(strings.ToUpper(strings.Repeat("0f", 64)))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		again, err := ParseDigest(d.String())
		if err != nil || again != d {
			t.Errorf("%q → %v does not read back: %v, %v", s, d, again, err)
		}
	})
}

// fuzzPin is the fingerprint of the key in the OpenPGP seeds (testdata/fuzz/*/seed-signed).
const fuzzPin = "B81DCA3CFE98CBD36D984842040C99877217DC0D"

func FuzzVerifyClearsigned(f *testing.F) {
	f.Fuzz(func(t *testing.T, doc, keys []byte) {
		text, signer, err := VerifyClearsigned(doc, keys, []string{fuzzPin})
		if err != nil {
			return
		}
		if signer != fuzzPin || !bytes.Contains(doc, bytes.TrimSpace(text)) {
			t.Errorf("accepted: signer %s, text %q", signer, text)
		}
	})
}

func FuzzVerifyDetached(f *testing.F) {
	f.Fuzz(func(t *testing.T, signed, sig, keys []byte) {
		signer, err := VerifyDetached(signed, sig, keys, []string{fuzzPin})
		if err == nil && signer != fuzzPin {
			t.Errorf("accepted a signature by %s", signer)
		}
		streamed, err2 := VerifyDetachedReader(bytes.NewReader(signed), sig, keys, []string{fuzzPin})
		if err2 == nil && streamed != fuzzPin {
			t.Errorf("stream accepted a signature by %s", streamed)
		}
	})
}

func FuzzLinkNames(f *testing.F) {
	f.Add([]byte(`<a href="Fedora-Server-42-1.1-x86_64-CHECKSUM">x</a><a href='../'>up</a><A HREF = "sub/dir/file%20name.iso?x=1">`))
	f.Fuzz(func(t *testing.T, listing []byte) {
		for _, n := range linkNames(listing) {
			if n == "" || n == "." || n == ".." || strings.Contains(n, "/") {
				t.Errorf("listing yields %q", n)
			}
		}
	})
}

func FuzzVersionLess(f *testing.F) {
	f.Add("debian-13.2.0-amd64-netinst.iso", "debian-13.10.0-amd64-netinst.iso")
	f.Add("a01", "a1")
	f.Fuzz(func(t *testing.T, a, b string) {
		if VersionLess(a, a) {
			t.Errorf("%q < itself", a)
		}
		if VersionLess(a, b) && VersionLess(b, a) {
			t.Errorf("%q and %q each less than the other", a, b)
		}
	})
}

func FuzzInspect(f *testing.F) {
	iso := make([]byte, 18*2048)
	copy(iso[16*2048:], "\x01CD001")
	copy(iso[16*2048+40:], "DEBIAN 13 AMD64")
	copy(iso[17*2048:], "\xffCD001")
	f.Add(iso)
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "img")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		in, err := Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		if in.SizeBytes != int64(len(data)) || in.Format != "raw" && in.Format != "iso9660" && in.Format != "qcow2" {
			t.Errorf("%+v", in)
		}
	})
}

// The OpenPGP seeds hold real signatures by fuzzPin's key, so that the fuzzer starts from
// inputs that pass and mutates its way around them.
func TestOpenPGPSeedsVerify(t *testing.T) {
	read := func(p string) [][]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, []byte(s))
		}
		return out
	}
	cs := read("testdata/fuzz/FuzzVerifyClearsigned/seed-signed")
	if _, signer, err := VerifyClearsigned(cs[0], cs[1], []string{fuzzPin}); err != nil || signer != fuzzPin {
		t.Errorf("clearsigned seed: %s, %v", signer, err)
	}
	for _, name := range []string{"seed-signed", "seed-binary"} {
		d := read("testdata/fuzz/FuzzVerifyDetached/" + name)
		if signer, err := VerifyDetached(d[0], d[1], d[2], []string{fuzzPin}); err != nil || signer != fuzzPin {
			t.Errorf("detached %s: %s, %v", name, signer, err)
		}
	}
}
