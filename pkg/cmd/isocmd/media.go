package isocmd

import (
	"context"
	"path/filepath"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// AttachOptions of `isoctl attach`.
type AttachOptions struct {
	F     *cmdutil.Factory
	VM    string
	Image string
}

// NewCmdAttach builds `isoctl attach`.
func NewCmdAttach(f *cmdutil.Factory, runF func(context.Context, *AttachOptions) error) *cobra.Command {
	opts := &AttachOptions{F: f}
	cmd := &cobra.Command{
		Use:         "attach VM NAME",
		Annotations: cmdutil.Journaled("vm:1", nil),
		Short:       "Put a stored ISO into a VM's CD-ROM drive (live when it runs)",
		Example:     "  isoctl attach web01 debian-12-netinst.iso\n  isoctl attach web01 debian-12-netinst.iso --json",
		Long: `Insert the stored, verified ISO NAME into the VM's CD-ROM drive. A running VM sees the new
medium at once and keeps it after a restart; a stopped one gets it in its definition.
Unverified (--insecure) images are attached too, with a warning. With --json the change is
printed as an object (vm, device, image, path).`,
		Args:              cmdutil.ExactArgs(2, "a VM and an image name"),
		ValidArgsFunction: completeVMThenImage(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM, opts.Image = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAttach(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runAttach(ctx context.Context, o *AttachOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	s, r, err := find(ctx, f, o.Image)
	if err != nil {
		return err
	}
	if !r.Verified {
		f.Infof("%s: warning: %s was stored without verification", f.Prog, r.Name)
	}
	path := filepath.Join(s.dir, r.Name)
	dev, err := changeMedia(ctx, f, o.VM, path)
	if err != nil {
		return errs.Wrap(err, "attach %s", o.VM)
	}
	return reportMedia(f, format, model.MediaChange{VM: o.VM, Device: dev, Image: r.Name, Path: path})
}

// EjectOptions of `isoctl eject`.
type EjectOptions struct {
	F  *cmdutil.Factory
	VM string
}

// NewCmdEject builds `isoctl eject`.
func NewCmdEject(f *cmdutil.Factory, runF func(context.Context, *EjectOptions) error) *cobra.Command {
	opts := &EjectOptions{F: f}
	cmd := &cobra.Command{
		Use:               "eject VM",
		Annotations:       cmdutil.Journaled("vm", nil),
		Short:             "Empty a VM's CD-ROM drive",
		Example:           "  isoctl eject web01",
		Args:              cmdutil.ExactArgs(1, "a VM"),
		ValidArgsFunction: completeVMThenImage(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.VM = args[0]
			if err := cmdutil.ValidateLookupName("VM", opts.VM); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runEject(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runEject(ctx context.Context, o *EjectOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	dev, err := changeMedia(ctx, o.F, o.VM, "")
	if err != nil {
		return errs.Wrap(err, "eject %s", o.VM)
	}
	return reportMedia(o.F, format, model.MediaChange{VM: o.VM, Device: dev})
}

// reportMedia prints a media change: an object under --json, the VM under -o name, else one
// line for people on stderr.
func reportMedia(f *cmdutil.Factory, format output.Format, m model.MediaChange) error {
	if format.IsJSON() || format.Kind == output.Name {
		return output.Object(f.IO.Out, format, m, nil)
	}
	if m.Image == "" {
		f.Infof("%s: %s: %s is empty", f.Prog, m.VM, m.Device)
	} else {
		f.Infof("%s: %s: %s now holds %s", f.Prog, m.VM, m.Device, m.Image)
	}
	return nil
}

func changeMedia(ctx context.Context, f *cmdutil.Factory, vm, path string) (string, error) {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	d, err := conn.Domain(ctx, vm)
	if err != nil {
		return "", err
	}
	defer d.Free()
	return d.ChangeMedia(ctx, path, []string{domainxml.SeedVolume(vm)})
}
