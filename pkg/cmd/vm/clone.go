package vm

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"github.com/hyper-nixos/hvctl/pkg/seed"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// CloneOptions of `vm clone`.
type CloneOptions struct {
	F          *cmdutil.Factory
	Source     string
	Name       string
	Linked     bool
	Start      bool
	StopSource bool
}

// NewCmdClone builds `vm clone`.
func NewCmdClone(f *cmdutil.Factory, runF func(context.Context, *CloneOptions) error) *cobra.Command {
	opts := &CloneOptions{F: f}
	cmd := &cobra.Command{
		Use:   "clone SOURCE NEW",
		Short: "Copy a VM: its writable volumes (or overlays on them), a new UUID, MACs and seed",
		Long: `Make NEW from SOURCE. Every writable volume is copied through libvirt (or, with --linked, a
qcow2 overlay on the source's volume is made: fast and small, but the source's disks must
then stay as they are). The clone gets a new UUID and new MAC addresses, a copy of the NVRAM
(NEW_VARS.fd beside the source's; a file already there is another VM's, and the clone is
refused, exit 4), and a cloud-init seed with its own hostname and instance-id, so cloud-init treats it as a new
machine. Install media and shared disks are attached, not copied.

A running source is refused (exit 4): copying disks under a running guest gives a broken
copy. --stop-source shuts it down first (ACPI, as vmctl stop). A failure removes everything
the clone made.`,
		Example:           "  vmctl clone web01 web02 --start\n  vmctl clone template-debian test-7 --linked",
		Args:              cmdutil.ExactArgs(2, "a source VM and a new name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       cmdutil.Journaled("vm", map[string]string{cmdutil.AnnTimeout: "60m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Source, opts.Name = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.Source); err != nil {
				return err
			}
			if err := cmdutil.ValidateName("VM", opts.Name); err != nil { // the clone is hvctl's
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runClone(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Linked, "linked", false, "make qcow2 overlays on the source's volumes instead of copies")
	cmd.Flags().BoolVar(&opts.Start, "start", false, "start the clone")
	cmd.Flags().BoolVar(&opts.StopSource, "stop-source", false, "shut a running source down first")
	f.AddOutputFlags(cmd)
	return cmd
}

// cloneVolumeName renames SRC.qcow2 to NEW.qcow2, SRC-data1.qcow2 to NEW-data1.qcow2; other
// names get the new name in front.
func cloneVolumeName(src, dst, name string) string {
	if strings.HasPrefix(name, src) {
		return dst + strings.TrimPrefix(name, src)
	}
	return dst + "-" + name
}

func runClone(ctx context.Context, o *CloneOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	conn, err := o.F.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	wrap := func(err error) error { return errs.Wrap(err, "clone %s", o.Source) }
	if exists, err := conn.Exists(ctx, o.Name); err != nil {
		return wrap(err)
	} else if exists {
		return errs.New(errs.Conflict, "clone %s: a VM named %s exists", o.Source, o.Name)
	}
	src, err := conn.Domain(ctx, o.Source)
	if err != nil {
		return wrap(err)
	}
	defer src.Free()
	state, _, err := src.State(ctx)
	if err != nil {
		return wrap(err)
	}
	if state != virt.StateShutOff && state != virt.StateCrashed {
		if !o.StopSource {
			return errs.New(errs.Conflict, "clone %s: the source is %s", o.Source, state).WithHint("stop it first, or add --stop-source")
		}
		if _, err := src.Stop(ctx, virt.StopOptions{Wait: 2 * time.Minute}); err != nil {
			return wrap(err)
		}
	}
	def, err := src.Definition(ctx, true)
	if err != nil {
		return wrap(err)
	}
	def.Name, def.UUID = o.Name, ""
	if def.Title != "" {
		def.Title = o.Name
	}
	for i := range def.Devices.Interfaces {
		def.Devices.Interfaces[i].MAC = nil // libvirt gives each a new one
		def.Devices.Interfaces[i].Target = nil
	}
	for i := range def.SysInfo {
		if fw := def.SysInfo[i].FWCfg; fw != nil {
			for j := range fw.Entry {
				if strings.HasSuffix(fw.Entry[j].Name, "/hostname") {
					fw.Entry[j].Value = o.Name
				}
			}
		}
	}

	// Where the clone's NVRAM goes is checked before anything is made: a file already there
	// is another VM's (delete keeps an NVRAM file another VM names), never ours to replace.
	var srcNV, dstNV string
	if dos := def.OS; dos != nil && dos.NVRam != nil && dos.NVRam.NVRam != "" && !virt.IsRemote(conn.URI) {
		srcNV = dos.NVRam.NVRam
		dstNV = filepath.Join(filepath.Dir(srcNV), o.Name+"_VARS.fd")
		if _, err := os.Lstat(dstNV); err == nil {
			return errNVRAMThere(o.Source, dstNV)
		}
	}

	result := model.Cloned{Name: o.Name, Source: o.Source, Linked: o.Linked, Volumes: []string{}}
	r := revert.New()
	defer r.Fail()
	journal := conn.Journal()
	r.Add(func() { undoJournal(ctx, o.F, conn, journal, "clone "+o.Source) })
	seedName := domainxml.SeedVolume(o.Source)
	for i := range def.Devices.Disks {
		disk := &def.Devices.Disks[i]
		path := conn.DiskPath(ctx, *disk)
		if path == "" {
			continue
		}
		isSeed := filepath.Base(path) == seedName
		shared := disk.ReadOnly != nil || disk.Shareable != nil || disk.Device == "cdrom" || disk.Device == "floppy"
		if shared && !isSeed {
			continue // install media and shared disks are attached as they are
		}
		vol, err := conn.LookupVolumeByPath(ctx, path)
		if err != nil {
			if errs.KindOf(err) == errs.NotFound {
				return errs.New(errs.Conflict, "clone %s: disk %s is not in a libvirt storage pool, so it cannot be copied", o.Source, path)
			}
			return wrap(err)
		}
		if vol.Pool, err = conn.PoolOf(ctx, path); err != nil {
			return wrap(err)
		}
		name := cloneVolumeName(o.Source, o.Name, vol.Name)
		if exists, err := conn.VolumeExists(ctx, vol.Pool, name); err != nil {
			return wrap(err)
		} else if exists {
			return errs.New(errs.Conflict, "clone %s: volume %s exists in pool %s", o.Source, name, vol.Pool)
		}
		var nv *virt.Volume
		switch {
		case isSeed:
			data, err := conn.Download(ctx, path)
			if err != nil {
				return wrap(err)
			}
			s, err := seed.Parse(data)
			if err != nil {
				return wrap(err)
			}
			if err := s.Rename(o.Name, "iid-"+o.Name+"-"+randomHex(4)); err != nil {
				return wrap(err)
			}
			iso, err := s.ISO()
			if err != nil {
				return wrap(err)
			}
			if nv, err = conn.CreateVolume(ctx, virt.NewVolume{Pool: vol.Pool, Name: name, Format: "raw", Capacity: uint64(len(iso)), Mode: "0600"}); err != nil {
				return wrap(err)
			}
			if err := conn.Upload(ctx, nv.Path, iso); err != nil {
				return wrap(err)
			}
		case o.Linked:
			if nv, err = conn.CreateVolume(ctx, virt.NewVolume{Pool: vol.Pool, Name: name, Format: "qcow2", Capacity: vol.Capacity, Backing: vol}); err != nil {
				return wrap(err)
			}
		default:
			if nv, err = conn.CopyVolume(ctx, vol, name); err != nil {
				return wrap(err)
			}
		}
		result.Volumes = append(result.Volumes, nv.Path)
		if disk.Source.Volume != nil {
			disk.Source = &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: vol.Pool, Volume: name}}
		} else {
			disk.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: nv.Path}}
		}
		if disk.Driver != nil && !isSeed {
			disk.Driver.Type = nv.Format
		}
		disk.BackingStore = nil
	}
	if dos := def.OS; dos != nil && dos.NVRam != nil && dos.NVRam.NVRam != "" {
		// libvirt has no API to copy NVRAM; on a local host the file is ours to copy, so the
		// clone keeps the source's UEFI variables (boot entries, enrolled keys).
		if data, rerr := os.ReadFile(srcNV); rerr == nil && srcNV != "" {
			if werr := fsutil.WriteNew(dstNV, data, 0o600); errors.Is(werr, fs.ErrExist) {
				return errNVRAMThere(o.Source, dstNV) // made meanwhile
			} else if werr != nil {
				return wrap(werr)
			}
			r.Add(func() { _ = os.Remove(dstNV) })
			dos.NVRam.NVRam = dstNV
		} else {
			o.F.Infof("%s: clone %s: %s gets fresh UEFI variables from the firmware template (cannot read %s)", o.F.Prog, o.Source, o.Name, dos.NVRam.NVRam)
			dos.NVRam.NVRam = ""
		}
	}
	d, err := defineAndStart(ctx, conn, def, o.Start)
	if err != nil {
		return wrap(err)
	}
	d.Free()
	r.Success()
	result.UUID, result.Started = def.UUID, o.Start
	if o.Linked {
		// The source is now a template: writing to it would show through in the clone.
		if err := src.MarkTemplate(ctx, o.Name); err != nil {
			o.F.Infof("%s: clone %s: could not mark %s as the template of %s: %v", o.F.Prog, o.Source, o.Source, o.Name, err)
		}
	}
	pairs := [][2]string{{"name", result.Name}, {"uuid", result.UUID}, {"source", result.Source}, {"linked", output.YesNo(result.Linked)}}
	for _, v := range result.Volumes {
		pairs = append(pairs, [2]string{"volume", v})
	}
	pairs = append(pairs, [2]string{"started", output.YesNo(result.Started)})
	return output.Object(o.F.IO.Out, format, result, pairs)
}

func errNVRAMThere(source, path string) error {
	return errs.New(errs.Conflict, "clone %s: NVRAM file %s exists (another VM's?); nothing made", source, path).
		WithHint("choose another name, or move the file away if no VM uses it")
}
