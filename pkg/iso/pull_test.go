package iso

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

var modTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func image(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(42)).Read(b)
	return b
}

func sum256(b []byte) Digest {
	s := sha256.Sum256(b)
	return Digest{"sha256", hex.EncodeToString(s[:])}
}

// serve serves data at /img.iso with Range support (http.ServeContent) and an ETag, after
// letting misbehave take over a request when it returns true.
func serve(t *testing.T, data []byte, misbehave func(w http.ResponseWriter, r *http.Request, n int) bool) (*httptest.Server, *int32) {
	var count int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(atomic.AddInt32(&count, 1))
		if r.URL.Path != "/img.iso" {
			http.NotFound(w, r)
			return
		}
		if misbehave != nil && misbehave(w, r, n) {
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "img.iso", modTime, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &count
}

func storeFiles(t *testing.T, dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.Name()[0] != '.' {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestPullVerifiesAndPublishes(t *testing.T) {
	data := image(3 << 20)
	srv, _ := serve(t, data, nil)
	dir := t.TempDir()
	want := sum256(data)
	rec, fresh, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Expect: &want, Dir: dir})
	if err != nil || !fresh {
		t.Fatal(err)
	}
	if !rec.Verified || rec.SHA256 != want.Hex || rec.SizeBytes != int64(len(data)) || rec.Insecure {
		t.Errorf("record: %+v", rec)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "img.iso"))
	if !bytes.Equal(got, data) {
		t.Error("stored bytes differ")
	}
	if _, err := Verify(dir, "img.iso"); err != nil {
		t.Errorf("verify: %v", err)
	}
	// A byte flipped at rest is found.
	got[100] ^= 1
	_ = os.WriteFile(filepath.Join(dir, "img.iso"), got, 0o644)
	if _, err := Verify(dir, "img.iso"); errs.KindOf(err) != errs.Verify {
		t.Errorf("flipped byte: %v", err)
	}
}

// A password in the URL is used for the download but never written into the record, which
// everyone can read and list, show and --json print.
func TestPullRecordHidesURLPassword(t *testing.T) {
	data := image(1 << 20)
	srv, _ := serve(t, data, nil)
	dir := t.TempDir()
	want := sum256(data)
	u := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1) + "/img.iso"
	rec, _, err := Pull(context.Background(), PullOptions{URL: u, Expect: &want, Dir: dir, ChecksumURL: u + ".sums", Signature: u + ".sums (clearsigned)"})
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(RecordPath(dir, "img.iso"))
	if bytes.Contains(onDisk, []byte("s3cret")) || !strings.HasPrefix(rec.SourceURL, "http://ops:xxxxx@") ||
		!strings.HasPrefix(rec.FinalURL, "http://ops:xxxxx@") || !strings.HasSuffix(rec.SignatureURL, ".sums (clearsigned)") {
		t.Errorf("record keeps the password or loses the URL:\n%s", onDisk)
	}
}

func TestPullSHA512(t *testing.T) {
	data := image(1 << 20)
	srv, _ := serve(t, data, nil)
	s := sha512.Sum512(data)
	want := Digest{"sha512", hex.EncodeToString(s[:])}
	rec, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Expect: &want, Dir: t.TempDir()})
	if err != nil || rec.UpstreamDigest != want.String() {
		t.Fatalf("%v %+v", err, rec)
	}
}

func TestPullWrongHashStoresNothing(t *testing.T) {
	srv, _ := serve(t, image(1<<20), nil)
	dir := t.TempDir()
	wrong := sum256([]byte("something else"))
	_, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Expect: &wrong, Dir: dir})
	if errs.KindOf(err) != errs.Verify {
		t.Fatalf("got %v", err)
	}
	if files := storeFiles(t, dir); len(files) != 0 {
		t.Errorf("left in the store: %v", files)
	}
	if _, err := os.Stat(filepath.Join(dir, ".img.iso.partial")); !os.IsNotExist(err) {
		t.Errorf("bad partial kept: %v", err)
	}
}

func TestPullResumesAfterADroppedConnection(t *testing.T) {
	data := image(4 << 20)
	var ranges []string
	var mu sync.Mutex
	srv, count := serve(t, data, func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if n != 1 {
			return false
		}
		// First request: half the body, then the connection dies.
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", "4194304")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data[:2<<20])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	})
	dir := t.TempDir()
	want := sum256(data)
	o := PullOptions{URL: srv.URL + "/img.iso", Expect: &want, Dir: dir}
	if _, _, err := Pull(context.Background(), o); err == nil {
		t.Fatal("first pull should fail")
	}
	if files := storeFiles(t, dir); len(files) != 0 {
		t.Errorf("a failed pull published: %v", files)
	}
	rec, _, err := Pull(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SHA256 != want.Hex || atomic.LoadInt32(count) != 2 || ranges[1] != "bytes=2097152-" {
		t.Errorf("resume: %+v, requests %d, ranges %q", rec, *count, ranges)
	}
}

func TestPullServerIgnoringRange(t *testing.T) {
	data := image(1 << 20)
	srv, _ := serve(t, data, func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("ETag", `"v1"`)
		_, _ = w.Write(data) // always the whole file, status 200
		return true
	})
	dir := t.TempDir()
	// A stale partial from an earlier attempt.
	_ = os.WriteFile(filepath.Join(dir, ".img.iso.partial"), data[:1000], 0o644)
	_ = os.WriteFile(filepath.Join(dir, ".img.iso.partial.json"), []byte(`{"url":"`+srv.URL+`/img.iso","validator":"\"v1\""}`), 0o600)
	want := sum256(data)
	if _, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Expect: &want, Dir: dir}); err != nil {
		t.Fatal(err)
	}
}

func TestPullErrors(t *testing.T) {
	data := image(1 << 20)
	srv, _ := serve(t, data, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Get("stall") == "" {
			return false
		}
		w.Header().Set("Content-Length", "1048576")
		_, _ = w.Write(data[:1000])
		w.(http.Flusher).Flush()
		time.Sleep(2 * time.Second)
		return true
	})
	want := sum256(data)
	dir := t.TempDir()
	if _, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/missing.iso", Expect: &want, Dir: dir}); errs.KindOf(err) != errs.NotFound {
		t.Errorf("404: %v", err)
	}
	_, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso?stall=1", Name: "img.iso", Expect: &want, Dir: dir, Stall: 200 * time.Millisecond})
	if errs.KindOf(err) != errs.Timeout {
		t.Errorf("stalled: %v", err)
	}
	if _, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Dir: dir}); errs.KindOf(err) != errs.Usage {
		t.Errorf("no checksum: %v", err)
	}
	rec, _, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Dir: t.TempDir(), Insecure: true})
	if err != nil || rec.Verified || !rec.Insecure {
		t.Errorf("insecure: %v %+v", err, rec)
	}
}

func TestConcurrentPullsDownloadOnce(t *testing.T) {
	data := image(2 << 20)
	srv, count := serve(t, data, nil)
	dir := t.TempDir()
	want := sum256(data)
	var wg sync.WaitGroup
	fresh := make([]bool, 3)
	for i := range fresh {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, f, err := Pull(context.Background(), PullOptions{URL: srv.URL + "/img.iso", Expect: &want, Dir: dir})
			if err != nil {
				t.Error(err)
			}
			fresh[i] = f
		}(i)
	}
	wg.Wait()
	n := 0
	for _, f := range fresh {
		if f {
			n++
		}
	}
	if n != 1 || atomic.LoadInt32(count) != 1 {
		t.Errorf("downloads: %d fresh, %d requests", n, *count)
	}
}
