package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// DiskResizeOptions of `vm disk resize`.
type DiskResizeOptions struct {
	F          *cmdutil.Factory
	VM, Target string
	Size       uint64
}

// NewCmdDiskResize builds `vm disk resize`.
func NewCmdDiskResize(f *cmdutil.Factory, runF func(context.Context, *DiskResizeOptions) error) *cobra.Command {
	opts := &DiskResizeOptions{F: f}
	cmd := &cobra.Command{
		Use:         "resize VM TARGET SIZE",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Grow a VM's disk, live when it runs",
		Long: `Grow the disk at TARGET to SIZE (e.g. 40GiB). A running VM's disk grows live (QEMU resizes the
image and the guest sees the new size at once; growing its partitions and file systems is the
guest's business); a stopped VM's disk must be a volume of a storage pool, which libvirt
grows. Disks never shrink: a SIZE below the current one is refused (exit 4), the same one
changes nothing (action none). With --json the change is printed as an object.`,
		Example: `  vmctl disk resize web01 vdb 40GiB
  vmctl disk resize db01 vda 120G --json`,
		Args:              cmdutil.ExactArgs(3, "a VM, a disk target and a size"),
		ValidArgsFunction: completeDiskTargets(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.Target = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			n, err := parseSize("size", args[2])
			if err != nil {
				return err
			}
			opts.Size = n
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDiskResize(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runDiskResize(ctx context.Context, o *DiskResizeOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var change model.DeviceChange
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		change, err = resizeDisk(ctx, o, d)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "disk resize %s", o.VM)
	}
	return reportChange(o.F, format, change)
}

func resizeDisk(ctx context.Context, o *DiskResizeOptions, d *virt.Domain) (model.DeviceChange, error) {
	conn := d.Conn()
	change := model.DeviceChange{VM: d.Name, Kind: "disk", Target: o.Target, Action: "resized", CapacityBytes: sizePtr(o.Size)}
	defs, err := d.Definitions(ctx)
	if err != nil {
		return change, err
	}
	liveDisk, cfgDisk := virt.FindDisk(defs.Live, o.Target), virt.FindDisk(defs.Config, o.Target)
	disk := liveDisk
	if disk == nil {
		disk = cfgDisk
	}
	switch {
	case disk == nil:
		return change, errs.New(errs.NotFound, "%s has no disk %s", d.Name, o.Target).WithHint("see its disks with: vmctl disk list %s", d.Name)
	case disk.Device == "cdrom" || disk.Device == "floppy" || disk.ReadOnly != nil:
		return change, errs.New(errs.Conflict, "%s of %s is read-only media: nothing to grow", o.Target, d.Name)
	}
	change.Source = domainxml.DescribeDisk(*disk).Source
	change.Live, change.Config = liveDisk != nil, cfgDisk != nil
	shrink := func(have uint64) error {
		return errs.New(errs.Conflict, "%s of %s is %s: not shrinking it to %s", o.Target, d.Name, units.Human(have), units.Human(o.Size)).
			WithHint("disks only grow: shrinking one cuts off the file systems on it")
	}
	if liveDisk != nil {
		// The running QEMU owns the image: only it may resize it, and the guest sees it at once.
		have, err := d.DiskCapacity(ctx, o.Target)
		if err != nil {
			return change, err
		}
		switch {
		case o.Size < have:
			return change, shrink(have)
		case o.Size == have:
			change.Action = "none"
			return change, nil
		}
		return change, d.GrowDisk(ctx, o.Target, o.Size)
	}
	path := conn.DiskPath(ctx, *disk)
	vol, err := conn.LookupVolumeByPath(ctx, path)
	if errs.KindOf(err) == errs.NotFound || path == "" {
		return change, errs.New(errs.Conflict, "%s of %s is no volume of a storage pool: libvirt cannot grow it while the VM is stopped", o.Target, d.Name).
			WithHint("start the VM and resize it live, or grow the file with qemu-img resize")
	} else if err != nil {
		return change, err
	}
	switch {
	case o.Size < vol.Capacity:
		return change, shrink(vol.Capacity)
	case o.Size == vol.Capacity:
		change.Action = "none"
		return change, nil
	}
	pool, err := conn.PoolOf(ctx, vol.Path)
	if err != nil {
		return change, err
	}
	return change, conn.GrowVolume(ctx, pool, vol.Name, o.Size)
}
