package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/fsutil"
	"github.com/hyper-nixos/hvctl/pkg/guestagent"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/progress"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// CpOptions of `vm cp`.
type CpOptions struct {
	F         *cmdutil.Factory
	VM        string
	ToGuest   bool   // host → guest; else guest → host
	Local     string // the host side
	GuestPath string // the guest side, absolute
	Force     bool
	Timeout   time.Duration // of the whole copy
}

// cpCallTimeout bounds each agent call of a copy: the copy as a whole may take long, a stalled
// agent may not.
const cpCallTimeout = time.Minute

// NewCmdCp builds `vm cp`.
func NewCmdCp(f *cmdutil.Factory, runF func(context.Context, *CpOptions) error) *cobra.Command {
	opts := &CpOptions{F: f}
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file between the host and a VM through the guest agent (VM:/path)",
		Long: `Copy one file between the host and a running VM through qemu-guest-agent, in 1 MiB
base64 chunks (guest-file-open/read/write). One side is VM:/absolute/path, the other a host
path (write ./a:b for a host file whose name has a colon before any slash).

The copy keeps the file's permission bits and is checked by size. It never leaves half a
file: into the guest, the data goes to a private hidden file beside the destination
(created 0600), which is size-checked, given its mode and renamed over the destination
(chmod and mv through guest-exec); onto the host, to a temporary file renamed when complete.
On failure, --timeout or Ctrl-C the partial file is removed. A destination that is a
directory receives the file under its own name; an existing file is replaced only with
--force (exit 4 otherwise); directories are refused (pack them with tar through vmctl exec).
A progress bar shows on a terminal. The guest needs a POSIX shell with stat, chmod and mv
(any Linux); agents that block guest-exec or guest-file-* are named with how to allow them.`,
		Example: `  vmctl cp ./app.conf web01:/etc/app/app.conf --force
  vmctl cp web01:/var/log/syslog ./web01-syslog
  vmctl cp backup.tar.gz db01:/root/`,
		Args: cmdutil.ExactArgs(2, "a source and a destination, one of them VM:/path"),
		// Journaled: the VM is inside VM:/path, so the command names it (ReportTargets).
		Annotations:       cmdutil.Journaled("vm:0", map[string]string{cmdutil.AnnTimeout: "1h", cmdutil.AnnTimeoutHelp: "1h for the copy; 1m for each agent call"}),
		ValidArgsFunction: completeCp(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseCpArgs(opts, args[0], args[1]); err != nil {
				return err
			}
			opts.Timeout, _ = f.EffectiveTimeout(cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCp(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "replace an existing destination file")
	f.AddOutputFlags(cmd)
	return cmd
}

// splitRemote reads VM:/path. A host path is anything else: no colon, or a slash before it.
func splitRemote(arg string) (vm, p string, ok bool) {
	i := strings.IndexByte(arg, ':')
	if i <= 0 || strings.Contains(arg[:i], "/") {
		return "", "", false
	}
	return arg[:i], arg[i+1:], true
}

func parseCpArgs(o *CpOptions, src, dst string) error {
	svm, spath, sRemote := splitRemote(src)
	dvm, dpath, dRemote := splitRemote(dst)
	switch {
	case sRemote && dRemote:
		return errs.New(errs.Usage, "cp copies between the host and one VM, not between %s and %s", svm, dvm).
			WithHint("copy to the host first, then on")
	case !sRemote && !dRemote:
		return errs.New(errs.Usage, "cp needs one side in the guest, as VM:/path").WithHint("vmctl cp FILE web01:/tmp/")
	case sRemote:
		o.VM, o.GuestPath, o.Local, o.ToGuest = svm, spath, dst, false
	default:
		o.VM, o.GuestPath, o.Local, o.ToGuest = dvm, dpath, src, true
	}
	if err := cmdutil.ValidateLookupName("VM", o.VM); err != nil {
		return err
	}
	if !strings.HasPrefix(o.GuestPath, "/") {
		return errs.New(errs.Usage, "guest path %q must be absolute (%s:/path)", output.Escape(o.GuestPath), o.VM)
	}
	if o.Local == "" {
		return errs.New(errs.Usage, "empty host path")
	}
	return nil
}

func runCp(ctx context.Context, o *CpOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	cmdutil.ReportTargets(ctx, o.VM) // the operations journal's target
	var res model.CopyResult
	err = withDomain(ctx, o.F, o.VM, false, func(d *virt.Domain) error {
		c := &guestagent.Client{T: d, VM: o.VM, CallTimeout: cpCallTimeout}
		if o.ToGuest {
			res, err = upload(ctx, o, c)
		} else {
			res, err = download(ctx, o, c)
		}
		return err
	})
	if err != nil && errs.KindOf(err) == errs.Timeout && errors.Is(ctx.Err(), context.DeadlineExceeded) &&
		!strings.Contains(err.Error(), "could not be removed") {
		// The copy as a whole ran out of time, not libvirt: say so, not "libvirt did not answer".
		return errs.New(errs.Timeout, "cp %s: the copy did not finish within %s; nothing was left behind", o.VM, o.Timeout).
			WithHint("raise --timeout for large files (copies into a guest run at a few hundred KB/s)")
	}
	if err != nil {
		return errs.Wrap(err, "cp %s", o.VM)
	}
	return output.Object(o.F.IO.Out, format, res, [][2]string{{"name", res.Name}, {"direction", res.Direction},
		{"source", res.Source}, {"destination", res.Destination}, {"size", fmt.Sprint(res.SizeBytes)}, {"mode", res.Mode}})
}

func upload(ctx context.Context, o *CpOptions, c *guestagent.Client) (model.CopyResult, error) {
	f, err := os.Open(o.Local)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return model.CopyResult{}, errs.New(errs.NotFound, "%s: no such file", o.Local)
		}
		return model.CopyResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return model.CopyResult{}, err
	}
	if fi.IsDir() {
		return model.CopyResult{}, errs.New(errs.Usage, "%s is a directory; vmctl cp copies one file", o.Local).
			WithHint("pack it first: tar -czf x.tgz -C DIR . ; vmctl cp x.tgz %s:/tmp/", o.VM)
	}
	if !fi.Mode().IsRegular() {
		return model.CopyResult{}, errs.New(errs.Usage, "%s is not a regular file", o.Local)
	}
	if _, err := c.Require(ctx, guestagent.WriteCommands...); err != nil {
		return model.CopyResult{}, err
	}
	t, err := c.ResolveTarget(ctx, o.GuestPath, filepath.Base(o.Local))
	if err != nil {
		return model.CopyResult{}, err
	}
	if t.Exists && !o.Force {
		return model.CopyResult{}, errs.New(errs.Conflict, "%s:%s exists", o.VM, t.Path).WithHint("--force replaces it")
	}
	mode := fi.Mode().Perm()
	bar := progress.NewBytes(o.F.IO, o.VM+":"+t.Path)
	err = c.WriteFile(ctx, f, fi.Size(), t.Path, mode, func(n int64) { bar.Set(n, fi.Size()) })
	bar.Finish()
	if err != nil {
		return model.CopyResult{}, err
	}
	return model.CopyResult{Name: o.VM, Direction: "to_guest", Source: o.Local, Destination: t.Path, SizeBytes: fi.Size(), Mode: fmt.Sprintf("%04o", mode)}, nil
}

func download(ctx context.Context, o *CpOptions, c *guestagent.Client) (model.CopyResult, error) {
	if _, err := c.Require(ctx, guestagent.ReadCommands...); err != nil {
		return model.CopyResult{}, err
	}
	size, mode, err := c.StatFile(ctx, o.GuestPath)
	if err != nil {
		return model.CopyResult{}, err
	}
	dst, err := localTarget(o.Local, path.Base(o.GuestPath), o.Force)
	if err != nil {
		return model.CopyResult{}, err
	}
	bar := progress.NewBytes(o.F.IO, filepath.Base(dst))
	err = fsutil.WriteAtomicFrom(dst, mode, func(w io.Writer) error {
		return c.ReadFile(ctx, o.GuestPath, w, size, func(n int64) { bar.Set(n, size) })
	})
	bar.Finish()
	if err != nil {
		return model.CopyResult{}, err
	}
	return model.CopyResult{Name: o.VM, Direction: "from_guest", Source: o.GuestPath, Destination: dst, SizeBytes: size, Mode: fmt.Sprintf("%04o", mode)}, nil
}

// localTarget is the host file a guest file named base goes to: dst, or dst/base when dst is a
// directory (or ends in '/'). An existing file is replaced only with force.
func localTarget(dst, base string, force bool) (string, error) {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, base)
	} else if strings.HasSuffix(dst, "/") {
		return "", errs.New(errs.NotFound, "%s: no such directory", dst)
	}
	fi, err := os.Stat(dst)
	switch {
	case err == nil && fi.IsDir():
		return "", errs.New(errs.Conflict, "%s is a directory", dst)
	case err == nil && !fi.Mode().IsRegular():
		return "", errs.New(errs.Conflict, "%s exists and is not a regular file", dst)
	case err == nil && !force:
		return "", errs.New(errs.Conflict, "%s exists", dst).WithHint("--force replaces it")
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	if _, err := os.Stat(filepath.Dir(dst)); errors.Is(err, fs.ErrNotExist) {
		return "", errs.New(errs.NotFound, "%s: no such directory", filepath.Dir(dst))
	}
	return dst, nil
}

// completeCp completes VM names followed by a colon, and host files otherwise.
func completeCp(f *cmdutil.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= 2 || strings.Contains(toComplete, ":") || strings.ContainsAny(toComplete, "./") {
			return nil, cobra.ShellCompDirectiveDefault
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdutil.CompletionTimeout)
		defer cancel()
		names, directive := cmdutil.VMNameCompletions(ctx, f)
		if directive&cobra.ShellCompDirectiveError != 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		out := make([]string, 0, len(names))
		for _, n := range names {
			out = append(out, n+":/")
		}
		return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveDefault
	}
}
