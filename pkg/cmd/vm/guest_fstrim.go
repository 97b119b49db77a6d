package vm

import (
	"context"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// GuestFSTrimOptions of `vm guest fstrim`.
type GuestFSTrimOptions struct {
	F    *cmdutil.Factory
	Name string
}

// NewCmdGuestFSTrim builds `vm guest fstrim`.
func NewCmdGuestFSTrim(f *cmdutil.Factory, runF func(context.Context, *GuestFSTrimOptions) error) *cobra.Command {
	opts := &GuestFSTrimOptions{F: f}
	cmd := &cobra.Command{
		Use:   "fstrim NAME",
		Short: "Have the guest discard unused blocks of its file systems, to shrink thin disks",
		Long: `Ask qemu-guest-agent to run fstrim on every mounted file system of the running guest, so
that blocks the guest no longer uses are given back to thin (qcow2, sparse) disks. The disks
need discard enabled to pass it on to the image.`,
		Example:           "  vmctl guest fstrim web01\n  vmctl guest fstrim web01 --timeout 10m",
		Args:              cmdutil.ExactArgs(1, "one VM name"),
		ValidArgsFunction: completeVMs(f, false),
		Annotations:       cmdutil.Journaled("vm", map[string]string{cmdutil.AnnTimeout: "5m"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runGuestFSTrim(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runGuestFSTrim(ctx context.Context, o *GuestFSTrimOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	err = withDomain(ctx, o.F, o.Name, false, func(d *virt.Domain) error { return d.FSTrim(ctx) })
	if err != nil {
		return errs.Wrap(err, "guest fstrim %s", o.Name)
	}
	r := model.GuestAction{Name: o.Name, Action: "trimmed"}
	return output.Object(o.F.IO.Out, format, r, [][2]string{{"name", r.Name}, {"action", r.Action}})
}
