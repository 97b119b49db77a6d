package iso

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestPipeCopy checks the bytes and the hash that land, for a size that is not whole blocks
// (a direct-I/O tail), after an aligned and an unaligned prefix (a resume), in the page-cached
// directory of the tests and on tmpfs when there is one, with reads of awkward sizes.
func TestPipeCopy(t *testing.T) {
	data := make([]byte, 2*chunkSize+directAlign*3+123)
	_, _ = rand.Read(data)
	dirs := []string{t.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "hvctl-copy-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		for _, offset := range []int64{0, directAlign, 1000} {
			p := filepath.Join(dir, "img")
			if err := os.WriteFile(p, data[:offset], 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			var last int64
			n, err := pipeCopy(f, offset, iotest.HalfReader(bytes.NewReader(data[offset:])), h, func(n int64) { last = n })
			f.Close()
			if err != nil || n != int64(len(data))-offset || last != n {
				t.Fatalf("%s offset %d: copied %d (progress %d), %v", dir, offset, n, last, err)
			}
			got, _ := os.ReadFile(p)
			want := sha256.Sum256(data[offset:])
			if !bytes.Equal(got, data) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("%s offset %d: the file or the hash differs", dir, offset)
			}
		}
	}
}

// A read error ends the copy with that error, keeping what arrived (for a resume).
func TestPipeCopyReadError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	f, _ := os.Create(p)
	defer f.Close()
	src := io.MultiReader(bytes.NewReader(make([]byte, 5000)), iotest.ErrReader(io.ErrUnexpectedEOF))
	n, err := pipeCopy(f, 0, src, io.Discard, nil)
	if err != io.ErrUnexpectedEOF || n != 5000 {
		t.Fatalf("got %d, %v", n, err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 5000 {
		t.Errorf("kept %d bytes, want 5000", fi.Size())
	}
}

func TestHashReader(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	_, _ = rand.Read(data)
	h := sha256.New()
	n, err := hashReader(iotest.HalfReader(bytes.NewReader(data)), h)
	want := sha256.Sum256(data)
	if err != nil || n != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("read %d, %v, or the digest differs", n, err)
	}
	if _, err := hashReader(io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(io.ErrClosedPipe)), sha256.New()); err != io.ErrClosedPipe {
		t.Errorf("read error: %v", err)
	}
}
