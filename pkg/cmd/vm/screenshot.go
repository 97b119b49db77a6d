package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// ScreenshotOptions of `vm screenshot`.
type ScreenshotOptions struct {
	F      *cmdutil.Factory
	VM     string
	File   string
	Screen uint
	Yes    bool
}

// NewCmdScreenshot builds `vm screenshot`.
func NewCmdScreenshot(f *cmdutil.Factory, runF func(context.Context, *ScreenshotOptions) error) *cobra.Command {
	opts := &ScreenshotOptions{F: f}
	cmd := &cobra.Command{
		Use:   "screenshot VM FILE.png",
		Short: "Save a running VM's screen as a PNG",
		Long: `Take a picture of a running VM's screen through libvirt (no VNC client needed) and write it
as PNG: QEMU sends PPM, which is converted here. The VM needs a video device (a profile with
graphics = "none" has none: exit 4). FILE is written atomically; an existing one is replaced
only when confirmed. Prints the file, its size and the picture's dimensions.

` + cmdutil.ConfirmHelp,
		Example:           "  vmctl screenshot web01 web01.png\n  vmctl screenshot win11 head2.png --screen 1",
		Args:              cmdutil.ExactArgs(2, "a VM and a .png file"),
		ValidArgsFunction: fileAfterVM(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.File = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if !strings.HasSuffix(strings.ToLower(opts.File), ".png") {
				return errs.New(errs.Usage, "screenshot: %s: the file is written as PNG, so its name must end in .png", output.Escape(opts.File))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runScreenshot(cmd.Context(), opts)
		},
	}
	cmd.Flags().UintVar(&opts.Screen, "screen", 0, "the display head, from 0")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

// fileAfterVM completes a VM, then a local file.
func fileAfterVM(f *cmdutil.Factory) cobra.CompletionFunc {
	vms := completeVMs(f, false)
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return vms(cmd, args, s)
		case 1:
			return nil, cobra.ShellCompDirectiveDefault
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func runScreenshot(ctx context.Context, o *ScreenshotOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	if fi, err := os.Stat(o.File); err == nil {
		if !fi.Mode().IsRegular() {
			return errs.New(errs.Usage, "screenshot: %s exists and is not a regular file", output.Escape(o.File))
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "overwrite", What: "file", Done: "overwritten", Objects: []string{o.File}}); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	} else if dir := filepath.Dir(o.File); !isDir(dir) {
		// Checked before asking libvirt, so that the error names the directory rather than
		// the temporary file fsutil.WriteAtomic would fail to create in it.
		return errs.New(errs.Usage, "screenshot: directory %s does not exist", output.Escape(dir))
	}
	var mime string
	var data []byte
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		state, _, err := d.State(ctx)
		if err != nil {
			return err
		}
		if state != virt.StateRunning && state != virt.StatePaused {
			return errs.New(errs.Conflict, "%s is %s: only a running VM has a screen", o.VM, state)
		}
		mime, data, err = d.Screenshot(ctx, o.Screen)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "screenshot %s", o.VM)
	}
	img, err := decodeScreen(mime, data)
	if err != nil {
		return errs.New(errs.Failure, "screenshot %s: %v", o.VM, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(o.File, buf.Bytes(), 0o600); err != nil {
		return errs.New(errs.Failure, "screenshot %s: %v", o.VM, err)
	}
	b := img.Bounds()
	s := model.Screenshot{VM: o.VM, File: o.File, Bytes: int64(buf.Len()), Width: b.Dx(), Height: b.Dy()}
	return output.Object(o.F.IO.Out, format, s, [][2]string{
		{"vm", s.VM}, {"file", s.File}, {"size", fmt.Sprintf("%dx%d", s.Width, s.Height)}, {"bytes", fmt.Sprint(s.Bytes)},
	})
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// decodeScreen reads what libvirt sent: PPM from QEMU, PNG from drivers that send it.
func decodeScreen(mime string, data []byte) (image.Image, error) {
	switch mime {
	case "image/png":
		return png.Decode(bytes.NewReader(data))
	case "image/x-portable-pixmap", "image/x-portable-anymap", "":
		return decodePPM(bytes.NewReader(data))
	}
	return nil, fmt.Errorf("the screen came as %s, which hvctl cannot convert", mime)
}

// decodePPM reads a binary PPM (P6): a header of width, height and maximum value (up to 65535,
// two bytes a sample above 255), comments allowed, then the pixels row by row.
func decodePPM(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	var fields []int
	magic, err := ppmToken(br)
	if err != nil || magic != "P6" {
		return nil, fmt.Errorf("not a binary PPM image (magic %q)", magic)
	}
	for len(fields) < 3 {
		tok, err := ppmToken(br)
		if err != nil {
			return nil, fmt.Errorf("PPM header: %v", err)
		}
		var n int
		if _, err := fmt.Sscanf(tok, "%d", &n); err != nil || n <= 0 {
			return nil, fmt.Errorf("PPM header: %q is not a positive number", tok)
		}
		fields = append(fields, n)
	}
	w, h, maxVal := fields[0], fields[1], fields[2]
	if maxVal > 65535 || w > 1<<15 || h > 1<<15 {
		return nil, fmt.Errorf("PPM image of %dx%d with maximum %d is out of range", w, h, maxVal)
	}
	bytesPer := 1
	if maxVal > 255 {
		bytesPer = 2
	}
	row := make([]byte, w*3*bytesPer)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	scale := func(v int) uint8 { return uint8(v * 255 / maxVal) }
	for y := 0; y < h; y++ {
		if _, err := io.ReadFull(br, row); err != nil {
			return nil, fmt.Errorf("PPM pixels: row %d: %v", y, err)
		}
		for x := 0; x < w; x++ {
			var c [3]int
			for i := range c {
				o := (x*3 + i) * bytesPer
				if bytesPer == 1 {
					c[i] = int(row[o])
				} else {
					c[i] = int(row[o])<<8 | int(row[o+1])
				}
			}
			img.SetRGBA(x, y, color.RGBA{scale(c[0]), scale(c[1]), scale(c[2]), 255})
		}
	}
	return img, nil
}

// ppmToken reads one whitespace-separated header token, skipping comments; the single
// whitespace byte after it is consumed (the last one ends the header).
func ppmToken(br *bufio.Reader) (string, error) {
	var tok []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			if len(tok) > 0 && err == io.EOF {
				return string(tok), nil
			}
			return "", err
		}
		switch {
		case c == '#' && len(tok) == 0:
			if _, err := br.ReadString('\n'); err != nil {
				return "", err
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(tok) > 0 {
				return string(tok), nil
			}
		default:
			tok = append(tok, c)
		}
	}
}
