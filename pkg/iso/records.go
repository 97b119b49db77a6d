package iso

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
)

// RecordSuffix ends every record's file name. Records share the store's directory (and libvirt
// pool, so a remote store carries them as volumes); no image may be named with this suffix, so
// an image can never take a record's place. Records used to be NAME.json, which an image named
// NAME.json overwrote: those are moved on first use (see MigrateRecords).
const RecordSuffix = ".record.json"

// legacySuffix ended records before RecordSuffix.
const legacySuffix = ".json"

// RecordPath is where an image's record lives.
func RecordPath(dir, name string) string { return filepath.Join(dir, name+RecordSuffix) }

// ReadRecord reads an image's provenance record; a missing image or record is NotFound. A
// record in the old place (NAME.json) is read, and moved, when it is one.
func ReadRecord(dir, name string) (*Record, error) {
	migrateOnce(dir)
	r, err := readRecordFile(RecordPath(dir, name), name)
	if errs.KindOf(err) == errs.NotFound {
		if legacy, ok := legacyRecord(dir, name); ok {
			r, err = legacy, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		return nil, errs.New(errs.NotFound, "image %s: record without a file", name)
	}
	return r, nil
}

// MaxRecordBytes bounds what is read as a record: they are a few hundred bytes.
const MaxRecordBytes = 1 << 20

func readRecordFile(p, name string) (*Record, error) {
	b, err := readCapped(p, MaxRecordBytes)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &errs.Error{Kind: errs.NotFound, Msg: "image " + name + " not found in " + filepath.Dir(p), Err: err}
		}
		return nil, &errs.Error{Kind: errs.Failure, Msg: "record of " + name + ": " + err.Error(), Err: err}
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &errs.Error{Kind: errs.Failure, Msg: "record of " + name + ": " + err.Error(), Err: err}
	}
	if r.Name != name {
		return nil, errs.New(errs.NotFound, "image %s not found in %s (%s is not its record)", name, filepath.Dir(p), p)
	}
	return &r, nil
}

// readCapped reads the file at p, failing when it holds more than limit bytes.
func readCapped(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return b, err
}

// legacyRecord reads NAME.json when it is NAME's record of old: a record naming NAME and not itself a stored image (an image named NAME.json has a record of its own,
// and its bytes, whatever they claim, are no record).
func legacyRecord(dir, name string) (*Record, bool) {
	p := filepath.Join(dir, name+legacySuffix)
	r, err := readRecordFile(p, name)
	if err != nil {
		return nil, false
	}
	if isStoredImage(dir, name+legacySuffix) {
		return nil, false
	}
	return r, true
}

// isStoredImage says whether a file of the store has a record of its own, old or new.
func isStoredImage(dir, file string) bool {
	if _, err := readRecordFile(RecordPath(dir, file), file); err == nil {
		return true
	}
	_, err := readRecordFile(filepath.Join(dir, file+legacySuffix), file)
	return err == nil
}

var migrated sync.Map // dir → struct{}: MigrateRecords ran in this process

func migrateOnce(dir string) {
	if _, done := migrated.LoadOrStore(filepath.Clean(dir), struct{}{}); !done {
		_ = MigrateRecords(dir)
	}
}

// MigrateRecords moves the store's records of old (NAME.json) to NAME.record.json. Only files
// that legacyRecord accepts move; anything else stays as it is. It needs write access to dir;
// without it, records of old are still read where they are.
func MigrateRecords(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+legacySuffix))
	if err != nil {
		return err
	}
	var first error
	for _, p := range paths {
		if strings.HasSuffix(p, RecordSuffix) {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), legacySuffix)
		if _, err := os.Stat(RecordPath(dir, name)); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			continue // a record of old without its image is not touched
		}
		if _, ok := legacyRecord(dir, name); !ok {
			continue
		}
		if err := os.Rename(p, RecordPath(dir, name)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Records reads every record of the store at dir, in name order.
func Records(dir string) []Record {
	migrateOnce(dir)
	paths, _ := filepath.Glob(filepath.Join(dir, "*"+legacySuffix))
	var out []Record
	seen := map[string]bool{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), RecordSuffix)
		if !strings.HasSuffix(p, RecordSuffix) {
			name = strings.TrimSuffix(filepath.Base(p), legacySuffix)
		}
		if seen[name] {
			continue
		}
		if r, err := ReadRecord(dir, name); err == nil {
			seen[name] = true
			out = append(out, *r)
		}
	}
	return out
}

// RemoveRecord removes an image's record, and its record of old when that is one (never an image
// named NAME.json).
func RemoveRecord(dir, name string) error {
	if _, ok := legacyRecord(dir, name); ok {
		if err := os.Remove(filepath.Join(dir, name+legacySuffix)); err != nil {
			return err
		}
	}
	if err := os.Remove(RecordPath(dir, name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Locate finds a stored image by its file name or else by the catalogue entry it was pulled
// as, taking the newest such image in version order: a profile can say install_iso =
// "debian-netinst" and get the point release that was pulled last.
func Locate(dir, ref string) (*Record, error) {
	if r, err := ReadRecord(dir, ref); err == nil {
		return r, nil
	}
	if r, ok := NewestOf(Records(dir), ref); ok {
		return &r, nil
	}
	return nil, errs.New(errs.NotFound, "image %s not found in %s (by file name or catalogue entry)", ref, dir)
}

// MarkChecked records that a re-hash at rest found name unchanged at t, so the record says
// when the image was last verified (the metrics exporter's verification age reads it).
func MarkChecked(dir, name string, t time.Time) error {
	r, err := ReadRecord(dir, name)
	if err != nil {
		return err
	}
	r.CheckedAt = t.UTC().Format(time.RFC3339)
	return WriteRecord(dir, r)
}

// LastVerified is when r's image was last verified: its upstream signature and checksum at
// pull or import, or an unchanged re-hash at rest since, whichever is later. ok is false when
// neither ever happened (an image stored with --insecure and never re-hashed).
func LastVerified(r Record) (t time.Time, ok bool) {
	for _, s := range []string{r.VerifiedAt, r.CheckedAt} {
		if s == "" {
			continue
		}
		if v, err := time.Parse(time.RFC3339, s); err == nil && v.After(t) {
			t, ok = v, true
		}
	}
	return t, ok
}

// WriteRecord writes the record atomically.
func WriteRecord(dir string, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(RecordPath(dir, r.Name), append(b, '\n'), 0o644)
}

// Unaccounted lists the files of the store at dir that no readable record vouches for: an
// image whose record is missing or broken, or a file someone put there. A weekly verify must
// name them: replacing an image and deleting its record must not make it vanish from the check.
// Hidden files (partial downloads, locks) and records themselves are not listed.
func Unaccounted(dir string) []Problem {
	migrateOnce(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return []Problem{{Name: dir, Err: err}}
	}
	var out []Problem
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() || strings.HasSuffix(name, RecordSuffix) {
			continue
		}
		if base, ok := strings.CutSuffix(name, legacySuffix); ok {
			if _, isRecord := legacyRecord(dir, base); isRecord {
				continue
			}
		}
		if _, err := ReadRecord(dir, name); err != nil {
			if errs.KindOf(err) == errs.NotFound {
				err = errs.New(errs.Verify, "%s is in the store without a record: it cannot be verified", name)
			} else {
				err = &errs.Error{Kind: errs.Verify, Msg: fmt.Sprintf("%s cannot be verified: %v", name, err), Err: err}
			}
			out = append(out, Problem{Name: name, Err: err})
		}
	}
	return out
}

// Problem is a file of the store that cannot be verified, and why.
type Problem struct {
	Name string
	Err  error
}
