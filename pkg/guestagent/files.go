package guestagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// FileCommands are what cp needs of the agent: the file calls, and guest-exec for the shell
// helpers (stat, the private temporary file, its size check, chmod and the rename).
var (
	ReadCommands  = []string{"guest-file-open", "guest-file-read", "guest-file-close", "guest-exec", "guest-exec-status"}
	WriteCommands = []string{"guest-file-open", "guest-file-write", "guest-file-close", "guest-exec", "guest-exec-status"}
)

// cleanupWait bounds the removal of a partial file after a failure or an interrupt.
const cleanupWait = 10 * time.Second

// sh runs a helper script and turns a failure of its own into an error with its stderr.
func (c *Client) sh(ctx context.Context, what, script string, args ...string) (ExecStatus, error) {
	st, err := c.Sh(ctx, script, args...)
	if err != nil {
		return st, errs.Wrap(err, "%s", what)
	}
	return st, nil
}

// StatFile reads the size and permission bits of the regular file at path in the guest. A
// missing file is exit 3; a directory or anything but a regular file is refused.
func (c *Client) StatFile(ctx context.Context, p string) (int64, fs.FileMode, error) {
	const script = `[ -e "$1" ] || exit 3
[ -d "$1" ] && exit 4
[ -f "$1" ] || exit 5
stat -L -c '%s %a' "$1"`
	st, err := c.sh(ctx, "stat "+p, script, p)
	if err != nil {
		return 0, 0, err
	}
	switch st.ExitStatus() {
	case 0:
	case 3:
		return 0, 0, errs.New(errs.NotFound, "%s:%s: no such file in the guest", c.VM, p)
	case 4:
		return 0, 0, errs.New(errs.Usage, "%s:%s is a directory; vmctl cp copies one file", c.VM, p).
			WithHint("pack it first: vmctl exec %s -- tar -C DIR -czf /tmp/x.tgz . ; then copy /tmp/x.tgz", c.VM)
	case 5:
		return 0, 0, errs.New(errs.Usage, "%s:%s is not a regular file", c.VM, p)
	default:
		return 0, 0, errs.New(errs.Failure, "stat %s in the guest: exit %d: %s", p, st.ExitStatus(), strings.TrimSpace(string(st.Stderr)))
	}
	return parseStat(string(st.Stdout))
}

// parseStat reads "SIZE OCTAL-MODE" as stat -c '%s %a' prints it.
func parseStat(out string) (int64, fs.FileMode, error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("stat in the guest printed %q", out)
	}
	size, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || size < 0 {
		return 0, 0, fmt.Errorf("stat in the guest printed size %q", f[0])
	}
	mode, err := strconv.ParseUint(f[1], 8, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("stat in the guest printed mode %q", f[1])
	}
	return size, fs.FileMode(mode) & fs.ModePerm, nil
}

// ReadFile copies the guest file p to w in ReadChunk-sized reads, calling progress with the
// bytes done so far. want is its size from StatFile: a file that changes size meanwhile is an
// error rather than a copy of something that never existed.
func (c *Client) ReadFile(ctx context.Context, p string, w io.Writer, want int64, progress func(int64)) (err error) {
	h, err := c.Open(ctx, p, "r")
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWait)
		defer cancel()
		if cerr := c.CloseFile(cctx, h); err == nil {
			err = cerr
		}
	}()
	var done int64
	for {
		r, err := c.Read(ctx, h, ReadChunk)
		if err != nil {
			return err
		}
		if _, err := w.Write(r.Data); err != nil {
			return err
		}
		done += int64(len(r.Data))
		progress(done)
		if done > want {
			break
		}
		if r.EOF || len(r.Data) == 0 {
			break
		}
	}
	if done != want {
		return errs.New(errs.Failure, "%s:%s changed while it was copied (%d bytes read, %d expected)", c.VM, p, done, want)
	}
	return nil
}

// Target is where a copy into the guest goes, found by ResolveTarget.
type Target struct {
	Path   string
	Exists bool
}

// ResolveTarget finds the guest path a file named base goes to when copied to dst: dst
// itself, or dst/base when dst is a directory (or ends in '/'). Its directory must exist.
func (c *Client) ResolveTarget(ctx context.Context, dst, base string) (Target, error) {
	const script = `if [ -d "$1" ]; then echo dir
elif [ -e "$1" ] || [ -L "$1" ]; then echo exists
elif [ -d "$(dirname "$1")" ]; then echo none
else echo noparent; fi`
	for joined := false; ; joined = true {
		st, err := c.sh(ctx, "look at "+dst, script, dst)
		if err != nil {
			return Target{}, err
		}
		if st.ExitStatus() != 0 {
			return Target{}, errs.New(errs.Failure, "look at %s in the guest: exit %d: %s", dst, st.ExitStatus(), strings.TrimSpace(string(st.Stderr)))
		}
		switch kind := strings.TrimSpace(string(st.Stdout)); {
		case kind == "dir" && !joined:
			dst = path.Join(dst, base)
		case kind == "dir":
			return Target{}, errs.New(errs.Conflict, "%s:%s is a directory", c.VM, dst)
		case strings.HasSuffix(dst, "/"):
			return Target{}, errs.New(errs.NotFound, "%s:%s: no such directory in the guest", c.VM, dst)
		case kind == "exists":
			return Target{Path: dst, Exists: true}, nil
		case kind == "none":
			return Target{Path: dst}, nil
		case kind == "noparent":
			return Target{}, errs.New(errs.NotFound, "%s:%s: no such directory in the guest", c.VM, path.Dir(dst))
		default:
			return Target{}, errs.New(errs.Failure, "look at %s in the guest: unexpected %q", dst, kind)
		}
	}
}

// WriteFile copies size bytes from r to the guest file dst with mode: into a private temporary
// file beside it (created 0600 by the guest's shell, so a secret is never readable on the
// way), size-checked, given mode, then renamed over dst. On any failure, the interrupt
// included, the temporary file is removed and dst is untouched.
func (c *Client) WriteFile(ctx context.Context, r io.Reader, size int64, dst string, mode fs.FileMode, progress func(int64)) (err error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(dst), "."+path.Base(dst)+".hvctl-"+hex.EncodeToString(rnd[:])+".part")
	if st, err := c.sh(ctx, "create "+tmp, `umask 077 && : >"$1"`, tmp); err != nil {
		return err
	} else if st.ExitStatus() != 0 {
		return errs.New(errs.Failure, "create %s in the guest: %s", tmp, strings.TrimSpace(string(st.Stderr)))
	}
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWait)
		defer cancel()
		if st, rerr := c.Sh(cctx, `rm -f "$1"`, tmp); rerr != nil || st.ExitStatus() != 0 {
			err = errors.Join(err, fmt.Errorf("the partial file %s:%s could not be removed: %v", c.VM, tmp, rerr))
		}
	}()
	h, err := c.Open(ctx, tmp, "w")
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWait)
			defer cancel()
			_ = c.CloseFile(cctx, h)
		}
	}()
	buf := make([]byte, WriteChunk)
	var done int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := c.Write(ctx, h, buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			progress(done)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	closed = true
	if err := c.CloseFile(ctx, h); err != nil {
		return err
	}
	if done != size {
		return errs.New(errs.Failure, "the source changed while it was copied (%d bytes read, %d expected)", done, size)
	}
	const finish = `n=$(wc -c <"$1") || exit 1
[ "$n" -eq "$3" ] || { echo "the guest holds $n bytes" >&2; exit 1; }
chmod "$4" "$1" && mv -f "$1" "$2"`
	st, err := c.sh(ctx, "finish "+dst, finish, tmp, dst, strconv.FormatInt(size, 10), fmt.Sprintf("%o", mode&fs.ModePerm))
	if err != nil {
		return err
	}
	if st.ExitStatus() != 0 {
		return errs.New(errs.Failure, "finish %s:%s: %s", c.VM, dst, strings.TrimSpace(string(st.Stderr)))
	}
	return nil
}
