package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotQcow2 says a file is not a qcow2 image (so it has no backing file of its own).
var ErrNotQcow2 = errors.New("not a qcow2 file")

// maxBackingName is the qcow2 specification's limit on the backing file name (1023 bytes).
const maxBackingName = 1023

// BackingFile reads the backing file name from the qcow2 header of the file at path: "" when
// it has none, ErrNotQcow2 when the file is not qcow2 at all. A relative name is returned
// resolved against the image's directory, as QEMU resolves it; a protocol name (nbd:, json:)
// is returned as written.
func BackingFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return backingFile(f, path)
}

func backingFile(r io.ReaderAt, path string) (string, error) {
	hdr := make([]byte, 20)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return "", ErrNotQcow2
		}
		return "", err
	}
	if string(hdr[:4]) != "QFI\xfb" {
		return "", ErrNotQcow2
	}
	be := binary.BigEndian
	off := be.Uint64(hdr[8:16])
	size := be.Uint32(hdr[16:20])
	if off == 0 || size == 0 {
		return "", nil
	}
	if size > maxBackingName || off > 1<<40 {
		return "", fmt.Errorf("%s: implausible backing file name (%d bytes at %d)", path, size, off)
	}
	name := make([]byte, size)
	if _, err := r.ReadAt(name, int64(off)); err != nil {
		return "", fmt.Errorf("%s: backing file name: %w", path, err)
	}
	s := string(name)
	if filepath.IsAbs(s) || isProtocol(s) {
		return s, nil
	}
	return filepath.Join(filepath.Dir(path), s), nil
}

// isProtocol says whether a backing name is a QEMU protocol ("nbd://…", "json:{…}"): a word
// of letters, digits, '+', '-' or '.' before the first colon, as QEMU reads it.
func isProtocol(s string) bool {
	word, _, found := strings.Cut(s, ":")
	if !found || word == "" || strings.Contains(word, "/") {
		return false
	}
	return strings.IndexFunc(word, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) < 0
}
