package iso

import (
	"bytes"
	"io"
	"os"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// Inspection is what `isoctl inspect` tells of an image file (pkg/model holds the contract).
type Inspection = model.ImageInspection

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
