package vm

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdScreenshot(t *testing.T) {
	runFlagCases(t, "screenshot", func(f *cmdutil.Factory, r func(context.Context, *ScreenshotOptions) error) *cobra.Command {
		return NewCmdScreenshot(f, r)
	}, func(o *ScreenshotOptions) string {
		return fmt.Sprintf("%s %s screen=%d yes=%v", o.VM, o.File, o.Screen, o.Yes)
	}, []flagCase{
		{argv: []string{"web01", "a.png"}, want: "web01 a.png screen=0 yes=false"},
		{argv: []string{"web01", "/tmp/A.PNG", "--screen", "1", "-y"}, want: "web01 /tmp/A.PNG screen=1 yes=true"},
		{argv: []string{"web01", "a.ppm"}, err: errs.Usage},
		{argv: []string{"web01"}, err: errs.Usage},
	})
}

// PPM as QEMU sends it (with a comment, 8 and 16 bits a sample) becomes the same pixels.
func TestDecodePPM(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"8-bit", append([]byte("P6\n# qemu\n2 1\n255\n"), 255, 0, 0, 0, 0, 255)},
		{"16-bit", append([]byte("P6 2 1 65535\n"), 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255)},
	} {
		img, err := decodeScreen("image/x-portable-pixmap", tc.data)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r, g, b, _ := img.At(0, 0).RGBA()
		r2, g2, b2, _ := img.At(1, 0).RGBA()
		if img.Bounds().Dx() != 2 || r>>8 != 255 || g != 0 || b != 0 || r2 != 0 || g2 != 0 || b2>>8 != 255 {
			t.Errorf("%s: pixels %v %v", tc.name, img.At(0, 0), img.At(1, 0))
		}
	}
	for _, bad := range [][]byte{[]byte("P3\n1 1\n255\n1 2 3"), []byte("P6\n2 2\n255\n\x00\x00"), []byte("P6\n0 1\n255\n")} {
		if _, err := decodeScreen("image/x-portable-pixmap", bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// The test driver's running VM gives a PNG, which is written as it is; a stopped VM is exit 4;
// an existing file needs --yes off a terminal.
func TestScreenshotOfTestDriver(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, saveVM)
	f, out, _ := storageFactory(t)
	file := filepath.Join(t.TempDir(), "shot.png")
	if err := runScreenshot(context.Background(), &ScreenshotOptions{F: f, VM: "test", File: file}); err != nil {
		t.Fatal(err)
	}
	s := decode[model.Screenshot](t, out)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || s.Width != img.Bounds().Dx() || s.Width == 0 || s.Bytes != int64(len(data)) {
		t.Errorf("screenshot: %v %+v", err, s)
	}
	if err := runScreenshot(context.Background(), &ScreenshotOptions{F: f, VM: "test", File: file}); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("over an existing file without --yes: %v", err)
	}
	if err := runScreenshot(context.Background(), &ScreenshotOptions{F: f, VM: "t-saved", File: filepath.Join(t.TempDir(), "x.png")}); errs.KindOf(err) != errs.Conflict {
		t.Errorf("screenshot of a stopped VM: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-dir", "x.png")
	if err := runScreenshot(context.Background(), &ScreenshotOptions{F: f, VM: "test", File: missing}); errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "no-such-dir does not exist") {
		t.Errorf("into a missing directory: %v", err)
	}
}
