package iso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// ImportFile copies a local file into the store the way Pull publishes a download: hashed while
// copied, compared with expect when given, fsynced, renamed, recorded. Without expect the
// record says the image is unverified.
func ImportFile(ctx context.Context, src, dir, name string, expect *Digest, now time.Time) (*Record, error) {
	if name == "" {
		name = filepath.Base(src)
	}
	if !ValidImageName(name) {
		return nil, errs.New(errs.Usage, "invalid image name %q", name)
	}
	in, err := os.Open(src)
	if err != nil {
		return nil, errs.New(errs.NotFound, "import: %w", err)
	}
	defer in.Close()
	srcInfo, err := in.Stat()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, filepath.Join(dir, "."+name+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Lstat: a symlink there (its target perhaps on a share not mounted now) is someone's too.
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return nil, errs.New(errs.Conflict, "image %s exists in the store", name)
	}
	// Not .NAME.partial: that is a pull's, which a later pull may resume.
	partial := filepath.Join(dir, "."+name+importSuffix)
	mode := importMode(srcInfo)
	out, err := os.OpenFile(partial, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return nil, err
	}
	defer os.Remove(partial) // a no-op once renamed
	defer out.Close()
	// The mode is set before a byte is written, and narrowed explicitly: a leftover partial of
	// an interrupted import keeps its old mode through O_TRUNC.
	if err := narrowMode(out, mode, srcInfo); err != nil {
		return nil, err
	}
	h256 := sha256.New()
	hs := []io.Writer{h256}
	var hx hash.Hash
	if expect != nil && expect.Algo != "sha256" {
		hx = expect.NewHash()
		hs = append(hs, hx)
	}
	// The same pipeline as a pull: hashing beside the copy, direct writes.
	n, err := pipeCopy(out, 0, in, io.MultiWriter(hs...), nil)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(src)
	rec := &Record{Name: name, SourceURL: "file://" + abs, FinalURL: "file://" + abs, SizeBytes: n,
		SHA256: hex.EncodeToString(h256.Sum(nil)), FetchedAt: now.UTC().Format(time.RFC3339), FetchedBy: whoami()}
	if expect != nil {
		got := rec.SHA256
		if hx != nil {
			got = hex.EncodeToString(hx.Sum(nil))
		}
		if got != expect.Hex {
			return nil, errs.New(errs.Verify, "%s: %s mismatch: expected %s, got %s; nothing stored", src, expect.Algo, expect.Hex, got)
		}
		rec.UpstreamDigest, rec.Verified, rec.VerifiedAt = expect.String(), true, rec.FetchedAt
	} else {
		rec.Insecure = true
	}
	if err := out.Sync(); err != nil {
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(partial, filepath.Join(dir, name)); err != nil {
		return nil, err
	}
	return rec, WriteRecord(dir, rec)
}

// importMode is the mode a stored copy of src is created with: the store's 0644 (less the
// umask), without the group or other read bit the source does not have. An image only root could
// read (a seed with secrets) stays so in the store; QEMU still opens it, as libvirt's
// dynamic_ownership hands a VM's images to the QEMU user when the VM starts or media is changed.
func importMode(src fs.FileInfo) fs.FileMode {
	return 0o644 &^ (0o044 &^ src.Mode().Perm())
}

// narrowMode makes out's mode at most mode, and drops its group read bit unless its group is
// the source's: a copy in the importer's group would otherwise open it to that group's members,
// who may not be the ones the source's group let read it.
func narrowMode(out *os.File, mode fs.FileMode, src fs.FileInfo) error {
	fi, err := out.Stat()
	if err != nil {
		return err
	}
	want := fi.Mode().Perm() & mode
	if want&0o040 != 0 && !sameGroup(fi, src) {
		want &^= 0o040
	}
	if want == fi.Mode().Perm() {
		return nil
	}
	return out.Chmod(want)
}

// sameGroup says whether a and b belong to one group (true where the system does not say).
func sameGroup(a, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return !ok1 || !ok2 || sa.Gid == sb.Gid
}

// LegacyResult is one file of a Hyper-NixOS ISO directory.
type LegacyResult struct {
	File   string
	Record *Record
	Err    error
}

// ImportLegacy imports the ISOs of a Hyper-NixOS ISO directory. A file is verified against its
// .sha256 sidecar by hashing it again; the old .verified markers are ignored (they were empty
// files, bound to nothing). Files without a sidecar are reported, not imported.
func ImportLegacy(ctx context.Context, legacy, dir string, now time.Time) ([]LegacyResult, error) {
	if err := CheckLegacyDir(legacy); err != nil {
		return nil, err
	}
	isos, err := filepath.Glob(filepath.Join(legacy, "*.iso"))
	if err != nil {
		return nil, err
	}
	var out []LegacyResult
	for _, f := range isos {
		r := LegacyResult{File: f}
		side, err := readCapped(f+".sha256", MaxRecordBytes)
		if err != nil {
			r.Err = errs.New(errs.Verify, "%s has no .sha256 sidecar: not imported (a .verified marker proves nothing)", filepath.Base(f))
			out = append(out, r)
			continue
		}
		d, err := sidecarDigest(side, filepath.Base(f))
		if err != nil {
			r.Err = errs.New(errs.Verify, "%s.sha256: %w", filepath.Base(f), err)
			out = append(out, r)
			continue
		}
		r.Record, r.Err = ImportFile(ctx, f, dir, "", &d, now)
		out = append(out, r)
	}
	return out, nil
}

// CheckLegacyDir refuses a --legacy DIR that is missing or no directory: the glob of its ISOs
// would find nothing and the import would succeed with nothing done, a typo unseen.
func CheckLegacyDir(legacy string) error {
	fi, err := os.Stat(legacy)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errs.New(errs.NotFound, "--legacy %s: no such directory", legacy)
	case err != nil:
		return &errs.Error{Kind: errs.KindOf(err), Msg: fmt.Sprintf("--legacy %s: %v", legacy, err), Err: err}
	case !fi.IsDir():
		return errs.New(errs.Usage, "--legacy %s: not a directory (give the Hyper-NixOS ISO directory; import FILE takes one file)", legacy)
	}
	return nil
}

// sidecarDigest reads a .sha256 file: a bare hash, or a checksum line naming the file.
func sidecarDigest(b []byte, name string) (Digest, error) {
	if sums, err := ParseChecksums(b); err == nil {
		if d, ok := sums.For(name); ok {
			return d, nil
		}
		if len(sums) == 1 {
			for _, d := range sums {
				return d, nil
			}
		}
		return Digest{}, fmt.Errorf("no line for %s", name)
	}
	return ParseDigest(strings.TrimSpace(string(b)))
}
