package iso

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/units"
)

// Fetcher gets a small document: a checksum list, a signature, a key or a directory listing.
type Fetcher func(ctx context.Context, rawURL, what string) ([]byte, error)

// Limits of the small documents a pull reads before the image.
const (
	MaxDocumentBytes = 16 << 20         // a checksum list, a signature, a key, a listing
	DocumentStall    = 60 * time.Second // silence that ends a fetch, as for images
)

// HTTPFetcher fetches over HTTP(S) with client (a path that is not a URL is read from disk, so
// a key kept on the host works too), with the document limits above.
func HTTPFetcher(client *http.Client) Fetcher {
	return NewFetcher(client, DocumentStall, MaxDocumentBytes)
}

// NewFetcher fetches documents of at most maxBytes, ending a fetch when the server is silent for
// stall (before the response, or between reads). A larger document is an error, never read
// cut short: a truncated checksum list would silently lose entries.
func NewFetcher(client *http.Client, stall time.Duration, maxBytes int64) Fetcher {
	if client == nil {
		client = &http.Client{CheckRedirect: noDowngrade}
	}
	tooLarge := func(what, u string) error {
		return errs.New(errs.Failure, "%s %s is larger than %s: not read", what, u, units.Human(uint64(maxBytes)))
	}
	return func(ctx context.Context, u, what string) ([]byte, error) {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			f, err := os.Open(u)
			if err != nil {
				return nil, &errs.Error{Kind: errs.NotFound, Msg: fmt.Sprintf("%s %s: %v", what, u, err), Err: err}
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
			if err != nil {
				return nil, &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("%s %s: %v", what, u, err), Err: err}
			}
			if int64(len(b)) > maxBytes {
				return nil, tooLarge(what, u)
			}
			return b, nil
		}
		reqCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u, nil)
		if err != nil {
			return nil, &errs.Error{Kind: errs.Usage, Msg: fmt.Sprintf("%s: %v", what, err), Err: err}
		}
		req.Header.Set("Accept-Encoding", "identity") // no transparent inflating past the cap
		guard := newWatchdog(stall, cancel)
		defer guard.pause()
		failed := func(err error) error {
			switch {
			case ctx.Err() != nil:
				return &errs.Error{Kind: errs.KindOf(ctx.Err()), Msg: fmt.Sprintf("%s %s: %v", what, u, ctx.Err()), Err: ctx.Err()}
			case guard.stalled():
				return errs.New(errs.Timeout, "%s %s: no data for %s", what, u, stall)
			}
			var refused *errs.Error
			if errors.As(err, &refused) { // from noDowngrade, through the client's url.Error
				return &errs.Error{Kind: refused.Kind, Msg: fmt.Sprintf("%s %s: %s", what, u, refused.Msg), Err: err}
			}
			return &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("%s %s: %v", what, u, err), Err: err}
		}
		resp, err := client.Do(req)
		guard.pause()
		if err != nil {
			return nil, failed(err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return nil, errs.New(errs.NotFound, "%s %s: %s", what, u, resp.Status)
		case resp.StatusCode != http.StatusOK:
			return nil, errs.New(errs.Failure, "%s %s: %s", what, u, resp.Status)
		case resp.ContentLength > maxBytes:
			return nil, tooLarge(what, u)
		}
		guard.r = io.LimitReader(resp.Body, maxBytes+1)
		b, err := io.ReadAll(guard)
		if err != nil {
			return nil, failed(err)
		}
		if int64(len(b)) > maxBytes {
			return nil, tooLarge(what, u)
		}
		return b, nil
	}
}

// noDowngrade follows redirects as Go does, except from HTTPS to anything else: a checksum list
// trusted "over HTTPS only" must not arrive over plain HTTP because a server said so. (Images
// may follow such redirects, as mirror networks send them: their digest is checked anyway.)
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errs.New(errs.Verify, "redirected from %s to %s, off HTTPS: not followed", via[0].URL.Redacted(), req.URL.Redacted())
	}
	return nil
}

// Source says where an image is and how it is to be trusted, before anything is fetched.
//
// File names the image's entry in the checksum list; it may be a glob ("debian-*-amd64-
// netinst.iso"), resolved against the names in the verified list, so that an entry follows
// a publisher's current release without hvctl knowing its number. URL may contain {file},
// replaced by the resolved name; a URL without it (a "latest" alias) is downloaded as is and
// checked against the resolved name's digest. The last element of ChecksumURL may be a glob
// too, resolved against the directory's listing (Fedora names its CHECKSUM after the compose).
type Source struct {
	URL           string
	File          string
	ChecksumURL   string
	Format        string   // checksum lines: "gnu", "bsd" or "" for either
	SignatureKind string   // "detached", "clearsigned", or "" to tell from what is given
	SignatureURL  string   // detached signature of the checksum list; none for clearsigned lists
	KeyURL        string   // where the signing key is published (not needed for built-in keys)
	Keys          []string // pinned fingerprints: only these keys may sign
}

// Resolved is a Source made concrete: what to download, under which name, with which digest.
type Resolved struct {
	URL          string
	Name         string
	ChecksumURL  string
	SignatureURL string // the detached signature, or the checksum list itself when clearsigned
	Signer       string // fingerprint of the pinned key that signed the list; empty when unsigned
	Digest       Digest
	// ImageSignature is the URL of a detached signature over the image itself, to be checked
	// with ImageKeys (only Pins count) once the file is downloaded and before it is published.
	ImageSignature string
	ImageKeys      []byte
	Pins           []string
}

const globChars = "*?["

// Resolve fetches and checks the checksum list (and its signature, when there is one) and picks
// the image's digest. Names are chosen only from the verified text, never from a listing alone.
func Resolve(ctx context.Context, s Source, fetch Fetcher) (Resolved, error) {
	r := Resolved{ChecksumURL: s.ChecksumURL}
	if s.ChecksumURL == "" {
		return r, errs.New(errs.Usage, "no checksum list to resolve %s against", s.URL)
	}
	if dir, pattern := path.Split(s.ChecksumURL); strings.ContainsAny(pattern, globChars) {
		listing, err := fetch(ctx, dir, "directory listing")
		if err != nil {
			return r, err
		}
		name, err := newest(pattern, linkNames(listing), "directory listing "+dir)
		if err != nil {
			return r, err
		}
		r.ChecksumURL = dir + url.PathEscape(name)
	}
	sums, err := fetch(ctx, r.ChecksumURL, "checksum file")
	if err != nil {
		return r, err
	}
	clearsigned := IsClearsigned(sums)
	kind := s.SignatureKind
	switch {
	case kind == "" && clearsigned:
		kind = "clearsigned"
	case kind == "" && s.SignatureURL != "":
		kind = "detached"
	case kind == "clearsigned" && !clearsigned:
		// What a stripped signature looks like: never fall back to trusting the bare list.
		return r, errs.New(errs.Verify, "checksum file %s should be clearsigned but carries no signature", r.ChecksumURL)
	case kind == "detached" && s.SignatureURL == "":
		return r, errs.New(errs.Usage, "a detached signature needs its URL (signature_url)")
	case kind == "image" && s.SignatureURL == "":
		return r, errs.New(errs.Usage, "an image signature needs its URL (signature_url, which may use {file})")
	case kind != "" && kind != "detached" && kind != "clearsigned" && kind != "image":
		return r, errs.New(errs.Usage, "unknown signature kind %q (detached, clearsigned or image)", kind)
	}
	if kind == "image" {
		// The publisher signs the image itself (Arch, Alpine): the list is read over HTTPS for
		// the digest, and the signature is checked over the downloaded file before it is
		// published (see Resolved.ImageSignature).
		if len(s.Keys) == 0 {
			return r, errs.New(errs.Usage, "the image is signed, but no key is pinned to check it with")
		}
		if r.ImageKeys, err = signingKeys(ctx, s, fetch); err != nil {
			return r, err
		}
		r.Pins = s.Keys
	} else if kind != "" {
		if len(s.Keys) == 0 {
			return r, errs.New(errs.Usage, "checksum file %s is signed, but no key is pinned to check it with", r.ChecksumURL).
				WithHint("pin the publisher's fingerprint with --key (and give --key-url), after checking it out of band")
		}
		keys, err := signingKeys(ctx, s, fetch)
		if err != nil {
			return r, err
		}
		if kind == "clearsigned" {
			if sums, r.Signer, err = VerifyClearsigned(sums, keys, s.Keys); err != nil {
				return r, errs.Wrap(err, "checksum file %s", r.ChecksumURL)
			}
			r.SignatureURL = r.ChecksumURL + " (clearsigned)"
		} else {
			sig, err := fetch(ctx, s.SignatureURL, "signature")
			if err != nil {
				return r, err
			}
			if r.Signer, err = VerifyDetached(sums, sig, keys, s.Keys); err != nil {
				return r, errs.Wrap(err, "checksum file %s", r.ChecksumURL)
			}
			r.SignatureURL = s.SignatureURL
		}
	} else if s.KeyURL != "" || len(s.Keys) > 0 {
		// Keys were pinned but nothing is signed: that is a downgrade, not a pass.
		return r, errs.New(errs.Usage, "checksum file %s is not clearsigned and no --signature-url is given, but a signing key is", r.ChecksumURL).
			WithHint("give --signature-url, or drop --key to trust the checksums unsigned")
	}
	list, err := ParseChecksumsAs(sums, s.Format)
	if err != nil {
		return r, errs.New(errs.Verify, "checksum file %s: %w", r.ChecksumURL, err)
	}
	file := s.File
	if file == "" {
		file = path.Base(strings.SplitN(s.URL, "?", 2)[0])
	}
	if strings.ContainsAny(file, globChars) {
		names := make([]string, 0, len(list))
		for n := range list {
			names = append(names, n)
		}
		if file, err = newest(file, names, "checksum file "+r.ChecksumURL); err != nil {
			return r, err
		}
	}
	d, ok := list.For(file)
	if !ok {
		return r, errs.New(errs.Verify, "checksum file %s has no entry for %s", r.ChecksumURL, file)
	}
	r.Name, r.Digest = file, d
	// Names come from the publisher's list: escaped into URLs, never spliced in raw.
	r.URL = strings.ReplaceAll(s.URL, "{file}", url.PathEscape(file))
	if kind == "image" {
		r.ImageSignature = strings.ReplaceAll(s.SignatureURL, "{file}", url.PathEscape(file))
	}
	return r, nil
}

// signingKeys is the keyring to check a signature with: the built-in keys when one of them is
// pinned (no network trust needed), else the key published at KeyURL. Either way only pinned
// fingerprints count (pinnedKeys filters).
func signingKeys(ctx context.Context, s Source, fetch Fetcher) ([]byte, error) {
	if b := builtinKeys(s.Keys); len(b) > 0 {
		return b, nil
	}
	if s.KeyURL == "" {
		return nil, errs.New(errs.Usage, "no key URL for the pinned key %s, and it is not built in", strings.Join(s.Keys, ", ")).
			WithHint("give --key-url (a URL or a file)")
	}
	return fetch(ctx, s.KeyURL, "signing key")
}

//go:embed keys/*.asc
var keyFiles embed.FS

// builtin maps a primary-key fingerprint to its armored key, for the keys shipped in the binary.
var builtin = sync.OnceValue(func() map[string][]byte {
	out := map[string][]byte{}
	files, _ := keyFiles.ReadDir("keys")
	for _, f := range files {
		b, err := keyFiles.ReadFile("keys/" + f.Name())
		if err != nil {
			continue
		}
		ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		if err != nil {
			continue // a broken file is caught by the tests, not trusted here
		}
		for _, e := range ring {
			out[fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)] = b
		}
	}
	return out
})

// BuiltinFingerprints lists the fingerprints of the keys shipped in the binary.
func BuiltinFingerprints() []string {
	var out []string
	for f := range builtin() {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func builtinKeys(pins []string) []byte {
	var out []byte
	for _, p := range pins {
		if b, ok := builtin()[NormalizeFingerprint(p)]; ok {
			out = append(out, b...)
			out = append(out, '\n')
		}
	}
	return out
}

var hrefRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)href\s*=\s*["']([^"'#?]+)`) })

// linkNames are the file names a directory listing (an HTML index) links to.
func linkNames(listing []byte) []string {
	var out []string
	for _, m := range hrefRE().FindAllSubmatch(listing, -1) {
		ref := string(m[1])
		if u, err := url.PathUnescape(ref); err == nil {
			ref = u
		}
		if strings.HasSuffix(ref, "/") {
			continue
		}
		// A link to the parent (.., even %2e%2e) names a directory, never a file to fetch.
		if name := path.Base(ref); name != "." && name != ".." && name != "/" {
			out = append(out, name)
		}
	}
	return out
}

// newest is the greatest name matching pattern in version order, so "45-1.10" beats "45-1.9"
// and a numbered name beats a "latest" alias of it.
func newest(pattern string, names []string, where string) (string, error) {
	var best string
	for _, n := range names {
		if ok, err := path.Match(pattern, n); err != nil {
			return "", errs.New(errs.Usage, "bad pattern %q: %w", pattern, err)
		} else if ok && (best == "" || VersionLess(best, n)) {
			best = n
		}
	}
	if best == "" {
		return "", errs.New(errs.NotFound, "%s has nothing matching %s", where, pattern)
	}
	return best, nil
}

// VersionLess orders names as versions: runs of digits compare as numbers, and a digit run
// sorts after letters at the same place.
func VersionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
		case da != db:
			return db // the digit run is the greater
		default:
			if a[0] != b[0] {
				return a[0] < b[0]
			}
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
