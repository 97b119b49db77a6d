package vm

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// VolumeDownloadOptions of `vm volume download`.
type VolumeDownloadOptions struct {
	F    *cmdutil.Factory
	Ref  volumeRef
	File string
	Yes  bool
}

// NewCmdVolumeDownload builds `vm volume download`.
func NewCmdVolumeDownload(f *cmdutil.Factory, runF func(context.Context, *VolumeDownloadOptions) error) *cobra.Command {
	opts := &VolumeDownloadOptions{F: f}
	cmd := &cobra.Command{
		Use:   "download POOL/NAME FILE",
		Short: "Copy a volume into a local file (works on remote hosts)",
		Long: `Copy the volume's file, as it is on the pool (a qcow2 stays qcow2), into FILE through a
libvirt stream. FILE is written atomically with mode 0600 (a disk may hold secrets): it
appears complete or not at all. An existing FILE is replaced only when confirmed. A progress
bar shows on a terminal. Prints what was moved.

` + cmdutil.ConfirmHelp,
		Example:           "  vmctl volume download default/web01.qcow2 /backup/web01.qcow2",
		Args:              cmdutil.ExactArgs(2, "a volume as POOL/NAME and a local file"),
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none"},
		ValidArgsFunction: downloadCompletion(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseVolumeRef(args[0])
			if err != nil {
				return err
			}
			opts.Ref, opts.File = ref, args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVolumeDownload(cmd.Context(), opts)
		},
	}
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

func downloadCompletion(f *cmdutil.Factory) cobra.CompletionFunc {
	vols := completeVolumes(f, false)
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return vols(cmd, args, s)
		}
		if len(args) == 1 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func runVolumeDownload(ctx context.Context, o *VolumeDownloadOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var n int64
	// libvirt streams a volume only over a read-write connection.
	err = withConn(ctx, o.F, false, func(c *virt.Conn) error {
		total, err := c.VolumeBytes(ctx, o.Ref.Pool, o.Ref.Name)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(o.File); err == nil {
			if !fi.Mode().IsRegular() {
				return errs.New(errs.Usage, "%s exists and is not a regular file", output.Escape(o.File))
			}
			if err := cmdutil.Confirm(o.F.IO, o.Yes, cmdutil.Question{Verb: "overwrite", What: "file", Done: "overwritten", Objects: []string{o.File}}); err != nil {
				return err
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		bar := progress.NewBytes(o.F.IO, "download "+o.Ref.Name)
		defer bar.Finish()
		return fsutil.WriteAtomicFrom(o.File, 0o600, func(w io.Writer) error {
			return c.DownloadVolume(ctx, o.Ref.Pool, o.Ref.Name, w, func(done int64) {
				n = done
				bar.Set(done, int64(total))
			})
		})
	})
	if err != nil {
		return errs.Wrap(err, "volume download %s", o.Ref)
	}
	t := model.Transfer{Pool: o.Ref.Pool, Volume: o.Ref.Name, File: o.File, Bytes: n, Action: "downloaded"}
	return output.Object(o.F.IO.Out, format, t, transferPairs(t))
}

func formatBytes(n int64) string { return strconv.FormatInt(n, 10) }
