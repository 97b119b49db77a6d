package isocmd

import (
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// An image imported without --sha256 is said to be unverified for that reason: show said
// "stored with --insecure", a flag import does not have.
func TestImagePairsSaysWhyUnverified(t *testing.T) {
	for src, want := range map[string]string{
		"file:///root/seed.iso":     "NO: imported without --sha256",
		"https://example.org/a.iso": "NO: stored with --insecure",
	} {
		im := model.Image{ImageRecord: iso.Record{Name: "a.iso", SourceURL: src, Insecure: true}}
		for _, p := range imagePairs(im) {
			if p[0] == "verified" && p[1] != want {
				t.Errorf("%s: verified %q, want %q", src, p[1], want)
			}
		}
	}
}
