package iso

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// chunk is one buffer on its way to the file and to the hashes.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

const (
	// chunkSize is large because direct writes of whole 4 MiB chunks are what made a pull
	// cheap here; 2 in flight keep the peak RSS of a pull under 50 MiB.
	chunkSize, chunkDepth = 4 << 20, 2
	directAlign           = 4096 // offsets, lengths and buffers of O_DIRECT writes
)

// pipeCopy copies src to dst while feeding hashes, with reading, writing and hashing in their
// own goroutines so that hashing overlaps the transfer (on a loopback download it would
// otherwise add its whole time to it). progress is called from the reading goroutine.
func pipeCopy(dst *os.File, offset int64, src io.Reader, hash io.Writer, progress func(int64)) (int64, error) {
	// Page-aligned buffers outside the Go heap, as O_DIRECT needs.
	mem, err := unix.Mmap(-1, 0, chunkSize*chunkDepth, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return 0, err
	}
	defer unix.Munmap(mem)
	pool := make(chan *chunk, chunkDepth)
	for i := 0; i < chunkDepth; i++ {
		pool <- &chunk{buf: mem[i*chunkSize : (i+1)*chunkSize]}
	}
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			pool <- c
		}
	}
	toFile, toHash := make(chan *chunk, chunkDepth), make(chan *chunk, chunkDepth)
	var wg sync.WaitGroup
	var writeErr error
	var failed atomic.Bool
	wg.Add(2)
	go func() {
		defer wg.Done()
		w := newFileWriter(dst, offset)
		for c := range toFile {
			if writeErr == nil {
				if writeErr = w.write(c.buf[:c.n]); writeErr != nil {
					failed.Store(true)
				}
			}
			release(c)
		}
	}()
	go func() {
		defer wg.Done()
		for c := range toHash {
			_, _ = hash.Write(c.buf[:c.n])
			release(c)
		}
	}()
	var total int64
	var readErr error
	for eof := false; !eof && !failed.Load(); {
		c := <-pool
		// Fill the chunk (whole chunks are what direct writes need), reporting every read.
		c.n = 0
		for c.n < len(c.buf) {
			n, err := src.Read(c.buf[c.n:])
			c.n += n
			total += int64(n)
			if n > 0 && progress != nil {
				progress(total)
			}
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				readErr, eof = err, true
				break
			}
		}
		if c.n == 0 {
			pool <- c
			continue
		}
		c.refs.Store(2)
		toFile <- c
		toHash <- c
	}
	close(toFile)
	close(toHash)
	wg.Wait()
	if writeErr != nil {
		return total, writeErr
	}
	return total, readErr
}

// fileWriter writes a download with O_DIRECT where the file system allows it. Measured on this
// project's build machine, 1 GiB through the page cache and its fsync cost several times the
// CPU and wall time of direct 4 MiB writes, and a pull must reach the disk before it is
// published anyway. Elsewhere (tmpfs, an unaligned resume) it writes through the page cache
// and starts writeback as the file grows, so that the final fsync has little left to do.
type fileWriter struct {
	f       *os.File
	pos     int64
	flushed int64
	direct  bool
}

func newFileWriter(f *os.File, offset int64) *fileWriter {
	w := &fileWriter{f: f, pos: offset, flushed: offset}
	if offset%directAlign == 0 {
		w.direct = w.setDirect(true) == nil
	}
	return w
}

func (w *fileWriter) setDirect(on bool) error {
	fd := w.f.Fd()
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, fl)
	return err
}

func (w *fileWriter) write(b []byte) error {
	if w.direct && len(b)%directAlign != 0 {
		// The tail is not whole blocks: the page cache takes it.
		if err := w.setDirect(false); err != nil {
			return err
		}
		w.direct = false
	}
	n, err := w.f.Write(b)
	if err != nil && w.direct && errors.Is(err, unix.EINVAL) {
		// Accepted by fcntl but refused at write time by some file systems.
		if err := w.setDirect(false); err != nil {
			return err
		}
		w.direct = false
		var m int
		m, err = w.f.Write(b[n:])
		n += m
	}
	w.pos += int64(n)
	if err != nil {
		return err
	}
	if !w.direct && w.pos-w.flushed >= 64<<20 {
		// Start writeback of what is written; not a barrier, so it costs nothing here.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.flushed, w.pos-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.pos
	}
	return nil
}

// hashReader feeds r to h with the reading in its own goroutine, so that the page-cache copy
// overlaps the hashing (which is the bottleneck: SHA-256 at the CPU's speed).
func hashReader(r io.Reader, h io.Writer) (int64, error) {
	const size, depth = 1 << 20, 4
	full, free := make(chan []byte, depth), make(chan []byte, depth)
	for i := 0; i < depth; i++ {
		free <- make([]byte, size)
	}
	var readErr error
	go func() {
		defer close(full)
		for buf := range free {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				full <- buf[:n]
			}
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					readErr = err
				}
				return
			}
		}
	}()
	var total int64
	for buf := range full {
		_, _ = h.Write(buf)
		total += int64(len(buf))
		free <- buf[:cap(buf)]
	}
	return total, readErr
}
