package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files a profile names are confined: install_iso and base_image are names in the ISO and image
// stores, cloud_init.user_data a name next to the profile that sets it. A relative path could
// climb out (install_iso = "../../../../etc/shadow" attached /etc/shadow as a CD-ROM), so
// anything but a plain name must be an absolute path, which says on purpose where it points;
// one outside the stores is allowed and reported as a warning by validate.

// plainName says whether ref names a file inside a directory: no separator, not . or ..
func plainName(ref string) bool {
	return ref != "" && ref != "." && ref != ".." && !strings.ContainsRune(ref, '/')
}

// InStore resolves ref in dir: a plain name joins dir, an absolute path stays as it is
// (cleaned), anything else is an error.
func InStore(dir, ref string) (string, error) {
	switch {
	case filepath.IsAbs(ref):
		return filepath.Clean(ref), nil
	case plainName(ref):
		return filepath.Join(dir, ref), nil
	}
	return "", fmt.Errorf("%q is neither a name in %s nor an absolute path", ref, dir)
}

// inside says whether path lies in dir.
func inside(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkPaths reports file references that are neither plain names nor absolute paths (errors),
// and absolute ones outside their store (warnings); it makes user_data absolute, next to the
// profile that sets it.
func (p *Profile) checkPaths(d *document, inv, warn *Invalid, o Options) {
	ref := func(key, val, store, what string) {
		switch {
		case val == "":
		case filepath.IsAbs(val):
			if store != "" && !inside(val, store) {
				d.issue(warn, key, "%s is outside the %s (%s): make sure it is meant", val, what, store)
			}
		case !plainName(val):
			d.issue(inv, key, "%q: give a file name in the %s or an absolute path; a relative path could leave it", val, what)
		}
	}
	ref("install_iso", p.InstallISO, o.ISODir, "ISO store")
	ref("disk.base_image", p.Disk.BaseImage, o.ImageDir, "image store")
	for i, x := range p.ExtraDisks {
		ref(fmt.Sprintf("extra_disks[%d].base_image", i), x.BaseImage, o.ImageDir, "image store")
	}
	if c := p.CloudInit; c != nil && c.UserData != "" {
		pos, _ := lookup(d.pos, "cloud_init.user_data")
		dir := o.Dir
		if pos.File != "" {
			dir = filepath.Dir(pos.File)
		}
		ref("cloud_init.user_data", c.UserData, dir, "profile's directory")
		if plainName(c.UserData) {
			c.UserData = filepath.Join(dir, c.UserData)
		}
	}
	if c := p.CloudInit; c != nil && c.PasswordHash != "" {
		pos, _ := lookup(d.pos, "cloud_init.password_hash")
		if pos.File != "" {
			if st, err := os.Stat(pos.File); err == nil && st.Mode().Perm()&0o077 != 0 {
				d.issue(warn, "cloud_init.password_hash", "%s is readable by others (mode %04o) and holds a password hash: chmod 600 it", pos.File, st.Mode().Perm())
			}
		}
	}
}
