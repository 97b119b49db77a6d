package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// PoolDeleteOptions of `vm pool delete`.
type PoolDeleteOptions struct {
	F          *cmdutil.Factory
	Name       string
	DeleteData bool
	Force      bool
	Yes        bool
}

// NewCmdPoolDelete builds `vm pool delete`.
func NewCmdPoolDelete(f *cmdutil.Factory, runF func(context.Context, *PoolDeleteOptions) error) *cobra.Command {
	opts := &PoolDeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:         "delete POOL",
		Annotations: cmdutil.Journaled("pool", nil),
		Short:       "Remove a storage pool's definition (its data only with --delete-data)",
		Long: `Stop the pool and remove its definition. The directory, volume group or export and every
volume in it stay where they are, and the output says so: 'vmctl pool create' with the same
arguments serves them again.

--delete-data removes the data too: each volume, then the pool's storage itself (an empty
directory, the volume group), and lists what it removed. A target that is a symlink to a
directory stays; the directory it points to is removed once its volumes are. It is refused (exit 4) while any VM, running or not, has a disk
in the pool, or while a volume of it backs an overlay outside it (a disk kept by vmctl delete,
a template in another pool), with or without --force. Without --delete-data a pool that VMs' disks are in is
refused unless --force: their definitions would name a pool that no longer exists. A directory
with files in it, in a directory pool, is refused too (exit 4, nothing deleted): libvirt removes
only an empty one.

` + cmdutil.ConfirmHelp,
		Example: `  vmctl pool delete scratch --yes
  vmctl pool delete old-vms --delete-data   # lists the volumes and asks`,
		Args:              cmdutil.ExactArgs(1, "one pool name"),
		ValidArgsFunction: completePools(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := cmdutil.ValidateLookupName("pool", opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolDelete(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DeleteData, "delete-data", false, "delete every volume and the pool's storage too")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove the definition even though VMs' disks are in the pool (never with --delete-data)")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func runPoolDelete(ctx context.Context, o *PoolDeleteOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var ch model.PoolChange
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		ch, err = deletePool(ctx, o, c)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "pool delete %s", o.Name)
	}
	if ch.Kept != "" {
		o.F.Infof("%s: kept %s", o.F.Prog, ch.Kept)
	}
	return output.Object(o.F.IO.Out, format, ch, [][2]string{
		{"name", ch.Name}, {"action", ch.Action}, {"steps", strings.Join(ch.Steps, ", ")},
		{"removed", output.Dash(strings.Join(ch.Removed, ", "))}, {"kept", output.Dash(ch.Kept)},
	})
}

// deletePool checks everything first (the pool, who uses it, what --delete-data would remove),
// asks, then takes the steps.
func deletePool(ctx context.Context, o *PoolDeleteOptions, c *virt.Conn) (model.PoolChange, error) {
	ch := model.PoolChange{Name: o.Name, Action: "deleted", Steps: []string{}}
	p, err := c.Pool(ctx, o.Name)
	if err != nil {
		return ch, err
	}
	users, err := c.PoolUsers(ctx, o.Name)
	if err != nil {
		return ch, errs.Wrap(err, "cannot tell which VMs use pool %s", o.Name)
	}
	if len(users) > 0 {
		vms := slices.Sorted(func(yield func(string) bool) {
			for vm := range users {
				if !yield(vm) {
					return
				}
			}
		})
		switch {
		case o.DeleteData:
			return ch, errs.New(errs.Conflict, "VMs have disks in pool %s: %s; not deleting its data", o.Name, strings.Join(vms, ", ")).
				WithHint("delete those VMs or move their disks first")
		case !o.Force:
			return ch, errs.New(errs.Conflict, "VMs have disks in pool %s: %s", o.Name, strings.Join(vms, ", ")).
				WithHint("--force removes the definition anyway (their data stays; their definitions then name a missing pool)")
		}
		o.F.Warnf("removing pool %s under VMs with disks in it: %s", o.Name, strings.Join(vms, ", "))
	}
	q := cmdutil.Question{Verb: "delete", What: "storage pool (its data stays)", Done: "deleted", Objects: []string{o.Name}}
	var vols []model.Volume
	// A directory pool's target may be a symlink to its real directory: libvirt cannot remove
	// the storage then (rmdir of a link), so the real directory is removed here, once empty, and
	// the link, which is not the pool's, stays.
	realDir, linked := "", false
	if o.DeleteData && dirPool(p.Type) {
		realDir, linked = c.LinkedPoolDir(p.Path)
	}
	if o.DeleteData {
		if !p.Active {
			// Volumes are listed only while a pool is active; what would be deleted must be seen.
			if _, err := c.StartPool(ctx, o.Name); err != nil {
				return ch, errs.Wrap(err, "start the pool to list what --delete-data would remove")
			}
			ch.Steps = append(ch.Steps, "started")
			// Declined or failed before anything was deleted: the pool goes back to inactive.
			defer func() {
				if len(ch.Steps) == 1 {
					_, _ = c.StopPool(context.WithoutCancel(ctx), o.Name)
				}
			}()
		}
		if vols, err = c.Volumes(ctx, o.Name); err != nil {
			return ch, err
		}
		if err := basesOfOverlaysElsewhere(ctx, c, o.Name, vols); err != nil {
			return ch, err
		}
		if err := nonEmptyDirVolume(c, o.Name, p.Type, vols); err != nil {
			return ch, err
		}
		q.What = "storage pool and its data"
		q.Objects = []string{o.Name + " (" + output.Dash(p.Path) + ")"}
		if linked {
			q.Objects[0] = o.Name + " (" + realDir + ", through the symlink " + p.Path + ", which stays)"
		}
		for _, v := range vols {
			q.Objects = append(q.Objects, "volume "+v.Name)
		}
	}
	if err := cmdutil.Confirm(o.F.IO, o.Yes, q); err != nil {
		return ch, err
	}
	for _, v := range vols {
		if err := c.DeleteVolumeIn(ctx, o.Name, v.Name); err != nil {
			return ch, errs.Wrap(err, "%sdelete volume %s (pool and remaining volumes kept)", removedSoFar(ch.Removed), v.Name)
		}
		// Where the volume was: through a linked target, its real directory. The volume's own
		// name is not resolved: a volume that is a symlink is removed, not what it points to.
		path := v.Path
		if linked && filepath.Dir(path) == filepath.Clean(p.Path) {
			path = filepath.Join(realDir, filepath.Base(path))
		}
		ch.Removed = append(ch.Removed, path)
	}
	if len(vols) > 0 {
		ch.Steps = append(ch.Steps, "volumes-deleted")
	}
	if stopped, err := c.StopPool(ctx, o.Name); err != nil {
		return ch, err
	} else if stopped {
		ch.Steps = append(ch.Steps, "stopped")
	}
	switch {
	case o.DeleteData && linked:
		if err := c.RemoveEmptyPoolDir(realDir); err != nil {
			return ch, errs.Wrap(err, "%sdelete the pool's directory (it and the definition are kept)", removedSoFar(ch.Removed))
		}
		ch.Steps = append(ch.Steps, "storage-deleted")
		ch.Removed = append(ch.Removed, realDir)
		ch.Kept = "the symlink " + p.Path + " (it pointed to the pool's directory " + realDir + ", now removed)"
	case o.DeleteData:
		if err := c.DeletePoolStorage(ctx, o.Name); err != nil {
			return ch, errs.Wrap(err, "%sdelete the pool's storage (the definition is kept)", removedSoFar(ch.Removed))
		}
		ch.Steps = append(ch.Steps, "storage-deleted")
		if p.Path != "" {
			ch.Removed = append(ch.Removed, p.Path)
		}
	default:
		ch.Kept = "the pool's storage"
		if p.Path != "" {
			ch.Kept += " at " + p.Path
		}
		ch.Kept += " (--delete-data removes it)"
	}
	if p.Persistent {
		if err := c.UndefinePool(ctx, o.Name); err != nil {
			return ch, err
		}
		ch.Steps = append(ch.Steps, "undefined")
	}
	return ch, nil
}

// nonEmptyDirVolume refuses, before anything is deleted, a directory pool holding a directory
// with files in it: libvirt lists it as a volume of type dir and removes only an empty one, so
// the volumes listed before it went and the pool stayed, half-deleted. Only here, on the
// daemon's machine, can the directory be read.
func nonEmptyDirVolume(c *virt.Conn, pool, typ string, vols []model.Volume) error {
	if !dirPool(typ) || virt.IsRemote(c.URI) {
		return nil
	}
	for _, v := range vols {
		if v.Type != "dir" || v.Path == "" {
			continue
		}
		if entries, err := os.ReadDir(v.Path); err == nil && len(entries) > 0 {
			return errs.New(errs.Conflict, "volume %s of pool %s is a directory with files in it (%s); nothing deleted", v.Name, pool, v.Path).
				WithHint("empty or move that directory first: libvirt removes only an empty one")
		}
	}
	return nil
}

// dirPool says whether libvirt removes a pool type's storage by removing its target directory.
func dirPool(typ string) bool { return typ == "dir" || typ == "fs" || typ == "netfs" }

// removedSoFar opens an error after some volumes were removed, so that the one line says what
// is gone as well as what failed.
func removedSoFar(removed []string) string {
	switch len(removed) {
	case 0:
		return ""
	case 1:
		return "removed " + removed[0] + ", then: "
	}
	return fmt.Sprintf("removed %d volumes (%s …), then: ", len(removed), removed[0])
}

// basesOfOverlaysElsewhere refuses --delete-data of a pool one of whose volumes backs an
// overlay outside it (a disk kept when its VM was deleted, a template in another pool): the
// overlay would be left without its base, as volume delete refuses to leave one. An overlay in
// the same pool goes with its base.
func basesOfOverlaysElsewhere(ctx context.Context, c *virt.Conn, pool string, vols []model.Volume) error {
	overlays, err := c.Overlays(ctx)
	if err != nil {
		return errs.Wrap(err, "cannot tell which volumes back others; not deleting the data of pool %s", pool)
	}
	inside := map[string]bool{}
	for _, v := range vols {
		inside[v.Path], inside[c.RealPath(v.Path)] = true, true
	}
	var refused []string
	for _, v := range vols {
		var outside []string
		for _, ov := range c.OverlaysOn(overlays, v.Path) {
			if !inside[ov] && !inside[c.RealPath(ov)] {
				outside = append(outside, ov)
			}
		}
		if len(outside) > 0 {
			refused = append(refused, v.Name+" (backing file of "+strings.Join(outside, ", ")+")")
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return errs.New(errs.Conflict, "volumes of pool %s back overlays outside it: %s; not deleting its data", pool, strings.Join(refused, "; ")).
		WithHint("delete those overlays first (vmctl volume delete POOL/NAME), or copy them to stand alone")
}
