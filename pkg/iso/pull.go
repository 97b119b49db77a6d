package iso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/units"
)

// Record is the provenance of a stored image, kept beside it as NAME.record.json; its JSON is
// part of the public contract (pkg/model).
type Record = model.ImageRecord

// PullOptions describe one download into the store.
type PullOptions struct {
	URL         string
	Name        string  // file name in the store; default: the URL's last path element
	Catalog     string  // recorded: the catalogue entry pulled, so profiles can name it
	Expect      *Digest // the digest the file must have
	ChecksumURL string  // recorded when Expect came from a checksum file
	Signature   string  // recorded: where the checksums' signature came from
	Signer      string  // recorded: the pinned key that signed them
	Insecure    bool    // store without a digest (the record says so)
	Dir         string
	Client      *http.Client
	Stall       time.Duration // a transfer silent this long fails (default 60 s)
	MaxBytes    int64         // a larger image is refused before or while it arrives (default DefaultMaxBytes)
	Progress    func(done, total int64)
	// VerifyFile checks the downloaded file once more before it is published (a signature
	// over the image itself) and returns the signer; a failure stores nothing.
	VerifyFile func(path string) (signer string, err error)
	Now        func() time.Time
}

var imageNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`) })

// ValidImageName says whether name may be a stored image's file name: the name rule, and not
// a record's name (records share the store's directory and pool).
func ValidImageName(name string) bool {
	return imageNameRE().MatchString(name) && !strings.HasSuffix(name, RecordSuffix)
}

// NameFromURL is the file name a URL is stored under.
func NameFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return "", errs.New(errs.Usage, "%q is not an http(s) URL", raw)
	}
	name := path.Base(u.Path)
	if !ValidImageName(name) {
		return "", errs.New(errs.Usage, "cannot name the image after %q; give --name", raw)
	}
	return name, nil
}

func (o *PullOptions) defaults() error {
	if o.Name == "" {
		n, err := NameFromURL(o.URL)
		if err != nil {
			return err
		}
		o.Name = n
	}
	if !ValidImageName(o.Name) {
		return errs.New(errs.Usage, "invalid image name %q", o.Name)
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Stall == 0 {
		o.Stall = 60 * time.Second
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Expect == nil && !o.Insecure {
		return errs.New(errs.Usage, "no checksum to verify %s against", o.Name).
			WithHint("give --sha256 or --checksum-url (or --insecure to store it unverified, marked so forever)")
	}
	return nil
}

// partialState is what a resumed download needs to know, kept as .NAME.partial.json.
type partialState struct {
	URL       string `json:"url"`
	Validator string `json:"validator"` // ETag or Last-Modified of the first response
}

// Pull downloads into the store and publishes only a verified file: download to a hidden
// partial file (resumed when the server allows), hash while writing, compare, fsync, rename,
// then write the record. Concurrent pulls of one name wait on a lock and reuse the result.
func Pull(ctx context.Context, o PullOptions) (*Record, bool, error) {
	if err := o.defaults(); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(o.Dir, 0o711); err != nil {
		return nil, false, err
	}
	unlock, err := lock(ctx, filepath.Join(o.Dir, "."+o.Name+".lock"))
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	final := filepath.Join(o.Dir, o.Name)
	if rec, err := ReadRecord(o.Dir, o.Name); err == nil {
		if o.Expect == nil || o.Expect.Algo == "sha256" && rec.SHA256 == o.Expect.Hex || rec.UpstreamDigest == o.Expect.String() {
			return rec, false, nil // already here (another pull finished it)
		}
		return nil, false, errs.New(errs.Conflict, "image %s is stored with a different checksum", o.Name).WithHint("remove it first with: isoctl rm %s", o.Name)
	}
	if _, err := os.Lstat(final); err == nil {
		// Never rename over a file the store does not account for: it may be someone's data.
		return nil, false, errs.New(errs.Conflict, "%s is in the store without a record", final).
			WithHint("move it away, or import it with: isoctl import %s", final)
	}
	partial := filepath.Join(o.Dir, "."+o.Name+".partial")
	stateFile := partial + ".json"

	var st partialState
	offset := int64(0)
	if b, err := readCapped(stateFile, MaxRecordBytes); err == nil && json.Unmarshal(b, &st) == nil && st.URL == o.URL && st.Validator != "" {
		if fi, err := os.Stat(partial); err == nil {
			offset = fi.Size()
		}
	}
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, o.URL, nil)
	if err != nil {
		return nil, false, errs.New(errs.Usage, "%w", err)
	}
	// The bytes as published: Go would otherwise ask for gzip and inflate it unbounded.
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		req.Header.Set("If-Range", st.Validator)
	}
	guard := newWatchdog(o.Stall, cancel)
	resp, err := o.Client.Do(req)
	guard.pause()
	if err != nil {
		if guard.stalled() {
			return nil, false, errs.New(errs.Timeout, "%s: no response for %s", o.URL, o.Stall)
		}
		return nil, false, downloadError(ctx, o.URL, err, offset > 0)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
	case resp.StatusCode == http.StatusOK:
		offset = 0 // a fresh start: the server ignored Range, or the file changed
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, errs.New(errs.NotFound, "%s: 404 not found", o.URL)
	default:
		return nil, false, errs.New(errs.Failure, "%s: %s", o.URL, resp.Status)
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return nil, false, errs.New(errs.Failure, "%s: the server sent it %s-encoded although asked for the bytes as they are", o.URL, enc)
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	// Refuse what cannot fit before writing a byte, and bound what has no length.
	room, err := roomFor(o.Dir, o.URL, total, offset, o.MaxBytes)
	if err != nil {
		if total > o.MaxBytes || offset == 0 {
			// Over the cap it can never finish; a fresh start leaves nothing worth keeping.
			removePartial(partial)
		} else {
			var e *errs.Error
			if errors.As(err, &e) {
				e.Msg = strings.TrimSuffix(e.Msg, "; nothing downloaded") + fmt.Sprintf("; the %d bytes already here are kept", offset)
				e.Hint = "make room, then run the same pull again to resume"
			}
		}
		return nil, false, err
	}
	st = partialState{URL: o.URL, Validator: resp.Header.Get("ETag")}
	if st.Validator == "" {
		st.Validator = resp.Header.Get("Last-Modified")
	}
	// A resume needs a validator for If-Range and a server that has not ruled out ranges.
	resumable := st.Validator != "" && resp.Header.Get("Accept-Ranges") != "none"
	if b, err := json.Marshal(st); err == nil && resumable {
		_ = os.WriteFile(stateFile, b, 0o600)
	}

	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if offset > 0 {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(partial, flags, 0o644)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	// fail ends a failed download: the partial file stays only when a pull run again can
	// resume it, so that a failure never leaves unusable gigabytes behind.
	fail := func(err error, keep bool) (*Record, bool, error) {
		f.Close()
		if !keep || !resumable {
			removePartial(partial)
		}
		return nil, false, err
	}
	sum256 := sha256.New()
	hashes := []hash.Hash{sum256}
	var expectHash hash.Hash
	if o.Expect != nil && o.Expect.Algo != "sha256" {
		expectHash = o.Expect.NewHash()
		hashes = append(hashes, expectHash)
	}
	if offset > 0 {
		// The bytes already there count too.
		if err := hashFile(partial, offset, hashes); err != nil {
			return fail(err, false)
		}
	}
	var hw []io.Writer
	for _, h := range hashes {
		hw = append(hw, h)
	}
	guard.r = io.LimitReader(resp.Body, room+1)
	n, rerr := pipeCopy(f, offset, guard, io.MultiWriter(hw...), func(n int64) {
		if o.Progress != nil {
			o.Progress(offset+n, total)
		}
	})
	done := offset + n
	switch {
	case n > room:
		return fail(errs.New(errs.Failure, "%s: more than %s arrived: %s; nothing kept", o.URL, units.Human(uint64(room)), roomReason(o.MaxBytes, offset+room)), false)
	case errors.Is(rerr, syscall.ENOSPC):
		return fail(errs.New(errs.Failure, "%s: the file system of %s is full; nothing kept", o.URL, o.Dir), false)
	case rerr != nil && guard.stalled():
		e := errs.New(errs.Timeout, "%s: no data for %s", o.URL, o.Stall)
		if resumable {
			e.Msg += fmt.Sprintf(" (%d bytes kept for a resume)", done)
			e = e.WithHint("run the same pull again to resume")
		}
		return fail(e, true)
	case rerr != nil:
		return fail(downloadError(ctx, o.URL, rerr, resumable), true)
	case total >= 0 && done != total:
		e := errs.New(errs.Failure, "%s: got %d of %d bytes", o.URL, done, total)
		if resumable {
			e.Msg += " (kept for a resume)"
			e = e.WithHint("run the same pull again to resume")
		}
		return fail(e, true)
	}
	got256 := hex.EncodeToString(sum256.Sum(nil))
	rec := &Record{Name: o.Name, Catalog: o.Catalog, SourceURL: RedactURL(o.URL), FinalURL: RedactURL(resp.Request.URL.String()), SizeBytes: done, SHA256: got256,
		ChecksumURL: RedactURL(o.ChecksumURL), SignatureURL: RedactURL(o.Signature), Signer: o.Signer, FetchedAt: o.Now().UTC().Format(time.RFC3339), FetchedBy: whoami()}
	if o.Expect != nil {
		got := got256
		if expectHash != nil {
			got = hex.EncodeToString(expectHash.Sum(nil))
		}
		if got != o.Expect.Hex {
			f.Close()
			_ = os.Remove(partial)
			_ = os.Remove(stateFile)
			return nil, false, (&errs.Error{Kind: errs.Verify, Msg: fmt.Sprintf("%s: %s mismatch: expected %s, got %s; nothing stored", o.Name, o.Expect.Algo, o.Expect.Hex, got)}).
				WithHint("the download is corrupt or the checksum is for another file")
		}
		rec.UpstreamDigest, rec.Verified, rec.VerifiedAt = o.Expect.String(), true, rec.FetchedAt
	} else {
		rec.Insecure = true
	}
	if o.VerifyFile != nil {
		signer, err := o.VerifyFile(partial)
		if err != nil {
			f.Close()
			_ = os.Remove(partial)
			_ = os.Remove(stateFile)
			return nil, false, errs.Wrap(err, "%s: nothing stored", o.Name)
		}
		rec.Signer = signer
	}
	if err := f.Sync(); err != nil {
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	if err := os.Rename(partial, final); err != nil {
		return nil, false, err
	}
	_ = os.Remove(stateFile)
	if err := WriteRecord(o.Dir, rec); err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

func downloadError(ctx context.Context, u string, err error, resumable bool) error {
	if ctx.Err() != nil {
		msg := fmt.Sprintf("%s: %v", u, ctx.Err())
		if resumable {
			msg += " (partial download kept for a resume)"
		}
		return &errs.Error{Kind: errs.KindOf(ctx.Err()), Msg: msg, Err: ctx.Err()}
	}
	e := &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("%s: %v", u, err), Err: err}
	if resumable {
		return e.WithHint("run the same pull again to resume")
	}
	return e
}

// removePartial removes a partial download and its resume state.
func removePartial(partial string) {
	_ = os.Remove(partial)
	_ = os.Remove(partial + ".json")
}

func hashFile(p string, n int64, hs []hash.Hash) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	ws := make([]io.Writer, len(hs))
	for i, h := range hs {
		ws[i] = h
	}
	_, err = io.CopyN(io.MultiWriter(ws...), f, n)
	return err
}

// watchdog cancels a request when the server is silent for stall: before the response
// headers arrive and then between reads of the body.
type watchdog struct {
	r      io.Reader
	stall  time.Duration
	cancel context.CancelFunc
	timer  *time.Timer
	fired  atomic.Bool
}

// newWatchdog starts timing at once (the wait for the response counts).
func newWatchdog(stall time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{stall: stall, cancel: cancel}
	w.timer = time.AfterFunc(stall, func() { w.fired.Store(true); w.cancel() })
	return w
}

func (w *watchdog) pause() { w.timer.Stop() }

func (w *watchdog) Read(p []byte) (int, error) {
	w.timer.Reset(w.stall)
	n, err := w.r.Read(p)
	w.timer.Stop()
	return n, err
}

func (w *watchdog) stalled() bool { return w.fired.Load() }

// lock takes an exclusive lock on path, waiting (interruptibly) while another pull holds it.
func lock(ctx context.Context, p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, &errs.Error{Kind: errs.KindOf(ctx.Err()), Msg: "waiting for another pull of the same image: " + ctx.Err().Error()}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func whoami() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// NewestOf is the newest record pulled as catalogue entry ref, in version order of names.
func NewestOf(recs []Record, ref string) (Record, bool) {
	var best Record
	for _, r := range recs {
		if r.Catalog == ref && (best.Name == "" || VersionLess(best.Name, r.Name)) {
			best = r
		}
	}
	return best, best.Name != ""
}

// Verify re-hashes a stored image against its record.
func Verify(dir, name string) (*Record, error) {
	r, err := ReadRecord(dir, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := hashReader(f, h); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 {
		return r, errs.New(errs.Verify, "%s: sha256 is %s, the record says %s: the file changed at rest", name, got, r.SHA256)
	}
	return r, nil
}

// RedactURL hides the password of a URL's userinfo (https://user:xxxxx@host/…) before it goes
// into a record: records are readable by everyone (QEMU's user reads the store) and list,
// show and --json print them. A trailing note (" (clearsigned)") is kept as it is.
func RedactURL(s string) string {
	head, note, _ := strings.Cut(s, " ")
	u, err := url.Parse(head)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	if note != "" {
		return u.Redacted() + " " + note
	}
	return u.Redacted()
}
