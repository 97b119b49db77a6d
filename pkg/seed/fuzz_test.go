package seed

import (
	"bytes"
	"runtime"
	"testing"
)

// FuzzParse reads damaged seed images back, as clone does with a VM's seed volume: a seed or
// an error, never a panic (a panic inside the ISO reader skipped clone's rollback). The input
// is a patch (bytes written at an offset) and a cut (a truncation) applied to a valid seed, so
// the fuzzer works inside the ISO's structures instead of on megabytes of zeros.
func FuzzParse(f *testing.F) {
	want := Seed{UserData: []byte("#cloud-config\n{}\n"), MetaData: []byte(`{"instance-id":"i-1"}`), NetworkConfig: []byte("version: 2\n")}
	base, err := want.ISO()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, cut uint32) {
		img := bytes.Clone(base)
		if cut > 0 {
			img = img[:int(cut)%len(img)]
		}
		if len(img) > 0 {
			at := int(off) % len(img)
			copy(img[at:], patch)
		}
		got, err := Parse(img)
		if err != nil {
			return
		}
		if cut == 0 && len(patch) == 0 && (!bytes.Equal(got.UserData, want.UserData) || !bytes.Equal(got.MetaData, want.MetaData) ||
			!bytes.Equal(got.NetworkConfig, want.NetworkConfig)) {
			t.Fatalf("round trip: got %+v", got)
		}
	})
}

// A path table size of 2.4 GB in a 1 MiB seed (found by FuzzParse) made the ISO reader
// allocate it all before reading: the fuzzer's workers died of it. Parse refuses it first.
func TestParseBoundsAllocation(t *testing.T) {
	s := Seed{UserData: []byte("#cloud-config\n{}\n"), MetaData: []byte("{}")}
	img, err := s.ISO()
	if err != nil {
		t.Fatal(err)
	}
	copy(img[32768+132:], []byte{0xff, 0xff, 0x00, 0x93}) // the primary descriptor's path table size
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Parse(img)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a path table past the image's end was accepted")
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
		t.Errorf("Parse allocated %d MiB for a %d KiB image", grown>>20, len(img)>>10)
	}
}
