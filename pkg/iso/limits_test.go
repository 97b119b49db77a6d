package iso

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// hostile serves the misbehaviours of issue 8 by path, each on loopback.
func hostile(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "identity" {
			// What a gzip bomb needs: a client that inflates transparently.
			http.Error(w, "ask for the identity encoding", http.StatusBadRequest)
			return
		}
		switch strings.TrimPrefix(r.URL.Path, "/") {
		case "ok.txt":
			_, _ = w.Write([]byte("fine\n"))
		case "silent-headers.txt", "silent-headers.iso":
			<-r.Context().Done() // accepts, then never answers
		case "silent-body.txt":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("half"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "huge.txt", "huge.iso":
			w.Header().Set("Content-Length", "1125899906842624") // 1 PiB
			w.WriteHeader(http.StatusOK)
		case "endless.txt", "endless.iso", "endless-etag.iso":
			if strings.HasPrefix(r.URL.Path, "/endless-etag") {
				w.Header().Set("ETag", `"e"`)
			}
			buf := make([]byte, 64<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		case "dropped.iso":
			w.Header().Set("Content-Length", "1048576")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 4096))
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The small documents of a pull are bounded in time and size like the image.
func TestFetcherLimits(t *testing.T) {
	srv := hostile(t)
	fetch := NewFetcher(nil, 300*time.Millisecond, 1<<20)
	ctx := context.Background()
	if b, err := fetch(ctx, srv.URL+"/ok.txt", "checksum file"); err != nil || string(b) != "fine\n" {
		t.Fatalf("plain fetch: %q, %v", b, err)
	}
	for _, c := range []struct {
		path string
		kind errs.Kind
		msg  string
	}{
		{"silent-headers.txt", errs.Timeout, "no data for 300ms"},
		{"silent-body.txt", errs.Timeout, "no data for 300ms"},
		{"huge.txt", errs.Failure, "larger than 1MiB"},
		{"endless.txt", errs.Failure, "larger than 1MiB"},
	} {
		start := time.Now()
		_, err := fetch(ctx, srv.URL+"/"+c.path, "checksum file")
		if errs.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (kind %s), want %s %q", c.path, err, errs.KindOf(err), c.kind, c.msg)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %s", c.path, d)
		}
	}
	big := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(ctx, big, "signing key"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 2 MiB key file: %v", err)
	}
}

// A pull refuses what cannot fit before writing, stops an endless body at the cap, and keeps a
// partial file only when a pull run again could resume it.
func TestPullBoundsAndPartials(t *testing.T) {
	srv := hostile(t)
	ctx := context.Background()
	partials := func(dir string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".*.partial*"))
		return m
	}
	for _, c := range []struct {
		name     string
		o        PullOptions
		kind     errs.Kind
		msg      string
		kept     bool
		resumeOK bool
	}{
		{"1 PiB over the cap", PullOptions{URL: srv.URL + "/huge.iso"}, errs.Failure, "announces 1PiB, over the 64GiB cap", false, false},
		{"1 PiB over the free space", PullOptions{URL: srv.URL + "/huge.iso", MaxBytes: 1 << 62}, errs.Failure, "only", false, false},
		{"endless body", PullOptions{URL: srv.URL + "/endless.iso", MaxBytes: 1 << 20}, errs.Failure, "the size cap is 1MiB", false, false},
		{"endless body with a validator", PullOptions{URL: srv.URL + "/endless-etag.iso", MaxBytes: 1 << 20}, errs.Failure, "the size cap is 1MiB", false, false},
		{"no response", PullOptions{URL: srv.URL + "/silent-headers.iso", Stall: 300 * time.Millisecond}, errs.Timeout, "no response for 300ms", false, false},
		{"dropped, not resumable", PullOptions{URL: srv.URL + "/dropped.iso"}, errs.Failure, "unexpected EOF", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.o.Dir, c.o.Insecure = dir, true
			_, _, err := Pull(ctx, c.o)
			if errs.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("%v (kind %s), want %s %q", err, errs.KindOf(err), c.kind, c.msg)
			}
			if got := partials(dir); len(got) > 0 != c.kept {
				t.Errorf("partial files: %v", got)
			}
			if hint := errs.HintOf(err); strings.Contains(hint, "resume") != c.resumeOK {
				t.Errorf("hint: %q", hint)
			}
		})
	}
}

// A document fetched over HTTPS does not follow a redirect to plain HTTP.
func TestFetcherRefusesHTTPSDowngrade(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(h256 + "  evil.iso\n"))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		if r.URL.Path == "/final" {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, plain.URL+"/SHA256SUMS", http.StatusFound)
	}))
	defer tls.Close()
	// The default client, trusting the test server's certificate.
	old := http.DefaultTransport
	http.DefaultTransport = tls.Client().Transport
	defer func() { http.DefaultTransport = old }()
	fetch := NewFetcher(nil, time.Second, 1<<20)
	if _, err := fetch(context.Background(), tls.URL+"/SHA256SUMS", "checksum file"); errs.KindOf(err) != errs.Verify || !strings.Contains(err.Error(), "off HTTPS") {
		t.Errorf("https → http: %v", err)
	}
	if b, err := fetch(context.Background(), tls.URL+"/same", "checksum file"); err != nil || string(b) != "ok" {
		t.Errorf("https → https: %q, %v", b, err)
	}
}

// A resumable partial stays when the rest does not fit yet, and goes when the image is over
// its cap.
func TestPullNoRoomKeepsAResumablePartial(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Range", "bytes 4-1125899906842623/1125899906842624")
		w.Header().Set("Content-Length", "1125899906842620")
		w.WriteHeader(http.StatusPartialContent)
	}))
	defer srv.Close()
	partial := filepath.Join(dir, ".big.iso.partial")
	write := func() {
		if err := os.WriteFile(partial, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(partial+".json", []byte(`{"url":"`+srv.URL+`/big.iso","validator":"\"v1\""}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write()
	_, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/big.iso", Dir: dir, Insecure: true, MaxBytes: 1 << 62})
	if err == nil || !strings.Contains(err.Error(), "the 4 bytes already here are kept") || !strings.Contains(errs.HintOf(err), "resume") {
		t.Fatalf("no room: %v (hint %q)", err, errs.HintOf(err))
	}
	if _, err := os.Stat(partial); err != nil {
		t.Errorf("the resumable partial went: %v", err)
	}
	_, _, err = Pull(context.Background(), PullOptions{URL: srv.URL + "/big.iso", Dir: dir, Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "over the 64GiB cap") {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("a partial over the cap stayed: %v", err)
	}
}
