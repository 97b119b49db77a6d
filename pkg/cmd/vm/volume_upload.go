package vm

import (
	"context"
	"os"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// VolumeUploadOptions of `vm volume upload`.
type VolumeUploadOptions struct {
	F    *cmdutil.Factory
	Ref  volumeRef
	File string
}

// NewCmdVolumeUpload builds `vm volume upload`.
func NewCmdVolumeUpload(f *cmdutil.Factory, runF func(context.Context, *VolumeUploadOptions) error) *cobra.Command {
	opts := &VolumeUploadOptions{F: f}
	cmd := &cobra.Command{
		Use:   "upload POOL/NAME FILE",
		Short: "Copy a local file into a new volume (works on remote hosts)",
		Long: `Copy FILE into the pool as a new volume, through a libvirt stream: the way to fill a pool on
a remote host (-c qemu+ssh://…) or one the local user cannot write. The pool is refreshed
afterwards so that libvirt reads the file's format (a qcow2 image shows as qcow2). A volume of
that name is refused (exit 4; delete it first); a failed or interrupted upload removes the
volume it made. A progress bar shows on a terminal. Prints what was moved.`,
		Example:           "  vmctl volume upload default/debian-12.qcow2 ./debian-12-genericcloud-amd64.qcow2\n  vmctl -c qemu+ssh://root@lab/system volume upload default/seed.iso seed.iso",
		Args:              cmdutil.ExactArgs(2, "the new volume as POOL/NAME and a local file"),
		Annotations:       cmdutil.Journaled("volume:1", map[string]string{cmdutil.AnnTimeout: "none"}),
		ValidArgsFunction: uploadCompletion(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseVolumeRef(args[0])
			if err != nil {
				return err
			}
			if err := cmdutil.ValidateName("volume", ref.Name); err != nil {
				return err
			}
			opts.Ref, opts.File = ref, args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeUpload(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// uploadCompletion completes POOL/ first, then a local file.
func uploadCompletion(f *cmdutil.Factory) cobra.CompletionFunc {
	pools := completePoolsSlash(f)
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return pools(cmd, args, s)
		}
		if len(args) == 1 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func runVolumeUpload(ctx context.Context, o *VolumeUploadOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	fi, err := os.Stat(o.File)
	switch {
	case err != nil:
		return errs.New(errs.NotFound, "volume upload: %v", err)
	case !fi.Mode().IsRegular():
		return errs.New(errs.Usage, "volume upload: %s is not a regular file", output.Escape(o.File))
	}
	bar := progress.NewBytes(o.F.IO, "upload "+o.Ref.Name)
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		return c.UploadFile(ctx, o.Ref.Pool, o.Ref.Name, o.File, bar.Set)
	})
	bar.Finish()
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			err = virt.ErrNoPool(o.Ref.Pool)
		}
		return errs.Wrap(err, "volume upload %s", o.Ref)
	}
	t := model.Transfer{Pool: o.Ref.Pool, Volume: o.Ref.Name, File: o.File, Bytes: fi.Size(), Action: "uploaded"}
	return output.Object(o.F.IO.Out, format, t, transferPairs(t))
}

func transferPairs(t model.Transfer) [][2]string {
	return [][2]string{{"volume", t.Pool + "/" + t.Volume}, {"file", t.File}, {"bytes", output.Dash(formatBytes(t.Bytes))}, {"action", t.Action}}
}
