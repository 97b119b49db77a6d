package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// storageHost wraps a storage check that stats host files: skipped on a remote host, an error
// when the pools could not be listed.
func storageHost(check func(inv *Inventory) []Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("storage", notHere(inv)+": its files cannot be read from here")}
		}
		if inv.PoolsErr != nil {
			return []Result{errored("storage", fmt.Errorf("cannot list the storage pools: %w", inv.PoolsErr))}
		}
		return check(inv)
	}
}

// inPool says whether path is under the target directory of one of the host's storage pools.
func inPool(inv *Inventory, path string) bool {
	for _, p := range inv.Pools {
		if p.Target != nil && p.Target.Path != "" && strings.HasPrefix(path, filepath.Clean(p.Target.Path)+"/") {
			return true
		}
	}
	return false
}

// volumePath resolves a type='volume' disk to its file through the pool: a directory pool's
// volume is its target path and the volume's name, a logical pool's the VG's device.
func volumePath(inv *Inventory, v *libvirtxml.DomainDiskSourceVolume) (string, error) {
	for _, p := range inv.Pools {
		if p.Name != v.Pool {
			continue
		}
		switch {
		case p.Target == nil || p.Target.Path == "":
			return "", fmt.Errorf("pool %s has no target path", p.Name)
		case p.Type == "dir" || p.Type == "fs" || p.Type == "netfs" || p.Type == "logical":
			return filepath.Join(p.Target.Path, v.Volume), nil
		}
		return "", fmt.Errorf("pool %s of type %s has no file paths", p.Name, p.Type)
	}
	return "", fmt.Errorf("pool %s does not exist", v.Pool)
}

// diskFile is the host file of a local disk: a file source, or a volume resolved through its pool.
func diskFile(inv *Inventory, disk libvirtxml.DomainDisk) (string, error) {
	switch s := disk.Source; {
	case s == nil:
		return "", nil
	case s.File != nil:
		return s.File.File, nil
	case s.Volume != nil:
		return volumePath(inv, s.Volume)
	}
	return "", nil
}

// qemuGroups are the groups a disk image may be group-writable by: QEMU's own.
func qemuGroups(inv *Inventory) []string {
	groups := []string{"root", "qemu", "libvirt-qemu", "kvm", "disk"}
	if c := inv.QEMUConf; c != nil && c.Err == nil {
		if g, _ := str(c, "group", ""); g != "" {
			groups = append(groups, strings.TrimPrefix(g, "+"))
		}
	}
	return groups
}

// permRule says at which severity a file that holds guest data or secrets fails: written or
// read by others, written or read by a group outside groups, owned by another user than root.
// An empty severity is not judged.
type permRule struct {
	worldWrite, worldRead, groupRead, groupWrite, notRoot Severity // "" = not judged
	groups                                                []string
}

func (rule permRule) judge(inv *Inventory, fi os.FileInfo, what string) (Severity, string) {
	mode := fi.Mode().Perm()
	group := groupName(inv, fi)
	switch {
	case rule.worldWrite != "" && mode&0o002 != 0:
		return rule.worldWrite, fmt.Sprintf("%s is world-writable (%04o)", what, mode)
	case rule.worldRead != "" && mode&0o004 != 0:
		return rule.worldRead, fmt.Sprintf("%s is world-readable (%04o)", what, mode)
	case rule.groupWrite != "" && mode&0o020 != 0 && !slices.Contains(rule.groups, group):
		return rule.groupWrite, fmt.Sprintf("%s is writable by group %s (%04o)", what, group, mode)
	case rule.groupRead != "" && mode&0o040 != 0 && !slices.Contains(rule.groups, group):
		return rule.groupRead, fmt.Sprintf("%s is readable by group %s (%04o)", what, group, mode)
	case rule.notRoot != "" && fileUID(fi) != 0:
		return rule.notRoot, fmt.Sprintf("%s is owned by uid %d, not root", what, fileUID(fi))
	}
	return "", fmt.Sprintf("%04o, group %s", mode, group)
}

var storageControls = []Control{
	{ID: "STOR-001", Group: "storage", Severity: High, Title: "Image directory permissions",
		Description: "A pool directory others can write lets them replace images; one others can read lets them list (and, with loose image modes, read) every guest's disks.",
		HowChecked:  "stat of each dir, fs and netfs pool's target path (the real mode, whatever the pool XML's <permissions> says).",
		Remediation: "chmod 0711 (or 0750 root:GROUP) the pool directory, and set <permissions><mode>0711</mode></permissions> in the pool.",
		Check: storageHost(func(inv *Inventory) []Result {
			var out []Result
			for _, p := range inv.Pools {
				if p.Target == nil || p.Target.Path == "" || p.Type != "dir" && p.Type != "fs" && p.Type != "netfs" {
					continue
				}
				dir := p.Target.Path
				fi, err := os.Stat(inv.Path(dir))
				if errorsIsNotExist(err) {
					out = append(out, skipped(dir, "pool "+p.Name+"'s directory does not exist (pool not built)"))
					continue
				}
				if err != nil {
					out = append(out, errored(dir, err))
					continue
				}
				loc := &model.FindingLocation{Path: dir, Device: "pool " + p.Name}
				switch mode := fi.Mode().Perm(); {
				case mode&0o002 != 0:
					out = append(out, fail(dir, "pool %s's directory is world-writable (%04o)", p.Name, mode).at(loc).fix("chmod o-w %s (0711 or 0750 suits a pool).", dir))
				case mode&0o004 != 0:
					out = append(out, fail(dir, "pool %s's directory is world-readable (%04o): anyone can list the images", p.Name, mode).sev(Medium).at(loc).fix("chmod o-r %s (0711 or 0750 suits a pool).", dir))
				default:
					out = append(out, pass(dir, "pool %s's directory is %04o, group %s", p.Name, mode, groupName(inv, fi)))
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no directory pools")}
			}
			return out
		})},
	{ID: "STOR-002", Group: "storage", Severity: Critical, Title: "Disk image file permissions",
		Description: "A guest disk others can write lets them change the guest; one others can read gives them its data; one writable by a group other than QEMU's gives that group both.",
		HowChecked:  "stat of every writable disk's file: file sources, and volume sources resolved through their pool's target path.",
		Remediation: "chmod 0600 the image (libvirt's dynamic_ownership gives it to QEMU while the VM runs).",
		Check: storageHost(func(inv *Inventory) []Result {
			rule := permRule{worldWrite: Critical, worldRead: High, groupWrite: Medium, groups: qemuGroups(inv)}
			var out []Result
			seen := map[string]bool{}
			for _, d := range inv.Domains {
				if r, ok := unreadable(d); ok {
					out = append(out, r)
					continue
				}
				for _, disk := range devices(d.Def).Disks {
					if disk.ReadOnly != nil || disk.Device == "cdrom" {
						continue
					}
					path, err := diskFile(inv, disk)
					if err != nil {
						out = append(out, errored(d.Name, fmt.Errorf("%s: %w", diskName(disk), err)).at(&model.FindingLocation{VM: d.Name, Device: diskName(disk), Path: diskPath(disk)}))
						continue
					}
					if path == "" || seen[path] {
						continue
					}
					seen[path] = true
					fi, err := os.Stat(inv.Path(path))
					loc := &model.FindingLocation{VM: d.Name, Device: diskName(disk), Path: path}
					if errorsIsNotExist(err) {
						continue // not created yet (or another host's path): nothing to judge
					}
					if err != nil {
						out = append(out, errored(path, err).at(loc)) // unreadable is not safe
						continue
					}
					if sev, detail := rule.judge(inv, fi, d.Name+"'s "+diskName(disk)); sev != "" {
						out = append(out, fail(path, "%s", detail).sev(sev).at(loc).fix("chmod 0600 %s", path))
					} else {
						out = append(out, pass(path, "%s", detail))
					}
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no local writable disks")}
			}
			return out
		})},
	{ID: "STOR-003", Group: "storage", Severity: Medium, Title: "NVRAM and vTPM state permissions",
		Description: "A UEFI guest's NVRAM holds its Secure Boot variables and a vTPM's state its TPM secrets; readable by others they leak, writable they can be tampered with.",
		HowChecked:  "stat of /domain/os/nvram, or libvirt's default /var/lib/libvirt/qemu/nvram/NAME_VARS.fd for UEFI guests without one, and of every file under /var/lib/libvirt/swtpm/UUID/ for emulated TPMs.",
		Remediation: "chmod 0600 the file (NVRAM owned by QEMU's user, vTPM state by swtpm_user).",
		Check: storageHost(func(inv *Inventory) []Result {
			rule := permRule{worldWrite: High, worldRead: Medium}
			var out []Result
			check := func(d Domain, device, path string) {
				fi, err := os.Stat(inv.Path(path))
				loc := &model.FindingLocation{VM: d.Name, Device: device, Path: path}
				if errorsIsNotExist(err) {
					return // made at first start
				}
				if err != nil {
					out = append(out, errored(path, err).at(loc))
					return
				}
				if sev, detail := rule.judge(inv, fi, d.Name+"'s "+device+" "+path); sev != "" {
					out = append(out, fail(path, "%s", detail).sev(sev).at(loc).fix("chmod 0600 %s", path))
				} else {
					out = append(out, pass(path, "%s", detail))
				}
			}
			for _, d := range inv.Domains {
				if r, ok := unreadable(d); ok {
					out = append(out, r)
					continue
				}
				if uefi(d.Def) {
					path := "/var/lib/libvirt/qemu/nvram/" + d.Name + "_VARS.fd"
					if n := d.Def.OS.NVRam; n != nil && n.NVRam != "" {
						path = n.NVRam
					} else if n != nil && n.Source != nil && n.Source.File != nil {
						path = n.Source.File.File
					}
					check(d, "nvram", path)
				}
				for _, tpm := range devices(d.Def).TPMs {
					if tpm.Backend == nil || tpm.Backend.Emulator == nil || d.Def.UUID == "" {
						continue
					}
					dir := "/var/lib/libvirt/swtpm/" + d.Def.UUID
					_ = filepath.WalkDir(inv.Path(dir), func(p string, e fs.DirEntry, err error) error {
						if err == nil && !e.IsDir() {
							check(d, "tpm", "/"+relTo(inv, p))
						}
						return nil
					})
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no NVRAM or vTPM state files")}
			}
			return out
		})},
	{ID: "STOR-004", Group: "storage", Severity: High, Title: "Guest RAM images at rest",
		Description: "Saved states, core dumps, snapshot memory and file-backed guest RAM hold a guest's whole memory: keys, passwords, data.",
		HowChecked:  "files under /var/lib/libvirt/qemu/save, snapshot, ram and dump, and qemu.conf's auto_dump_path and memory_backing_dir.",
		Remediation: "chmod 0600 the files; remove saves and dumps no longer needed.",
		Check: hostOnly(func(inv *Inventory) []Result {
			dirs := []string{"/var/lib/libvirt/qemu/save", "/var/lib/libvirt/qemu/dump", "/var/lib/libvirt/qemu/snapshot", "/var/lib/libvirt/qemu/ram"}
			if c := inv.QEMUConf; c != nil && c.Err == nil {
				for _, k := range []string{"auto_dump_path", "memory_backing_dir"} {
					if d, _ := str(c, k, ""); d != "" && !slices.Contains(dirs, d) {
						dirs = append(dirs, d)
					}
				}
			}
			var bad []string
			n := 0
			for _, dir := range dirs {
				_ = filepath.WalkDir(inv.Path(dir), func(p string, e fs.DirEntry, err error) error {
					if err != nil {
						return nil
					}
					n++
					fi, err := e.Info()
					if err != nil {
						return nil
					}
					// The files hold guest memory; libvirt's own directories are 0755 under a
					// 0750 parent, so listing them reveals names only.
					if !e.IsDir() && fi.Mode().Perm()&0o004 != 0 {
						bad = append(bad, "/"+relTo(inv, p))
					}
					return nil
				})
			}
			if len(bad) > 0 {
				return []Result{fail("host", "world-readable guest memory: %s", strings.Join(bad, ", ")).at(&model.FindingLocation{Path: bad[0]}).fix("chmod o-rwx %s", strings.Join(bad, " "))}
			}
			return []Result{pass("host", "%d saved-state, dump, snapshot and RAM entries, no file readable by others", n)}
		})},
	{ID: "STOR-005", Group: "storage", Severity: Medium, Title: "Domain and configuration file permissions",
		Description: "qemu.conf (default VNC/SPICE passwords), domain definitions (graphics passwords) and libvirt's secrets must be readable by root alone; any of libvirt's server configuration writable by others lets them reconfigure it.",
		HowChecked:  "stat of /etc/libvirt/qemu.conf, /etc/libvirt/qemu/*.xml, /etc/libvirt/secrets and its files (group or others may not read, owner root), and /etc/libvirt/*.conf (others may not write).",
		Remediation: "chown root:root and chmod 0600 the files (0700 /etc/libvirt/secrets).",
		Check: hostOnly(func(inv *Inventory) []Result {
			secret := permRule{worldWrite: High, worldRead: Medium, groupRead: Medium, groupWrite: Medium, notRoot: Medium, groups: []string{"root"}}
			writable := permRule{worldWrite: High, notRoot: Medium}
			var found []Result
			n := 0
			judge := func(rule permRule, pattern string, secrets bool) {
				files, _ := filepath.Glob(inv.Path(pattern))
				for _, f := range files {
					fi, err := os.Stat(f)
					if err != nil {
						continue
					}
					n++
					rel := "/" + relTo(inv, f)
					sev, detail := rule.judge(inv, fi, rel)
					if sev == "" {
						continue
					}
					if secrets && sev == Medium {
						sev = High
					}
					found = append(found, fail("host", "%s", detail).sev(sev).at(&model.FindingLocation{Path: rel}).fix("chown root:root %s; chmod %s %s", rel, map[bool]string{true: "0700", false: "0600"}[fi.IsDir()], rel))
				}
			}
			judge(secret, "etc/libvirt/qemu.conf", false)
			judge(secret, "etc/libvirt/qemu/*.xml", false)
			judge(secret, "etc/libvirt/secrets", true)
			judge(secret, "etc/libvirt/secrets/*", true)
			judge(writable, "etc/libvirt/*.conf", false)
			return worst("host", Medium, fmt.Sprintf("%d configuration files and secrets root-owned and closed to others", n), found)
		})},
	{ID: "STOR-006", Group: "storage", Severity: Medium, Title: "Retrievable secrets",
		Description: "A secret with private='no' can be read back through the API by any read-write client.",
		HowChecked:  "virConnectListAllSecrets() and each secret's @private.",
		Remediation: "Redefine the secret with private='yes' (virsh secret-define) and set its value again.",
		Check: func(inv *Inventory) []Result {
			switch {
			case inv.SecretsErr != nil:
				return []Result{errored("storage", fmt.Errorf("cannot list the secrets: %w", inv.SecretsErr))}
			case inv.Secrets == nil:
				return []Result{skipped("storage", "libvirt did not list its secrets (a read-only connection?)")}
			}
			var out []Result
			for _, s := range inv.Secrets {
				name := s.UUID
				if s.Usage != nil && s.Usage.Name != "" {
					name = s.Usage.Name
				}
				if s.Private != "yes" {
					out = append(out, fail(name, "secret %s is not private: any read-write client can read its value back", s.UUID).at(&model.FindingLocation{Device: "secret " + s.UUID}))
				} else {
					out = append(out, pass(name, "secret %s is private", s.UUID))
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no secrets")}
			}
			return out
		}},
	{ID: "STOR-007", Group: "storage", Severity: Medium, Title: "Network pools without authentication",
		Description: "iSCSI, RBD and Gluster pools without <auth> let anyone on the storage network attach the volumes; NFS pools have no transport encryption unless krb5p.",
		HowChecked:  "/pool[@type='iscsi' or 'iscsi-direct' or 'rbd' or 'gluster']/source/auth; netfs pools.",
		Remediation: "Add <auth type='chap'|'ceph' username='…'><secret usage='…'/></auth> to the pool source; use NFS with sec=krb5p.",
		Check: func(inv *Inventory) []Result {
			if inv.PoolsErr != nil {
				return []Result{errored("storage", fmt.Errorf("cannot list the storage pools: %w", inv.PoolsErr))}
			}
			var out []Result
			for _, p := range inv.Pools {
				loc := &model.FindingLocation{Device: "pool " + p.Name}
				switch p.Type {
				case "iscsi", "iscsi-direct", "rbd", "gluster":
					if p.Source == nil || p.Source.Auth == nil {
						out = append(out, fail(p.Name, "%s pool without <auth>: anyone on the storage network can attach its volumes", p.Type).at(loc))
					} else {
						out = append(out, pass(p.Name, "%s pool with %s auth", p.Type, p.Source.Auth.Type))
					}
				case "netfs":
					out = append(out, fail(p.Name, "NFS pool: no authentication or encryption of its traffic unless mounted with sec=krb5p").sev(Info).at(loc))
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no network pools")}
			}
			return out
		}},
	{ID: "STOR-008", Group: "storage", Severity: Info, Title: "Unencrypted volumes",
		Description: "Disks without LUKS encryption keep guest data readable to anyone who gets the image file or the storage; whether that matters depends on the guest.",
		HowChecked:  "//devices/disk/source/encryption of each VM's writable disks.",
		Remediation: "Nothing to do unless the guest holds sensitive data: then create its volumes with <encryption format='luks'> and a libvirt secret.",
		Check: perVM(func(_ *Inventory, d Domain) Result {
			var plain []string
			for _, disk := range devices(d.Def).Disks {
				if disk.Device == "cdrom" || disk.ReadOnly != nil || disk.Source == nil {
					continue
				}
				if disk.Source.Encryption == nil {
					plain = append(plain, strings.TrimPrefix(diskName(disk), "disk "))
				}
			}
			if len(plain) > 0 {
				return fail(d.Name, "not encrypted at rest: %s", strings.Join(plain, ", ")).at(&model.FindingLocation{VM: d.Name, Device: "disk " + plain[0]})
			}
			return pass(d.Name, "every writable disk is encrypted (or there is none)")
		})},
	{ID: "STOR-009", Group: "storage", Severity: Medium, Title: "Backing file outside trusted pools",
		Description: "A backing file outside every pool, or over a network protocol, is content the guest boots from that nobody manages.",
		HowChecked:  "//disk/backingStore chains of the live definitions (the inactive ones of stopped VMs), against the pools' target paths.",
		Remediation: "Move the backing file into a pool, or flatten the image (qemu-img convert).",
		Check: func(inv *Inventory) []Result {
			var out []Result
			for _, d := range inv.Domains {
				def := d.Live
				if def == nil {
					def = d.Def
				}
				if def == nil {
					if r, ok := unreadable(d); ok {
						out = append(out, r)
					}
					continue
				}
				for _, disk := range devices(def).Disks {
					for b := disk.BackingStore; b != nil; b = b.BackingStore {
						if b.Source == nil {
							continue
						}
						loc := &model.FindingLocation{VM: d.Name, Device: diskName(disk)}
						switch {
						case b.Source.Network != nil:
							loc.Path = b.Source.Network.Protocol + ":" + b.Source.Network.Name
							out = append(out, fail(d.Name, "%s has a backing file over %s (%s)", diskName(disk), b.Source.Network.Protocol, b.Source.Network.Name).at(loc))
						case b.Source.File != nil:
							loc.Path = b.Source.File.File
							if inPool(inv, loc.Path) {
								out = append(out, pass(d.Name, "backing file %s is in a pool", loc.Path))
							} else {
								out = append(out, fail(d.Name, "%s's backing file %s is in no storage pool", diskName(disk), loc.Path).at(loc))
							}
						}
					}
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no backing files")}
			}
			return out
		}},
	{ID: "STOR-010", Group: "storage", Severity: Low, Title: "Disks outside managed locations",
		Description: "A disk file outside every storage pool has permissions and labels nobody manages, and is harder to audit.",
		HowChecked:  "//devices/disk/source/@file of non-CD-ROM disks against the pools' target paths.",
		Remediation: "Move the image into a pool (or define a pool for its directory) and refer to it as a volume.",
		Check: func(inv *Inventory) []Result {
			var out []Result
			for _, d := range inv.Domains {
				if r, ok := unreadable(d); ok {
					out = append(out, r)
					continue
				}
				for _, disk := range devices(d.Def).Disks {
					if disk.Source == nil || disk.Source.File == nil || disk.Device == "cdrom" {
						continue
					}
					path := disk.Source.File.File
					if inPool(inv, path) {
						out = append(out, pass(path, "%s's %s is in a pool", d.Name, diskName(disk)))
					} else {
						out = append(out, fail(path, "%s's %s is in no storage pool: libvirt manages neither its permissions nor its labels", d.Name, diskName(disk)).
							at(&model.FindingLocation{VM: d.Name, Device: diskName(disk), Path: path}))
					}
				}
			}
			if len(out) == 0 {
				return []Result{skipped("storage", "no file-backed disks")}
			}
			return out
		}},
}

// errorsIsNotExist says the file is simply not there (any other stat error is reported).
func errorsIsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
