// Package qcow2 reads what libvirt does not tell of a qcow2 file: its internal snapshot table.
package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Snapshot is one entry of a qcow2 snapshot table.
type Snapshot struct {
	ID, Name    string
	Date        time.Time
	VMStateSize uint64 // bytes of saved guest state (memory); 0 for a disk-only snapshot
}

// Snapshots reads the internal snapshot table of the qcow2 file at path (the header's
// snapshots_offset and nb_snapshots, then each entry as the qcow2 specification lays it out).
func Snapshots(path string) ([]Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdr := make([]byte, 72)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:4]) != "QFI\xfb" {
		return nil, errors.New("not a qcow2 file")
	}
	be := binary.BigEndian
	n := be.Uint32(hdr[60:64])
	off := int64(be.Uint64(hdr[64:72]))
	if n > 65536 {
		return nil, fmt.Errorf("implausible snapshot count %d", n)
	}
	out := make([]Snapshot, 0, n)
	for i := uint32(0); i < n; i++ {
		fixed := make([]byte, 40)
		if _, err := f.ReadAt(fixed, off); err != nil {
			return nil, err
		}
		idLen := int64(be.Uint16(fixed[12:14]))
		nameLen := int64(be.Uint16(fixed[14:16]))
		s := Snapshot{Date: time.Unix(int64(be.Uint32(fixed[16:20])), int64(be.Uint32(fixed[20:24]))).UTC()}
		s.VMStateSize = uint64(be.Uint32(fixed[32:36]))
		extra := int64(be.Uint32(fixed[36:40]))
		pos := off + 40
		if extra >= 8 {
			large := make([]byte, 8)
			if _, err := f.ReadAt(large, pos); err != nil {
				return nil, err
			}
			s.VMStateSize = be.Uint64(large)
		}
		pos += extra
		strs := make([]byte, idLen+nameLen)
		if _, err := f.ReadAt(strs, pos); err != nil {
			return nil, err
		}
		s.ID, s.Name = string(strs[:idLen]), string(strs[idLen:])
		pos += idLen + nameLen
		off = (pos + 7) &^ 7 // entries are 8-byte aligned
		out = append(out, s)
	}
	return out, nil
}
