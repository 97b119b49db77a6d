package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/qcow2"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// DiskAttachOptions of `vm disk attach`.
type DiskAttachOptions struct {
	F         *cmdutil.Factory
	VM        string
	Size      uint64 // a new volume of this size …
	Pool      string // … in this pool (default: the pool of the VM's volumes, else the configured one)
	Volume    string // or an existing volume, POOL/VOL
	Image     string // or an existing file
	Bus       string
	Target    string // "" picks the next free one
	Scope     scopeFlags
	Update    bool // --update-profile
	sizeGiven string
}

// NewCmdDiskAttach builds `vm disk attach`.
func NewCmdDiskAttach(f *cmdutil.Factory, runF func(context.Context, *DiskAttachOptions) error) *cobra.Command {
	opts := &DiskAttachOptions{F: f}
	cmd := &cobra.Command{
		Use:         "attach VM (--size SIZE [--pool P] | --volume POOL/VOL | --image FILE)",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Attach a new or existing disk to a VM, live when it runs",
		Long: `Attach a disk: a new qcow2 volume of --size (named VM-dataN.qcow2, in --pool, else in the pool
of the VM's other volumes, else the configured pool), an existing volume (--volume POOL/VOL)
or an existing file (--image FILE, its format read from the file). The disk gets the next free
target of its bus (vdb, vdc … for virtio; sdX for scsi, sata and usb) unless --target names
one; a taken target is refused (exit 4), as is a volume or file another VM uses. When the
attach fails after creating the volume, the volume is removed again: nothing is left
half-done.

A running VM gets the disk live and in its definition unless --live or --config narrows it; a
stopped one in its definition. Not every bus can be hot-plugged: virtio and scsi can, sata
cannot. A VM made from a profile then differs from it (a warning says so): --update-profile
adds the disk to the profile as one more [[extra_disks]] entry at the end of its file, the
rest of the file (comments included) unchanged, and attaches the disk that profile renders,
so vmctl diff finds the VM in sync; the profile changes only once the disk is attached. With --json the change is printed as an object (vm, kind, target, source, action,
live, config, capacity_bytes, volume_created …).`,
		Example: `  vmctl disk attach web01 --size 20GiB
  vmctl disk attach web01 --volume default/shared-data.qcow2 --target vdc
  vmctl disk attach web01 --image /srv/images/scratch.raw --live
  vmctl disk attach db01 --size 100G --pool fast --config
  vmctl disk attach web01 --size 50GiB --update-profile`,
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiskAttach(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.sizeGiven, "size", "", "create a new volume of this `SIZE` (e.g. 20GiB)")
	fl.StringVar(&opts.Pool, "pool", "", "storage `POOL` of the new volume")
	fl.StringVar(&opts.Volume, "volume", "", "attach the existing volume `POOL/VOL`")
	fl.StringVar(&opts.Image, "image", "", "attach the existing `FILE`")
	cmdutil.StringEnumFlag(cmd, &opts.Bus, "bus", "", "virtio", diskBuses, "disk bus")
	fl.StringVar(&opts.Target, "target", "", "target `NAME` in the VM, e.g. vdc (default: the next free one)")
	addScopeFlags(cmd, &opts.Scope, attachLiveHelp, attachConfigHelp)
	fl.BoolVar(&opts.Update, "update-profile", false, "also add the disk to the VM's profile as an [[extra_disks]] entry (with --size), keeping the file's comments")
	_ = cmd.RegisterFlagCompletionFunc("image", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveDefault
	})
	f.AddOutputFlags(cmd)
	return cmd
}

// check validates what the flags say, before libvirt is asked anything.
func (o *DiskAttachOptions) check() error {
	if o.sizeGiven != "" {
		n, err := parseSize("--size", o.sizeGiven)
		if err != nil {
			return err
		}
		o.Size = n
	}
	given := 0
	for _, v := range []string{o.sizeGiven, o.Volume, o.Image} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return errs.New(errs.Usage, "give one of --size (a new volume), --volume POOL/VOL or --image FILE; got %d", given)
	}
	if o.Update && (o.Size == 0 || o.Pool != "" || o.Target != "") {
		return errs.New(errs.Usage, "--update-profile goes with --size alone: the profile says the new volume's pool and the disk's target").
			WithHint("attach an existing volume or file without --update-profile, and describe it in the profile by hand")
	}
	if o.Pool != "" && o.Size == 0 {
		return errs.New(errs.Usage, "--pool goes with --size: it names where the new volume is made")
	}
	if o.Volume != "" {
		pool, vol, ok := strings.Cut(o.Volume, "/")
		if !ok || pool == "" || vol == "" || strings.Contains(vol, "/") {
			return errs.New(errs.Usage, "invalid --volume %q: want POOL/VOLUME", output.Escape(o.Volume))
		}
	}
	if o.Image != "" {
		abs, err := filepath.Abs(o.Image)
		if err != nil {
			return errs.New(errs.Usage, "--image %s: %v", output.Escape(o.Image), err)
		}
		o.Image = abs
	}
	if o.Target != "" {
		return checkTarget(o.Target, o.Bus)
	}
	return nil
}

func runDiskAttach(ctx context.Context, o *DiskAttachOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = attachDisk(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "disk attach %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

func attachDisk(ctx context.Context, o *DiskAttachOptions, d *virt.Domain) (model.DeviceChange, error) {
	conn := d.Conn()
	change := model.DeviceChange{VM: d.Name, Kind: "disk", Action: "attached"}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	scope, err := o.Scope.resolve(d.Name, defs.Running)
	if err != nil {
		return change, err
	}
	taken := takenTargets(defs)
	target := o.Target
	switch {
	case target == "":
		target = nextTarget(targetPrefix(o.Bus), taken)
	case taken[target]:
		return change, errs.New(errs.Conflict, "target %s is taken: %s already has a disk there", target, d.Name).
			WithHint("leave --target out to take the next free one (%s)", nextTarget(targetPrefix(o.Bus), taken))
	}
	prof := profileOf(ctx, d)

	// Everything made from here on is undone unless the attach succeeds.
	r := revert.New()
	defer r.Fail()
	disk := libvirtxml.DomainDisk{
		Device: "disk",
		Target: &libvirtxml.DomainDiskTarget{Dev: target, Bus: o.Bus},
	}
	var edit *profileEdit
	if o.Update {
		if edit, disk, err = profileDisk(ctx, o, d, prof); err != nil {
			return change, err
		}
		r.Add(edit.discard)
		if target = disk.Target.Dev; taken[target] {
			return change, errs.New(errs.Conflict, "--update-profile: the profile puts the new disk at %s, which %s has taken already", target, d.Name).
				WithHint("see vmctl diff %s: the VM differs from its profile", prof)
		}
	}
	switch {
	case o.Size > 0:
		var vol *virt.Volume
		if edit != nil {
			vol, err = profileVolume(ctx, conn, disk, o.Size)
		} else {
			vol, err = newDataVolume(ctx, o, conn, defs)
		}
		if err != nil {
			return change, err
		}
		r.Add(func() { removeMadeVolume(ctx, o.F, conn, vol.Path) })
		change.VolumeCreated = vol.Path
		if edit == nil {
			disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Discard: "unmap"}
			disk.Source = &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: vol.Pool, Volume: vol.Name}}
		}
		change.Source, change.CapacityBytes = vol.Pool+"/"+vol.Name, sizePtr(vol.Capacity)
	case o.Volume != "":
		pool, name, _ := strings.Cut(o.Volume, "/")
		vol, err := conn.LookupVolume(ctx, pool, name)
		if err != nil {
			return change, err
		}
		if err := refuseUsed(ctx, o.F, conn, vol.Path); err != nil {
			return change, err
		}
		if vol.Format == "" {
			return change, errs.New(errs.Conflict, "volume %s: libvirt reports no format; refusing to guess", o.Volume)
		}
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: vol.Format}
		disk.Source = &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: pool, Volume: name}}
		change.Source, change.CapacityBytes = o.Volume, sizePtr(vol.Capacity)
	default:
		imgFormat, capacity, err := imageFormat(ctx, o, conn)
		if err != nil {
			return change, err
		}
		if err := refuseUsed(ctx, o.F, conn, o.Image); err != nil {
			return change, err
		}
		disk.Driver = &libvirtxml.DomainDiskDriver{Name: "qemu", Type: imgFormat}
		disk.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: o.Image}}
		change.Source, change.CapacityBytes = o.Image, capacity
	}
	x, err := disk.Marshal()
	if err != nil {
		return change, err
	}
	if err := d.AttachDevice(ctx, x, scope); err != nil {
		return change, attachError(err, d.Name, scope)
	}
	r.Success()
	change.Target, change.Live, change.Config = target, scope.Live, scope.Config
	noteAttach(o.F, d.Name, target, scope, defs.Running)
	if edit != nil {
		change.Profile = edit.path
		return change, edit.commit()
	}
	warnProfile(o.F, d.Name, prof, scope)
	return change, nil
}

// newDataVolume makes the empty qcow2 volume of an attach --size, named as the VM's extra
// disks are (VM-dataN.qcow2, the first N free), so that vmctl gc recognises it should a
// killed attach leave it, and delete --remove-storage takes it with the VM.
func newDataVolume(ctx context.Context, o *DiskAttachOptions, conn *virt.Conn, defs virt.Definitions) (*virt.Volume, error) {
	pool := o.Pool
	if pool == "" {
		pool = volumePool(defs.Config)
	}
	if pool == "" {
		cfg, err := o.F.Config()
		if err != nil {
			return nil, err
		}
		pool = cfg.Config.VM.Defaults.Pool
	}
	for i := 0; ; i++ {
		name := domainxml.ExtraVolume(o.VM, i)
		exists, err := conn.VolumeExists(ctx, pool, name)
		if err != nil {
			return nil, err
		}
		if !exists {
			return conn.CreateVolume(ctx, virt.NewVolume{Pool: pool, Name: name, Format: "qcow2", Capacity: o.Size})
		}
	}
}

// volumePool is the pool of the definition's first volume disk, "" when it has none.
func volumePool(def *libvirtxml.Domain) string {
	for _, d := range def.Devices.Disks {
		if d.Device == "disk" && d.Source != nil && d.Source.Volume != nil {
			return d.Source.Volume.Pool
		}
	}
	return ""
}

// removeMadeVolume is the rollback of an attach that created a volume. An attach call the
// command stopped waiting for (a deadline, an interrupt) may still finish in libvirtd, so the
// volume goes only once no call runs and no domain uses it.
func removeMadeVolume(ctx context.Context, f *cmdutil.Factory, conn *virt.Conn, path string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	err := conn.Settle(cctx)
	if err == nil {
		var users map[string][]string
		if users, err = conn.DiskUsers(cctx, ""); err == nil && len(conn.UsersOf(users, path)) > 0 {
			f.Warnf("kept %s: the attach went through after all (%s uses it)", path, strings.Join(conn.UsersOf(users, path), ", "))
			return
		}
	}
	if err == nil {
		err = conn.DeleteVolume(cctx, path)
	}
	if err != nil {
		f.Warnf("could not remove %s, made for the failed attach: %v", path, err)
		return
	}
	f.Infof("%s: removed %s, made for the failed attach", f.Prog, path)
}

// refuseUsed refuses a file that is not free to be written as a VM's disk: one some domain
// uses (two VMs writing one disk destroy it), the base of another volume (writing it corrupts
// every overlay on it), or a file of the image or ISO stores (their records would no longer
// match, and clones are made from them).
func refuseUsed(ctx context.Context, f *cmdutil.Factory, conn *virt.Conn, path string) error {
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	for _, store := range []string{cfg.Config.Paths.Images, cfg.Config.Paths.ISOs} {
		if store != "" && conn.Under(path, []string{store}) {
			return errs.New(errs.Conflict, "%s is in the image store %s: attaching it would let the VM write it", path, store).
				WithHint("attach a copy, or a new volume (--size)")
		}
	}
	users, err := conn.DiskUsers(ctx, "")
	if err != nil {
		return err
	}
	if u := conn.UsersOf(users, path); len(u) > 0 {
		return errs.New(errs.Conflict, "%s is in use by %s", path, strings.Join(u, ", ")).
			WithHint("a disk written by two VMs is corrupted; copy it, or detach it from the other VM first")
	}
	if over, err := conn.VolumeBasedOn(ctx, path); err != nil {
		return err
	} else if over != "" {
		return errs.New(errs.Conflict, "%s is the backing file of %s: writing it would corrupt that volume", path, over).
			WithHint("attach a copy, or an overlay on it")
	}
	return nil
}

// imageFormat says the format of --image: libvirt's when the file is a volume of some pool,
// else the file's own header on this host (a remote host's file outside any pool cannot be
// read from here: refused).
func imageFormat(ctx context.Context, o *DiskAttachOptions, conn *virt.Conn) (string, *uint64, error) {
	if vol, err := conn.LookupVolumeByPath(ctx, o.Image); err == nil && vol.Format != "" {
		return vol.Format, sizePtr(vol.Capacity), nil
	} else if err != nil && errs.KindOf(err) != errs.NotFound {
		return "", nil, err
	}
	uri, err := o.F.URI()
	if err != nil {
		return "", nil, err
	}
	if virt.IsRemote(uri) {
		return "", nil, errs.New(errs.NotFound, "%s is no volume of a storage pool on %s", o.Image, uri).
			WithHint("put it in a pool, or use --volume POOL/VOL")
	}
	st, err := os.Stat(o.Image)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, errs.New(errs.NotFound, "image %s: no such file", o.Image)
	case err != nil:
		return "", nil, errs.New(errs.Failure, "image %s: %v", o.Image, err)
	case !st.Mode().IsRegular():
		return "", nil, errs.New(errs.Usage, "image %s is not a regular file", o.Image)
	}
	_, err = qcow2.BackingFile(o.Image)
	switch {
	case errors.Is(err, qcow2.ErrNotQcow2):
		return "raw", sizePtr(uint64(st.Size())), nil
	case err != nil:
		return "", nil, errs.New(errs.Failure, "image %s: %v", o.Image, fmt.Errorf("read header: %w", err))
	}
	return "qcow2", nil, nil
}

// profileDisk prepares the profile with the new [[extra_disks]] entry and returns the disk it
// renders for it: the volume name, pool, target and driver create would give it.
func profileDisk(ctx context.Context, o *DiskAttachOptions, d *virt.Domain, prof string) (*profileEdit, libvirtxml.DomainDisk, error) {
	keys := [][2]string{{"size", tomlString(o.sizeGiven)}}
	if o.Bus != "virtio" {
		keys = append(keys, [2]string{"bus", tomlString(o.Bus)})
	}
	edit, err := prepareProfileEdit(o.F, d.Name, prof, "extra_disks", keys)
	if err != nil {
		return nil, libvirtxml.DomainDisk{}, err
	}
	def, err := edit.render(ctx, o.F, d.Conn())
	if err != nil {
		edit.discard()
		return nil, libvirtxml.DomainDisk{}, err
	}
	name := domainxml.ExtraVolume(d.Name, len(edit.before.ExtraDisks))
	for _, disk := range def.Devices.Disks {
		if disk.Source != nil && disk.Source.Volume != nil && disk.Source.Volume.Volume == name && disk.Target != nil {
			return edit, disk, nil
		}
	}
	edit.discard()
	return nil, libvirtxml.DomainDisk{}, errs.New(errs.Failure, "--update-profile: the profile renders no disk %s", name)
}

// profileVolume makes the volume the profile's disk names; one of that name already there
// (from an earlier attach, or left over) is not taken over.
func profileVolume(ctx context.Context, conn *virt.Conn, disk libvirtxml.DomainDisk, size uint64) (*virt.Volume, error) {
	pool, name := disk.Source.Volume.Pool, disk.Source.Volume.Volume
	exists, err := conn.VolumeExists(ctx, pool, name)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, errs.New(errs.Conflict, "--update-profile: the profile's next disk is volume %s/%s, which exists already", pool, name).
			WithHint("see vmctl gc and vmctl diff: the VM and its profile differ")
	}
	return conn.CreateVolume(ctx, virt.NewVolume{Pool: pool, Name: name, Format: "qcow2", Capacity: size})
}
