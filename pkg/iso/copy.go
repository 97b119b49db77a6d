package iso

import (
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

// pipeCopy copies src to dst while feeding hashes, with reading, writing and hashing in their
// own goroutines so that hashing overlaps the transfer (on a loopback download it would
// otherwise add its whole time to it). Writeback is started as the file grows, so the fsync
// at the end has little left to do. progress is called from the reading goroutine.
func pipeCopy(dst *os.File, offset int64, src io.Reader, hash io.Writer, progress func(int64)) (int64, error) {
	// 256 KiB chunks keep a chunk in cache between the reader, the hasher and the writer;
	// measured a few percent faster than 1 MiB on a loopback pull. 8 MiB in flight at most.
	const size, depth = 256 << 10, 32
	pool := make(chan *chunk, depth)
	for i := 0; i < depth; i++ {
		pool <- &chunk{buf: make([]byte, size)}
	}
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			pool <- c
		}
	}
	toFile, toHash := make(chan *chunk, depth), make(chan *chunk, depth)
	var wg sync.WaitGroup
	var writeErr error
	var failed atomic.Bool
	wg.Add(2)
	go func() {
		defer wg.Done()
		fd := int(dst.Fd())
		pos, flushed := offset, offset
		for c := range toFile {
			if writeErr == nil {
				if _, err := dst.Write(c.buf[:c.n]); err != nil {
					writeErr = err
					failed.Store(true)
				}
				pos += int64(c.n)
				if pos-flushed >= 64<<20 {
					// Start writeback of what is written; not a barrier, so it costs nothing here.
					_ = unix.SyncFileRange(fd, flushed, pos-flushed, unix.SYNC_FILE_RANGE_WRITE)
					flushed = pos
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
	for !failed.Load() {
		c := <-pool
		n, err := src.Read(c.buf)
		if n > 0 {
			c.n = n
			c.refs.Store(2)
			toFile <- c
			toHash <- c
			total += int64(n)
			if progress != nil {
				progress(total)
			}
		} else {
			pool <- c
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	close(toFile)
	close(toHash)
	wg.Wait()
	if writeErr != nil {
		return total, writeErr
	}
	return total, readErr
}
