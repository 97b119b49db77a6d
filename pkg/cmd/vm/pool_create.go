package vm

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/revert"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
	"libvirt.org/go/libvirtxml"
)

// poolTypes are create's --type values; netfsFormats its --source-format values for netfs.
var (
	poolTypes    = []string{"dir", "logical", "netfs"}
	netfsFormats = []string{"nfs", "cifs", "glusterfs", "auto"}
)

// PoolCreateOptions of `vm pool create`.
type PoolCreateOptions struct {
	F            *cmdutil.Factory
	Name, Type   string
	Path         string   // dir: the directory; netfs: the mount point
	SourceDevs   []string // logical: physical volumes the volume group is built on
	SourceName   string   // logical: the volume group
	SourceHost   string   // netfs: the server
	SourcePath   string   // netfs: the export
	SourceFormat string   // netfs: nfs, cifs, glusterfs, auto
	NoBuild      bool
	NoStart      bool
	NoAutostart  bool
}

// NewCmdPoolCreate builds `vm pool create`.
func NewCmdPoolCreate(f *cmdutil.Factory, runF func(context.Context, *PoolCreateOptions) error) *cobra.Command {
	opts := &PoolCreateOptions{F: f}
	cmd := &cobra.Command{
		Use:         "create NAME [--type dir] --path DIR",
		Annotations: cmdutil.Journaled("pool", nil),
		Short:       "Create a storage pool: defined, built, started and set to autostart",
		Long: `Define a storage pool, build it (make the directory, the volume group or the mount point;
never over data that is there), start it and set it to start with the daemon. --no-build,
--no-start and --no-autostart leave those steps out.

  dir      --path DIR (absolute)
  logical  --source-name VG, and --source-dev DEVICE (repeatable) to build the volume group
           on empty devices; without devices the volume group must exist (nothing is built)
  netfs    --source-host HOST --source-path EXPORT --path MOUNTPOINT [--source-format nfs]

Arguments that do not belong to the type are refused (exit 2). A name that exists is exit 4.
A failure at any step undoes the steps before it (the directory is removed only if create
made it and it is empty), so no half-made pool is left. Prints the pool as show does.`,
		Example: `  vmctl pool create vms --path /var/lib/libvirt/images/vms
  vmctl pool create vg0 --type logical --source-name vg0 --source-dev /dev/sdb
  vmctl pool create nas --type netfs --source-host nas.lan --source-path /export/vms --path /mnt/vms
  vmctl pool create scratch --path /srv/scratch --no-autostart`,
		Args: cmdutil.ExactArgs(1, "the new pool's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if _, err := poolDef(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPoolCreate(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	cmdutil.StringEnumFlag(cmd, &opts.Type, "type", "", "dir", poolTypes, "pool type")
	fl.StringVar(&opts.Path, "path", "", "`DIR` the pool serves (dir) or mounts at (netfs)")
	fl.StringSliceVar(&opts.SourceDevs, "source-dev", nil, "logical: `DEVICE` to build the volume group on (repeatable)")
	fl.StringVar(&opts.SourceName, "source-name", "", "logical: the volume group's `NAME`")
	fl.StringVar(&opts.SourceHost, "source-host", "", "netfs: the file server's `HOST`")
	fl.StringVar(&opts.SourcePath, "source-path", "", "netfs: the `EXPORT` on the server")
	cmdutil.StringEnumFlag(cmd, &opts.SourceFormat, "source-format", "", "", netfsFormats, "netfs: the file system (default nfs)")
	fl.BoolVar(&opts.NoBuild, "no-build", false, "do not build the pool's storage (it exists)")
	fl.BoolVar(&opts.NoStart, "no-start", false, "define (and build) only; implies no autostart")
	fl.BoolVar(&opts.NoAutostart, "no-autostart", false, "do not start the pool with the daemon")
	_ = cmd.MarkFlagDirname("path")
	f.AddOutputFlags(cmd)
	return cmd
}

// poolDef checks the options against the pool type and builds the definition: every problem
// is a usage error naming the flag, before libvirt is touched.
func poolDef(o *PoolCreateOptions) (*libvirtxml.StoragePool, error) {
	if err := cmdutil.ValidateName("pool", o.Name); err != nil {
		return nil, err
	}
	given := map[string]bool{"--path": o.Path != "", "--source-dev": len(o.SourceDevs) > 0, "--source-name": o.SourceName != "",
		"--source-host": o.SourceHost != "", "--source-path": o.SourcePath != "", "--source-format": o.SourceFormat != ""}
	allowed := map[string][]string{
		"dir":     {"--path"},
		"logical": {"--source-dev", "--source-name"},
		"netfs":   {"--path", "--source-host", "--source-path", "--source-format"},
	}[o.Type]
	for _, fl := range []string{"--path", "--source-dev", "--source-name", "--source-host", "--source-path", "--source-format"} {
		if given[fl] && !slices.Contains(allowed, fl) {
			return nil, errs.New(errs.Usage, "pool create: %s does not apply to a %s pool", fl, o.Type).
				WithHint("a %s pool takes %s", o.Type, strings.Join(allowed, ", "))
		}
	}
	absolute := func(flag, p string) error {
		if p == "" {
			return errs.New(errs.Usage, "pool create: a %s pool needs %s", o.Type, flag)
		}
		if !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
			return errs.New(errs.Usage, "pool create: %s %q must be an absolute path below /", flag, output.Escape(p))
		}
		return nil
	}
	def := &libvirtxml.StoragePool{Type: o.Type, Name: o.Name}
	switch o.Type {
	case "dir":
		if err := absolute("--path", o.Path); err != nil {
			return nil, err
		}
		def.Target = &libvirtxml.StoragePoolTarget{Path: filepath.Clean(o.Path)}
	case "logical":
		if o.SourceName == "" {
			return nil, errs.New(errs.Usage, "pool create: a logical pool needs --source-name (the volume group)")
		}
		if err := cmdutil.ValidateName("volume group", o.SourceName); err != nil {
			return nil, err
		}
		src := &libvirtxml.StoragePoolSource{Name: o.SourceName, Format: &libvirtxml.StoragePoolSourceFormat{Type: "lvm2"}}
		for _, d := range o.SourceDevs {
			if err := absolute("--source-dev", d); err != nil {
				return nil, err
			}
			src.Device = append(src.Device, libvirtxml.StoragePoolSourceDevice{Path: filepath.Clean(d)})
		}
		def.Source = src
		def.Target = &libvirtxml.StoragePoolTarget{Path: "/dev/" + o.SourceName}
	case "netfs":
		if o.SourceHost == "" {
			return nil, errs.New(errs.Usage, "pool create: a netfs pool needs --source-host")
		}
		if strings.ContainsAny(o.SourceHost, "/ ") {
			return nil, errs.New(errs.Usage, "pool create: --source-host %q is not a host name or address", output.Escape(o.SourceHost))
		}
		if err := absolute("--source-path", o.SourcePath); err != nil {
			return nil, err
		}
		if err := absolute("--path", o.Path); err != nil {
			return nil, err
		}
		format := o.SourceFormat
		if format == "" {
			format = "nfs"
		}
		def.Source = &libvirtxml.StoragePoolSource{
			Host:   []libvirtxml.StoragePoolSourceHost{{Name: o.SourceHost}},
			Dir:    &libvirtxml.StoragePoolSourceDir{Path: o.SourcePath},
			Format: &libvirtxml.StoragePoolSourceFormat{Type: format},
		}
		def.Target = &libvirtxml.StoragePoolTarget{Path: filepath.Clean(o.Path)}
	}
	return def, nil
}

func runPoolCreate(ctx context.Context, o *PoolCreateOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	def, err := poolDef(o)
	if err != nil {
		return err
	}
	var p model.Pool
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		p, err = createPool(ctx, o, c, def)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "pool create %s", o.Name)
	}
	o.F.Infof("created pool %s (%s, %s)", p.Name, p.Type, p.State)
	return runPoolShowOf(o.F, format, p)
}

// createPool takes the steps in order, each undone if a later one fails (or the command is
// interrupted): the undos wait for libvirt calls still in flight, so a step that completes
// behind an interrupt is undone too.
func createPool(ctx context.Context, o *PoolCreateOptions, c *virt.Conn, def *libvirtxml.StoragePool) (model.Pool, error) {
	r := revert.New()
	defer r.Fail()
	undo := func(what string, fn func(context.Context) error) {
		r.Add(func() {
			cleanup, cancel := virt.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = c.Settle(cleanup)
			if err := fn(cleanup); err != nil && errs.KindOf(err) != errs.NotFound {
				o.F.Warnf("pool create %s: could not undo %s: %v", o.Name, what, err)
			}
		})
	}
	// What build makes, undoing it may remove: only what was not there before (and libvirt
	// removes a directory only when it is empty). On a remote host nobody here can tell.
	targetExisted := true
	if !virt.IsRemote(c.URI) && def.Target != nil && o.Type != "logical" {
		_, err := os.Stat(def.Target.Path)
		targetExisted = !errors.Is(err, fs.ErrNotExist)
	}
	undo("the definition", func(ctx context.Context) error { return c.UndefinePool(ctx, o.Name) })
	if err := c.DefinePool(ctx, def); err != nil {
		if errs.KindOf(err) == errs.Conflict {
			r.Success() // the pool is someone else's: not ours to undefine
		}
		return model.Pool{}, err
	}
	// A logical pool without devices names an existing volume group: there is nothing to build.
	if !o.NoBuild && !(o.Type == "logical" && len(o.SourceDevs) == 0) {
		// A logical pool's storage is deleted by vgremove -f of the volume group's name and
		// pvremove of the devices: only a build that succeeded made them ours. A failed one
		// (devices holding data, the name of an existing volume group) made none of it.
		var built atomic.Bool
		if !targetExisted || o.Type == "logical" {
			undo("the build", func(ctx context.Context) error {
				if o.Type == "logical" && !built.Load() {
					return nil
				}
				_, _ = c.StopPool(ctx, o.Name)
				return c.DeletePoolStorage(ctx, o.Name)
			})
		}
		if err := c.BuildPool(ctx, o.Name, o.Type == "logical"); err != nil {
			if k := errs.KindOf(err); o.Type == "logical" && (k == errs.Interrupted || k == errs.Timeout) {
				vg := o.SourceName
				if vg == "" {
					vg = o.Name
				}
				o.F.Warnf("pool create %s: the build of volume group %s may still finish in libvirtd; if vgs lists it and it is not yours, vgremove it", o.Name, vg)
			}
			return model.Pool{}, err
		}
		built.Store(true)
	}
	if !o.NoStart {
		undo("the start", func(ctx context.Context) error { _, err := c.StopPool(ctx, o.Name); return err })
		if _, err := c.StartPool(ctx, o.Name); err != nil {
			return model.Pool{}, err
		}
		if !o.NoAutostart {
			if _, err := c.SetPoolAutostart(ctx, o.Name, true); err != nil {
				return model.Pool{}, err
			}
		}
	}
	p, err := c.Pool(ctx, o.Name)
	if err != nil {
		return p, err
	}
	r.Success()
	return p, nil
}

// runPoolShowOf prints p as `pool show` does.
func runPoolShowOf(f *cmdutil.Factory, format output.Format, p model.Pool) error {
	return output.Object(f.IO.Out, format, p, poolPairs(p))
}
