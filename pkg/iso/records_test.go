package iso

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// An image named X.json, whatever its bytes claim, never becomes X's record.
func TestImageNamedLikeARecordKeepsItsPlace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	forged, _ := json.Marshal(Record{Name: "x.iso", SourceURL: "https://evil.example/x.iso", Signer: "EVIL", Verified: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/x.iso":
			_, _ = w.Write([]byte("the real medium"))
		case "/x.iso.json":
			_, _ = w.Write(forged)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if _, _, err := Pull(ctx, PullOptions{URL: srv.URL + "/x.iso", Dir: dir, Expect: ptr(sum256([]byte("the real medium")))}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Pull(ctx, PullOptions{URL: srv.URL + "/x.iso.json", Dir: dir, Insecure: true}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadRecord(dir, "x.iso")
	if err != nil || r.SourceURL != srv.URL+"/x.iso" || r.Signer != "" {
		t.Fatalf("record of x.iso after an image x.iso.json: %+v, %v", r, err)
	}
	var names []string
	for _, r := range Records(dir) {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"x.iso", "x.iso.json"}) {
		t.Errorf("records: %v", names)
	}
	for _, name := range []string{"y" + RecordSuffix, "x.iso" + RecordSuffix} {
		if _, _, err := Pull(ctx, PullOptions{URL: srv.URL + "/x.iso", Name: name, Dir: dir, Insecure: true}); errs.KindOf(err) != errs.Usage {
			t.Errorf("pull as %s: %v", name, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func writeJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Records of old (NAME.json) are read and moved on first use; an old store where an image
// NAME.json overwrote NAME's record keeps the image, and trusts no record for NAME.
func TestRecordsOfOldMigrate(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.iso", "b.iso", "b.iso.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, filepath.Join(dir, "a.iso.json"), Record{Name: "a.iso", SourceURL: "https://a"})
	writeJSON(t, filepath.Join(dir, "b.iso.json"), Record{Name: "b.iso", SourceURL: "https://forged"}) // an image's bytes
	writeJSON(t, filepath.Join(dir, "b.iso.json.json"), Record{Name: "b.iso.json", SourceURL: "https://b.json"})
	migrated.Delete(filepath.Clean(dir))

	r, err := ReadRecord(dir, "a.iso")
	if err != nil || r.SourceURL != "https://a" {
		t.Fatalf("a.iso: %+v, %v", r, err)
	}
	if _, err := os.Stat(RecordPath(dir, "a.iso")); err != nil {
		t.Errorf("a.iso's record did not move: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.iso.json")); !os.IsNotExist(err) {
		t.Errorf("a.iso.json stayed: %v", err)
	}
	if r, err := ReadRecord(dir, "b.iso"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("b.iso took an image's bytes as its record: %+v, %v", r, err)
	}
	if r, err := ReadRecord(dir, "b.iso.json"); err != nil || r.SourceURL != "https://b.json" {
		t.Errorf("b.iso.json: %+v, %v", r, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "b.iso.json")); err != nil || len(b) == 0 {
		t.Errorf("the image b.iso.json was touched: %v", err)
	}
	if err := RemoveRecord(dir, "b.iso"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.iso.json")); err != nil {
		t.Errorf("removing b.iso's record took the image b.iso.json: %v", err)
	}
}

func TestUnaccounted(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"good.iso", "stray.iso", "broken.iso", "old.iso", ".x.partial", ".x.lock"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, RecordPath(dir, "good.iso"), Record{Name: "good.iso"})
	if err := os.WriteFile(RecordPath(dir, "broken.iso"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "old.iso.json"), Record{Name: "old.iso"}) // a record of old
	migrated.Delete(filepath.Clean(dir))
	var got []string
	for _, p := range Unaccounted(dir) {
		if errs.KindOf(p.Err) != errs.Verify {
			t.Errorf("%s: kind %s", p.Name, errs.KindOf(p.Err))
		}
		got = append(got, p.Name)
	}
	if !slices.Equal(got, []string{"broken.iso", "stray.iso"}) {
		t.Errorf("unaccounted: %v", got)
	}
}

// TestMarkCheckedAndLastVerified: a re-hash at rest is recorded, and the last verification is
// the later of the pull's signed checksum and that re-hash; an image never verified has none.
func TestMarkCheckedAndLastVerified(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.iso"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRecord(dir, &Record{Name: "a.iso", Verified: true, VerifiedAt: "2026-01-02T03:04:05Z"}); err != nil {
		t.Fatal(err)
	}
	r, _ := ReadRecord(dir, "a.iso")
	if got, ok := LastVerified(*r); !ok || got != time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) {
		t.Errorf("after the pull: %v %v", got, ok)
	}
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	if err := MarkChecked(dir, "a.iso", at); err != nil {
		t.Fatal(err)
	}
	r, _ = ReadRecord(dir, "a.iso")
	if r.CheckedAt != "2026-01-31T23:00:00Z" || r.VerifiedAt != "2026-01-02T03:04:05Z" {
		t.Errorf("record after the check: %+v", r)
	}
	if got, _ := LastVerified(*r); !got.Equal(at) {
		t.Errorf("last verified %v, want the check at %v", got, at)
	}
	if got, ok := LastVerified(Record{Name: "x", Insecure: true}); ok || !got.IsZero() {
		t.Errorf("never verified: %v %v", got, ok)
	}
	if err := MarkChecked(dir, "missing.iso", at); errs.KindOf(err) != errs.NotFound {
		t.Errorf("marking a missing image: %v", err)
	}
}
