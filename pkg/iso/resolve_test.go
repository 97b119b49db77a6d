package iso

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestVersionLess(t *testing.T) {
	ordered := []string{"a-latest.iso", "a-1.2.iso", "a-1.9.iso", "a-1.10.iso", "a-2.iso", "a-10.iso"}
	for i := range ordered {
		for j := range ordered {
			if got := VersionLess(ordered[i], ordered[j]); got != (i < j) {
				t.Errorf("VersionLess(%s, %s) = %v", ordered[i], ordered[j], got)
			}
		}
	}
	// A numbered name beats a "latest" alias of it: the digit run is the greater.
	if !VersionLess("CentOS-Stream-10-latest-x86_64-dvd1.iso", "CentOS-Stream-10-20261120.0-x86_64-dvd1.iso") {
		t.Error("the dated compose should be newer than the alias")
	}
	if VersionLess("x-007", "x-7") || VersionLess("x-7", "x-007") {
		t.Error("leading zeros should not count")
	}
}

// publisher serves documents by path and counts requests.
type publisher struct {
	mu   sync.Mutex
	docs map[string][]byte
	hits map[string]int
}

func publish(t *testing.T, docs map[string][]byte) (*publisher, string) {
	p := &publisher{docs: docs, hits: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		b, ok := p.docs[r.URL.Path]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *publisher) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[path]
}

func clearsigned(t *testing.T, signer *openpgp.Entity, text string) []byte {
	t.Helper()
	var doc bytes.Buffer
	w, err := clearsign.Encode(&doc, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(text))
	w.Close()
	return doc.Bytes()
}

// Fedora's layout: the CHECKSUM is named after the compose, found through the listing, and
// clearsigned; the image name comes from its signed text only.
func TestResolveListingAndClearsigned(t *testing.T) {
	signer, pub, fpr := key(t, "fedora")
	good := strings.Repeat("ab", 32)
	evil := strings.Repeat("cd", 32)
	listing := `<html><body><a href="../">../</a><a href="?C=N;O=D">Name</a>
<a href="Fedora-Server-45-1.2-x86_64-CHECKSUM">Fedora-Server-45-1.2-x86_64-CHECKSUM</a>
<a href="Fedora-Server-45-1.10-x86_64-CHECKSUM">Fedora-Server-45-1.10-x86_64-CHECKSUM</a>
<a href='Fedora-Server-dvd-x86_64-45-1.10.iso'>iso</a><a href="images/">images/</a></body></html>`
	sums := clearsigned(t, signer, "# Fedora-Server-dvd-x86_64-45-1.10.iso: 3 bytes\nSHA256 (Fedora-Server-dvd-x86_64-45-1.10.iso) = "+good+"\n")
	// Text after the signature is anyone's: a "newer" image listed there must not be chosen.
	sums = append(sums, []byte("SHA256 (Fedora-Server-dvd-x86_64-45-9.9.iso) = "+evil+"\n")...)
	p, base := publish(t, map[string][]byte{
		"/f/": []byte(listing),
		"/f/Fedora-Server-45-1.10-x86_64-CHECKSUM": sums,
		"/f/Fedora-Server-45-1.2-x86_64-CHECKSUM":  []byte("stale"),
		"/key.asc": pub,
	})
	r, err := Resolve(context.Background(), Source{
		URL: base + "/f/{file}", File: "Fedora-Server-dvd-x86_64-45-*.iso",
		ChecksumURL: base + "/f/Fedora-Server-45-*-x86_64-CHECKSUM", KeyURL: base + "/key.asc", Keys: []string{fpr},
	}, HTTPFetcher(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{URL: base + "/f/Fedora-Server-dvd-x86_64-45-1.10.iso", Name: "Fedora-Server-dvd-x86_64-45-1.10.iso",
		ChecksumURL: base + "/f/Fedora-Server-45-1.10-x86_64-CHECKSUM", SignatureURL: base + "/f/Fedora-Server-45-1.10-x86_64-CHECKSUM (clearsigned)",
		Signer: fpr, Digest: Digest{Algo: "sha256", Hex: good}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("resolved\n %+v\nwant\n %+v", r, want)
	}
	if p.count("/f/Fedora-Server-45-1.2-x86_64-CHECKSUM") != 0 {
		t.Error("the older CHECKSUM was fetched")
	}
}

// A "latest" alias: the URL is downloaded as is, checked against the versioned name's digest,
// and the versioned name is what the store will call it.
func TestResolveLatestAlias(t *testing.T) {
	signer, pub, fpr := key(t, "opensuse")
	sums := []byte(h256 + "  openSUSE-Tumbleweed-NET-x86_64-Snapshot20261120-Media.iso\n")
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, signer, bytes.NewReader(sums), nil); err != nil {
		t.Fatal(err)
	}
	_, base := publish(t, map[string][]byte{"/tw/Current.iso.sha256": sums, "/tw/Current.iso.sha256.asc": sig.Bytes(), "/key": pub})
	r, err := Resolve(context.Background(), Source{
		URL: base + "/tw/Current.iso", File: "openSUSE-Tumbleweed-NET-x86_64-*.iso",
		ChecksumURL: base + "/tw/Current.iso.sha256", SignatureURL: base + "/tw/Current.iso.sha256.asc", KeyURL: base + "/key", Keys: []string{fpr},
	}, HTTPFetcher(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.URL != base+"/tw/Current.iso" || r.Name != "openSUSE-Tumbleweed-NET-x86_64-Snapshot20261120-Media.iso" || r.Signer != fpr || r.Digest.Hex != h256 {
		t.Errorf("resolved %+v", r)
	}
}

func TestResolveRefusals(t *testing.T) {
	signer, pub, fpr := key(t, "publisher")
	_, otherPub, otherFpr := key(t, "mallory")
	sums := []byte(h256 + "  a-1.iso\n")
	var sig bytes.Buffer
	_ = openpgp.ArmoredDetachSign(&sig, signer, bytes.NewReader(sums), nil)
	p, base := publish(t, map[string][]byte{
		"/SUMS": sums, "/SUMS.sig": sig.Bytes(), "/key": pub, "/other": otherPub,
		"/dir/":            []byte(`<a href="b-1.txt">b</a>`),
		"/fedora/CHECKSUM": clearsigned(t, signer, h256+"  a-1.iso\n"),
	})
	ctx := context.Background()
	cases := []struct {
		name string
		src  Source
		kind errs.Kind
		msg  string
	}{
		{"pinned but unsigned", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", KeyURL: base + "/key", Keys: []string{fpr}}, errs.Usage, "not clearsigned"},
		{"signed, nothing pinned", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", SignatureURL: base + "/SUMS.sig"}, errs.Usage, "no key is pinned"},
		{"someone else's key", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", SignatureURL: base + "/SUMS.sig", KeyURL: base + "/other", Keys: []string{otherFpr}}, errs.Verify, "bad signature"},
		{"unpinned key", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", SignatureURL: base + "/SUMS.sig", KeyURL: base + "/key", Keys: []string{otherFpr}}, errs.Verify, "not pinned"},
		{"no entry", Source{URL: base + "/b.iso", ChecksumURL: base + "/SUMS"}, errs.Verify, "no entry for b.iso"},
		{"no match", Source{URL: base + "/{file}", File: "c-*.iso", ChecksumURL: base + "/SUMS"}, errs.NotFound, "nothing matching c-*.iso"},
		{"listing without a match", Source{URL: base + "/{file}", File: "a-*.iso", ChecksumURL: base + "/dir/SUMS-*"}, errs.NotFound, "nothing matching SUMS-*"},
		{"no checksum list", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/missing"}, errs.NotFound, "404"},
		// A list declared clearsigned arrives bare: a stripped signature, not an unsigned pass.
		{"stripped signature", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", SignatureKind: "clearsigned", KeyURL: base + "/key", Keys: []string{fpr}}, errs.Verify, "carries no signature"},
		{"detached without URL", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", SignatureKind: "detached", Keys: []string{fpr}}, errs.Usage, "needs its URL"},
		{"declared format", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/SUMS", Format: "bsd"}, errs.Verify, "no BSD-style checksum lines"},
		// A built-in key is pinned: the published key is not fetched, and the test key's
		// signature is not the Fedora key's.
		{"builtin key first", Source{URL: base + "/a-1.iso", ChecksumURL: base + "/fedora/CHECKSUM", KeyURL: base + "/key",
			Keys: []string{"4F50A6114CD5C6976A7F1179655A4B02F577861E"}}, errs.Verify, "bad signature"},
	}
	for _, c := range cases {
		_, err := Resolve(ctx, c.src, HTTPFetcher(nil))
		if errs.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v (kind %v), want kind %v with %q", c.name, err, errs.KindOf(err), c.kind, c.msg)
		}
	}
	// Only "unpinned key" needed it: the built-in case must not have fetched it.
	if n := p.count("/key"); n != 1 {
		t.Errorf("the published key was fetched %d times, want 1", n)
	}
}

func TestLinkNames(t *testing.T) {
	got := fmt.Sprint(linkNames([]byte(`<a href="x%20y.iso">.</a><A HREF='sub/'>s</A><a href="/abs/z.iso#frag">z</a><a href="?C=M">m</a>`)))
	if got != "[x y.iso z.iso]" {
		t.Errorf("linkNames = %s", got)
	}
}

// Arch and Alpine sign the image, not the list: Resolve reads the digest from the list, and
// hands back the signature's URL (with the resolved name) and the pinned keys to check the
// downloaded file with.
func TestResolveImageSignature(t *testing.T) {
	signer, pub, fpr := key(t, "arch")
	image := []byte("an iso")
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, signer, bytes.NewReader(image), nil); err != nil {
		t.Fatal(err)
	}
	_, base := publish(t, map[string][]byte{"/sha256sums.txt": []byte(h256 + "  archlinux-2026.11.01-x86_64.iso\n" + h256 + "  archlinux-x86_64.iso\n"), "/key": pub})
	r, err := Resolve(context.Background(), Source{URL: base + "/{file}", File: "archlinux-*-x86_64.iso", ChecksumURL: base + "/sha256sums.txt",
		SignatureKind: "image", SignatureURL: base + "/{file}.sig", KeyURL: base + "/key", Keys: []string{fpr}}, HTTPFetcher(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "archlinux-2026.11.01-x86_64.iso" || r.ImageSignature != base+"/archlinux-2026.11.01-x86_64.iso.sig" || r.Signer != "" {
		t.Fatalf("resolved %+v", r)
	}
	if got, err := VerifyDetachedReader(bytes.NewReader(image), sig.Bytes(), r.ImageKeys, r.Pins); err != nil || got != fpr {
		t.Errorf("good image: %s %v", got, err)
	}
	if _, err := VerifyDetachedReader(bytes.NewReader(append(image, '!')), sig.Bytes(), r.ImageKeys, r.Pins); errs.KindOf(err) != errs.Verify {
		t.Errorf("changed image: %v", err)
	}
	if _, err := Resolve(context.Background(), Source{URL: base + "/{file}", File: "archlinux-*-x86_64.iso", ChecksumURL: base + "/sha256sums.txt",
		SignatureKind: "image", KeyURL: base + "/key", Keys: []string{fpr}}, HTTPFetcher(nil)); errs.KindOf(err) != errs.Usage {
		t.Errorf("image kind without a URL: %v", err)
	}
}

// A name from the list with characters a URL cannot carry raw is escaped, not spliced.
func TestResolveEscapesNames(t *testing.T) {
	_, base := publish(t, map[string][]byte{"/dir/": []byte(`<a href="SUMS%201">x</a>`), "/dir/SUMS 1": []byte(h256 + "  my image?.iso\n")})
	r, err := Resolve(context.Background(), Source{URL: base + "/dir/{file}", File: "my image*.iso", ChecksumURL: base + "/dir/SUMS*"}, HTTPFetcher(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r.ChecksumURL != base+"/dir/SUMS%201" || r.URL != base+"/dir/my%20image%3F.iso" || r.Name != "my image?.iso" {
		t.Errorf("resolved %+v", r)
	}
}
