// Package seed builds cloud-init NoCloud seeds: an ISO 9660 image labelled "cidata" holding
// user-data, meta-data and, if given, network-config, written in Go (no genisoimage at run time).
package seed

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/hyper-nixos/hvctl/pkg/profile"
)

// Label is the volume label NoCloud looks for.
const Label = "cidata"

// Seed is the content of a NoCloud seed.
type Seed struct {
	UserData      []byte
	MetaData      []byte
	NetworkConfig []byte
}

// FromProfile makes the seed a profile asks for: its files, or a cloud-config from its fields.
// instanceID changes when the seed must be taken as new (a clone).
func FromProfile(p *profile.Profile, instanceID string) (Seed, error) {
	c := p.CloudInit
	if c == nil {
		return Seed{}, fmt.Errorf("profile %s has no cloud_init", p.Name)
	}
	var s Seed
	read := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cloud_init: %w", err)
		}
		return b, nil
	}
	var err error
	if c.UserData != "" {
		if s.UserData, err = read(c.UserData); err != nil {
			return s, err
		}
	} else {
		// cloud-config is YAML, and JSON is YAML: encoding/json writes it without a YAML library.
		cfg := map[string]any{}
		if c.User != "" {
			u := map[string]any{"name": c.User, "shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL"}
			if len(c.SSHKeys) > 0 {
				u["ssh_authorized_keys"] = c.SSHKeys
			}
			if c.PasswordHash != "" {
				u["passwd"], u["lock_passwd"] = c.PasswordHash, false
			}
			cfg["users"] = []any{"default", u}
		} else if len(c.SSHKeys) > 0 {
			cfg["ssh_authorized_keys"] = c.SSHKeys
		}
		if len(c.Packages) > 0 {
			cfg["packages"] = c.Packages
		}
		if len(c.RunCmd) > 0 {
			cfg["runcmd"] = c.RunCmd
		}
		body, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return s, err
		}
		s.UserData = append([]byte("#cloud-config\n"), body...)
		s.UserData = append(s.UserData, '\n')
	}
	if c.MetaData != "" {
		if s.MetaData, err = read(c.MetaData); err != nil {
			return s, err
		}
	} else {
		host := c.Hostname
		if host == "" {
			host = p.Name
		}
		meta, err := json.MarshalIndent(map[string]string{"instance-id": instanceID, "local-hostname": host}, "", "  ")
		if err != nil {
			return s, err
		}
		s.MetaData = append(meta, '\n')
	}
	if c.NetworkConfig != "" {
		if s.NetworkConfig, err = read(c.NetworkConfig); err != nil {
			return s, err
		}
	}
	return s, nil
}

// ISO writes the seed as an ISO image and returns its bytes. The work happens in a private
// temporary directory that is removed afterwards, so nothing of the seed (it may hold password
// hashes) stays on disk.
func (s Seed) ISO() ([]byte, error) {
	dir, err := os.MkdirTemp("", "hvctl-seed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "seed.iso")
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, err
	}
	// Room for the system area, descriptors, directories (twice, for Joliet) and the files.
	size := int64(1 << 20)
	for _, d := range [][]byte{s.UserData, s.MetaData, s.NetworkConfig} {
		size += (int64(len(d))/2048 + 1) * 2048
	}
	b, err := file.CreateFromPath(img, size)
	if err != nil {
		return nil, err
	}
	fs, err := iso9660.Create(b, 0, 0, 0, work)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{{"user-data", s.UserData}, {"meta-data", s.MetaData}, {"network-config", s.NetworkConfig}}
	for _, f := range files {
		if f.data == nil && f.name == "network-config" {
			continue
		}
		w, err := fs.OpenFile("/"+f.name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	// Rock Ridge and Joliet keep the names as written: NoCloud wants "user-data", not USER_DAT.
	if err := fs.Finalize(iso9660.FinalizeOptions{RockRidge: true, Joliet: true, VolumeIdentifier: Label}); err != nil {
		return nil, fmt.Errorf("seed iso: %w", err)
	}
	_ = b.Close()
	data, err := os.ReadFile(img)
	if err != nil {
		return nil, err
	}
	padLabel(data)
	return bytes.Clone(data), nil
}

// padLabel pads the primary volume identifier with spaces, as ECMA-119 asks (the library pads
// with NULs, which some readers keep as part of the label).
func padLabel(iso []byte) {
	const pvd, from, to = 32768, 40, 72
	if len(iso) < pvd+to || iso[pvd] != 1 || string(iso[pvd+1:pvd+6]) != "CD001" {
		return
	}
	for i := pvd + from; i < pvd+to; i++ {
		if iso[i] == 0 {
			iso[i] = ' '
		}
	}
}

// Parse reads a seed image back (to clone it).
func Parse(iso []byte) (s Seed, err error) {
	// A seed is foreign data (a VM's volume): its extents are checked against its length
	// before go-diskfs trusts them (it allocates whatever size a descriptor claims).
	if err := checkExtents(iso); err != nil {
		return Seed{}, fmt.Errorf("seed iso: %w", err)
	}
	// go-diskfs panics on some malformed images (slice bounds in parseJolietPathTable): a
	// seed is foreign data, so a panic in reading it is a bad seed, not a crash that would
	// skip the caller's rollback.
	defer func() {
		if r := recover(); r != nil {
			s, err = Seed{}, fmt.Errorf("seed iso is malformed: %v", r)
		}
	}()
	dir, err := os.MkdirTemp("", "hvctl-seed-")
	if err != nil {
		return Seed{}, err
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "seed.iso")
	if err := os.WriteFile(img, iso, 0o600); err != nil {
		return Seed{}, err
	}
	b, err := file.OpenFromPath(img, true)
	if err != nil {
		return Seed{}, err
	}
	defer b.Close()
	fs, err := iso9660.Read(b, int64(len(iso)), 0, 2048)
	if err != nil {
		return Seed{}, fmt.Errorf("seed iso: %w", err)
	}
	read := func(name string) ([]byte, error) {
		f, err := fs.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	if s.UserData, err = read("user-data"); err != nil {
		return s, fmt.Errorf("seed has no user-data: %w", err)
	}
	if s.MetaData, err = read("meta-data"); err != nil {
		return s, fmt.Errorf("seed has no meta-data: %w", err)
	}
	s.NetworkConfig, _ = read("network-config")
	return s, nil
}

// checkExtents refuses an image whose volume descriptors or root directory point past its end:
// go-diskfs allocates a buffer of whatever size they claim (up to 4 GiB) before reading.
func checkExtents(iso []byte) error {
	const sector, first = 2048, 16
	le := binary.LittleEndian
	within := func(what string, loc, size uint32) error {
		if uint64(loc)*sector+uint64(size) > uint64(len(iso)) {
			return fmt.Errorf("%s (sector %d, %d bytes) lies beyond the image's %d bytes", what, loc, size, len(iso))
		}
		return nil
	}
	for i := first; ; i++ {
		vd := iso[min(i*sector, len(iso)):min((i+1)*sector, len(iso))]
		if len(vd) < sector {
			return fmt.Errorf("no volume descriptor terminator")
		}
		switch vd[0] {
		case 255:
			return nil
		case 1, 2: // primary, supplementary (Joliet)
			if err := within("path table", le.Uint32(vd[140:144]), le.Uint32(vd[132:136])); err != nil {
				return err
			}
			root := vd[156 : 156+34]
			loc, size := le.Uint32(root[2:6]), le.Uint32(root[10:14])
			if err := within("root directory", loc, size); err != nil {
				return err
			}
			// The seed's files sit in the root: check each record's extent too.
			dir := iso[uint64(loc)*sector : uint64(loc)*sector+uint64(size)]
			for off := 0; off < len(dir); {
				n := int(dir[off])
				if n == 0 { // records do not cross sectors: skip to the next one
					off = (off/sector + 1) * sector
					continue
				}
				if n < 34 || off+n > len(dir) {
					return fmt.Errorf("directory record at %d is malformed", off)
				}
				if err := within("file", le.Uint32(dir[off+2:off+6]), le.Uint32(dir[off+10:off+14])); err != nil {
					return err
				}
				off += n
			}
		}
		if i > first+64 {
			return fmt.Errorf("too many volume descriptors")
		}
	}
}

// Rename gives the seed a new identity: instance-id and local-hostname. Other meta-data keys
// survive when meta-data is JSON (as hvctl writes it); a YAML meta-data is replaced.
func (s *Seed) Rename(hostname, instanceID string) error {
	meta := map[string]any{}
	_ = json.Unmarshal(s.MetaData, &meta)
	meta["instance-id"] = instanceID
	meta["local-hostname"] = hostname
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	s.MetaData = append(b, '\n')
	return nil
}
