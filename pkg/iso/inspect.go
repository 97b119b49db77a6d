package iso

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Inspection is what `isoctl inspect` tells of an image file.
type Inspection struct {
	File      string `json:"file"`
	SizeBytes int64  `json:"size_bytes"`
	Format    string `json:"format"` // iso9660, qcow2, raw
	VolumeID  string `json:"volume_id"`
	Bootable  bool   `json:"bootable"` // El Torito boot record (ISO) present
	Hybrid    bool   `json:"hybrid"`   // also an MBR-bootable disk image (isohybrid)
	OS        string `json:"os"`       // a guess from the volume id; "" when unknown
}

// Inspect reads the headers of an image file: ISO 9660 volume id and El Torito boot record,
// MBR signature, qcow2 magic. It reads a few sectors, never the whole file.
func Inspect(path string) (*Inspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	in := &Inspection{File: path, SizeBytes: fi.Size(), Format: "raw"}
	head := make([]byte, 512)
	if _, err := io.ReadFull(f, head); err == nil {
		if bytes.Equal(head[:4], []byte("QFI\xfb")) {
			in.Format = "qcow2"
			return in, nil
		}
		in.Hybrid = head[510] == 0x55 && head[511] == 0xaa
	}
	// Volume descriptors start at sector 16 (2048-byte sectors): type, "CD001", ...
	for sector := int64(16); sector < 32; sector++ {
		vd := make([]byte, 2048)
		if _, err := f.ReadAt(vd, sector*2048); err != nil {
			break
		}
		if string(vd[1:6]) != "CD001" {
			break
		}
		switch vd[0] {
		case 1: // primary
			in.Format = "iso9660"
			in.VolumeID = strings.TrimRight(string(vd[40:72]), " \x00")
		case 0: // boot record
			if strings.HasPrefix(string(vd[7:39]), "EL TORITO SPECIFICATION") {
				in.Bootable = true
			}
		case 255: // terminator
			sector = 32
		}
	}
	in.OS = guessOS(in.VolumeID)
	return in, nil
}

var osHints = []struct{ prefix, os string }{
	{"debian", "Debian"}, {"ubuntu", "Ubuntu"}, {"fedora", "Fedora"}, {"rocky", "Rocky Linux"},
	{"almalinux", "AlmaLinux"}, {"centos", "CentOS"}, {"opensuse", "openSUSE"}, {"arch", "Arch Linux"},
	{"nixos", "NixOS"}, {"alpine", "Alpine Linux"}, {"freebsd", "FreeBSD"}, {"kali", "Kali Linux"},
	{"cidata", "cloud-init seed"}, {"win", "Windows"}, {"ccs", "Windows"},
}

func guessOS(volID string) string {
	v := strings.ToLower(volID)
	for _, h := range osHints {
		if strings.HasPrefix(v, h.prefix) {
			return h.os
		}
	}
	return ""
}

func (in *Inspection) String() string {
	return fmt.Sprintf("%s: %s, %d bytes, volume %q, bootable %v", in.File, in.Format, in.SizeBytes, in.VolumeID, in.Bootable)
}
