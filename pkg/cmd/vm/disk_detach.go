package vm

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// DiskDetachOptions of `vm disk detach`.
type DiskDetachOptions struct {
	F             *cmdutil.Factory
	VM, Target    string
	RemoveStorage bool
	Yes           bool
	Scope         scopeFlags
	// Wait bounds how long the guest has to release the disk (--timeout).
	Wait time.Duration
}

// detachSlack is the time a detach has after its wait for the guest: the report, removing the
// volume.
const detachSlack = 10 * time.Second

// NewCmdDiskDetach builds `vm disk detach`.
func NewCmdDiskDetach(f *cmdutil.Factory, runF func(context.Context, *DiskDetachOptions) error) *cobra.Command {
	opts := &DiskDetachOptions{F: f}
	cmd := &cobra.Command{
		Use:   "detach VM TARGET",
		Short: "Detach a disk from a VM, waiting for the guest to release it",
		Long: `Detach the disk at TARGET (vdb …). A running guest must release the disk first: libvirt only
asks it to, so the command waits for libvirt's device-removed event, up to --timeout. When the
guest does not let go in time the status is 5 and the message says that the disk is still
attached and whether the persistent definition still has it; when the guest refuses, 4.
Without --live or --config the disk goes from every definition that has it.

--remove-storage also deletes the disk's volume, once the disk is gone from the VM, and only
a volume hvctl made for this VM (named VM.qcow2 or VM-dataN.qcow2) that no other VM uses and
no volume is based on; anything else is refused before any change (exit 4). ` + cmdutil.ConfirmHelp,
		Example: `  vmctl disk detach web01 vdb
  vmctl disk detach web01 vdc --remove-storage --yes --timeout 2m
  vmctl disk detach web01 vdb --config`,
		Args:              cmdutil.ExactArgs(2, "a VM and a disk target"),
		ValidArgsFunction: completeDiskTargets(f),
		Annotations: cmdutil.Journaled("vm:1", map[string]string{cmdutil.AnnSlack: detachSlack.String(),
			cmdutil.AnnTimeoutHelp: cmdutil.ShortDuration(cmdutil.DefaultTimeout) + " for the guest to release the disk"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.Target = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			opts.Wait, _ = f.EffectiveTimeout(cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiskDetach(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.RemoveStorage, "remove-storage", false, "also delete the disk's volume (only one hvctl made for this VM, used by no other)")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	addScopeFlags(cmd, &opts.Scope, detachLiveHelp, detachConfigHelp)
	f.AddOutputFlags(cmd)
	return cmd
}

func runDiskDetach(ctx context.Context, o *DiskDetachOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = detachDisk(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "disk detach %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

// detachScope narrows a detach to the definitions that have the device: without flags, every
// one that does; a flag naming one that does not is "not found" there.
func detachScope(s scopeFlags, vm, what string, defs virt.Definitions, inLive, inConfig bool) (virt.Scope, error) {
	scope, err := s.resolve(vm, defs.Running)
	if err != nil {
		return scope, err
	}
	explicit := s.Live || s.Config
	switch {
	case !inLive && !inConfig:
		return scope, errs.New(errs.NotFound, "%s has no %s", vm, what)
	case explicit && scope.Live && !inLive:
		return scope, errs.New(errs.NotFound, "the running %s has no %s (only its definition has)", vm, what).
			WithHint("use --config to take it out of the definition")
	case explicit && scope.Config && !inConfig:
		return scope, errs.New(errs.NotFound, "the definition of %s has no %s (only the running VM has)", vm, what).
			WithHint("use --live to detach it from the running VM")
	}
	scope.Live, scope.Config = scope.Live && inLive, scope.Config && inConfig
	return scope, nil
}

func detachDisk(ctx context.Context, o *DiskDetachOptions, d *virt.Domain) (model.DeviceChange, error) {
	conn := d.Conn()
	change := model.DeviceChange{VM: d.Name, Kind: "disk", Target: o.Target, Action: "detached"}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	liveDisk, cfgDisk := virt.FindDisk(defs.Live, o.Target), virt.FindDisk(defs.Config, o.Target)
	scope, err := detachScope(o.Scope, d.Name, "disk "+o.Target, defs, liveDisk != nil, cfgDisk != nil)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.NotFound && e.Hint == "" {
			have := slices.Sorted(maps.Keys(takenTargets(defs)))
			e.WithHint("its disks: %s (vmctl disk list %s)", strings.Join(have, ", "), d.Name)
		}
		return change, err
	}
	disk := cfgDisk
	if !scope.Config {
		disk = liveDisk
	}
	change.Source = domainxml.DescribeDisk(*disk).Source
	var volume string
	if o.RemoveStorage {
		if (liveDisk != nil && !scope.Live) || (cfgDisk != nil && !scope.Config) {
			return change, errs.New(errs.Usage, "--remove-storage: %s stays in the %s of %s, so its volume must stay too", o.Target,
				map[bool]string{true: "running VM", false: "definition"}[!scope.Live], d.Name)
		}
		if volume, err = removableVolume(ctx, o, d, *disk); err != nil {
			return change, err
		}
		if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "detach", What: "disk " + o.Target + " of " + d.Name + " and delete its volume",
			Done: "detached", Objects: []string{volume}}); err != nil {
			return change, err
		}
	}

	var watch *virt.Removal
	if scope.Live {
		alias := ""
		if liveDisk.Alias != nil {
			alias = liveDisk.Alias.Name
		}
		if watch, err = d.WatchRemoval(ctx, alias); err != nil {
			return change, err
		}
		defer watch.Close()
	}
	x, err := deviceXML(*disk)
	if err != nil {
		return change, err
	}
	// The guest's time starts now: libvirt's detach call itself waits a few seconds for it.
	wctx, cancel := virt.WithTimeout(ctx, o.Wait)
	defer cancel()
	if err := d.DetachDevice(ctx, x, scope); err != nil {
		return change, err
	}
	change.Live, change.Config = scope.Live, scope.Config
	if scope.Live {
		err := watch.Wait(wctx, func(ctx context.Context) (bool, error) { return d.DiskGone(ctx, o.Target) })
		if err != nil {
			return change, stillAttached(err, d.Name, o.Target, o.Wait, scope, cfgDisk != nil, volume)
		}
	}
	if volume != "" {
		if err := conn.DeleteVolume(ctx, volume); err != nil {
			return change, errs.Wrap(err, "%s is detached, but its volume %s could not be deleted", o.Target, volume)
		}
		change.VolumeRemoved = volume
		o.F.Infof("%s: %s: removed %s", o.F.Prog, d.Name, volume)
	}
	noteDetach(o.F, d.Name, o.Target, liveDisk != nil && !scope.Live, cfgDisk != nil && !scope.Config)
	warnProfile(o.F, d.Name, profileOf(ctx, d), scope)
	return change, nil
}

// stillAttached is the error of a live detach the guest did not complete: what is attached
// still and what the persistent definition says now.
func stillAttached(err error, vm, what string, wait time.Duration, scope virt.Scope, inConfig bool, volume string) error {
	var config string
	switch {
	case scope.Config:
		config = "it is gone from the definition already, so the VM loses it at its next shutdown"
	case inConfig:
		config = "its definition still has it"
	default:
		config = "its definition never had it, so the VM loses it at its next shutdown"
	}
	if volume != "" {
		config += "; its volume is kept"
	}
	switch {
	case errors.Is(err, virt.ErrRemovalRefused):
		return errs.New(errs.Conflict, "%s is still attached to %s: the guest refused to release it; %s", what, vm, config).
			WithHint("check the guest's kernel log; release the device there and run the command again")
	case errs.KindOf(err) == errs.Timeout:
		return errs.New(errs.Timeout, "%s is still attached to %s: the guest did not release it within %s; %s", what, vm, wait, config).
			WithHint("is it in use in the guest (mounted, busy)? release it there, or wait longer with --timeout; the guest may still let it go")
	}
	return err
}

// deviceXML is a device of a definition as a detach call wants it: libvirt matches disks by
// target and NICs by MAC, and a live definition's alias, address or backing chain would not
// match the persistent one.
func deviceXML(disk libvirtxml.DomainDisk) (string, error) {
	disk.Alias, disk.Address, disk.BackingStore, disk.Boot = nil, nil, nil, nil
	return disk.Marshal()
}

// removableVolume is the volume --remove-storage may delete with the disk, or the reason it
// may not: only a volume hvctl made for this VM, outside the image and ISO stores, writable and
// not shared, that no other VM uses and no other volume is based on.
func removableVolume(ctx context.Context, o *DiskDetachOptions, d *virt.Domain, disk libvirtxml.DomainDisk) (string, error) {
	conn := d.Conn()
	refuse := func(why string) (string, error) {
		return "", errs.New(errs.Conflict, "--remove-storage: not deleting the storage of %s: %s; nothing changed", o.Target, why).
			WithHint("detach without --remove-storage to keep it")
	}
	switch {
	case disk.Device == "cdrom" || disk.Device == "floppy":
		return refuse("it is removable media")
	case disk.ReadOnly != nil:
		return refuse("it is read-only")
	case disk.Shareable != nil:
		return refuse("it is shareable")
	}
	path := conn.DiskPath(ctx, disk)
	if path == "" {
		return refuse("it has no file (or its volume cannot be found)")
	}
	vol, err := conn.LookupVolumeByPath(ctx, path)
	if errs.KindOf(err) == errs.NotFound {
		return refuse(path + " is not in a libvirt storage pool")
	} else if err != nil {
		return "", err
	}
	if !virt.BelongsTo(vol.Name, d.Name) {
		return refuse(path + " was not made for " + d.Name + " by hvctl")
	}
	cfg, err := o.F.Config()
	if err != nil {
		return "", err
	}
	if conn.Under(path, []string{cfg.Config.Paths.Images, cfg.Config.Paths.ISOs}) {
		return refuse(path + " is in the image store")
	}
	users, err := conn.DiskUsers(ctx, d.Name)
	if err != nil {
		return "", err
	}
	if u := conn.UsersOf(users, path); len(u) > 0 {
		return refuse(path + " is used by " + strings.Join(u, ", "))
	}
	if over, err := conn.VolumeBasedOn(ctx, path); err != nil {
		return "", err
	} else if over != "" {
		return refuse(path + " is the backing file of " + over)
	}
	return vol.Path, nil
}
