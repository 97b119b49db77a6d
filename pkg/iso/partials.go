package iso

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// Partial is a download that did not finish: .NAME.partial, with its resume state beside it.
type Partial struct {
	Name      string    // the image it would become
	Path      string    // the hidden partial file
	SizeBytes int64     // bytes downloaded so far
	Modified  time.Time // the last write
	URL       string    // where it came from, when known
	Resumable bool      // a pull of the same URL would resume it
	Active    bool      // a pull holds its lock right now
}

// The hidden files of unfinished work: a pull's download (resumable) and an import's copy.
const (
	partialSuffix = ".partial"
	importSuffix  = ".import"
)

// Partials lists the unfinished downloads and imports in dir.
func Partials(dir string) ([]Partial, error) {
	var paths []string
	for _, suffix := range []string{partialSuffix, importSuffix} {
		m, err := filepath.Glob(filepath.Join(dir, ".*"+suffix))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	out := []Partial{}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		base := strings.TrimPrefix(filepath.Base(p), ".")
		name, ok := strings.CutSuffix(base, partialSuffix)
		if !ok {
			name = strings.TrimSuffix(base, importSuffix)
		}
		pt := Partial{Name: name, Path: p, SizeBytes: fi.Size(), Modified: fi.ModTime()}
		var st partialState
		if b, err := readCapped(p+".json", MaxRecordBytes); err == nil && json.Unmarshal(b, &st) == nil {
			pt.URL, pt.Resumable = st.URL, st.URL != "" && st.Validator != ""
		}
		pt.Active = locked(filepath.Join(dir, "."+name+".lock"))
		out = append(out, pt)
	}
	return out, nil
}

// RemovePartialDownload removes the unfinished download of name in dir, unless a pull is
// writing it right now (a conflict).
func RemovePartialDownload(dir, name string) error {
	lockPath := filepath.Join(dir, "."+name+".lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err == nil {
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return errs.New(errs.Conflict, "a pull of %s is running", name)
			}
			return err
		}
		defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	}
	removed := false
	for _, p := range []string{filepath.Join(dir, "."+name+partialSuffix), filepath.Join(dir, "."+name+importSuffix)} {
		if err := os.Remove(p); err == nil {
			removed = true
		} else if !os.IsNotExist(err) {
			return err
		}
	}
	if !removed {
		return errs.New(errs.NotFound, "no unfinished download of %s in %s", name, dir)
	}
	_ = os.Remove(filepath.Join(dir, "."+name+partialSuffix+".json"))
	return nil
}

// locked says whether another process holds the lock file at p.
func locked(p string) bool {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
