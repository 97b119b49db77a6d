package iso

import (
	"golang.org/x/sys/unix"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/units"
)

// DefaultMaxBytes caps an image whose catalogue entry or command line says nothing: above any
// install DVD or cloud image, far below a length that only a broken or hostile server sends.
const DefaultMaxBytes = 64 << 30

// maxReserve is the most a download leaves free on the store's file system (2 % of it when
// that is less), so that a pull never fills the disk that VMs write to.
const maxReserve = 1 << 30

// roomFor is how many bytes a download of total bytes (-1 when unknown), offset of them already
// here, may write into dir: what it announces when that fits under maxBytes and the free space,
// else an error before anything is written; with no length, what fits.
func roomFor(dir, url string, total, offset, maxBytes int64) (int64, error) {
	if total > maxBytes {
		return 0, errs.New(errs.Failure, "%s: the server announces %s, over the %s cap; nothing downloaded", url, units.Human(uint64(total)), units.Human(uint64(maxBytes))).
			WithHint("raise the cap with --max-size if the image really is that large")
	}
	free, err := freeBytes(dir)
	if err != nil {
		return 0, err
	}
	if total >= 0 {
		if need := total - offset; need > free {
			return 0, errs.New(errs.Failure, "%s needs %s, but only %s is free for %s (keeping a reserve); nothing downloaded", url, units.Human(uint64(need)), units.Human(uint64(max(free, 0))), dir)
		}
		return total - offset, nil
	}
	room := min(maxBytes-offset, free)
	if room <= 0 {
		return 0, errs.New(errs.Failure, "%s: no room left for %s; nothing downloaded", dir, url)
	}
	return room, nil
}

// roomReason says why a download of unknown length stopped at limit bytes.
func roomReason(maxBytes, limit int64) string {
	if limit >= maxBytes {
		return "the size cap is " + units.Human(uint64(maxBytes)) + " (--max-size)"
	}
	return "the file system would be full"
}

// freeBytes is the space an unprivileged writer may use in dir, less the reserve.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	avail := int64(st.Bavail) * st.Bsize
	reserve := min(int64(st.Blocks)*st.Bsize/50, maxReserve)
	return avail - reserve, nil
}
