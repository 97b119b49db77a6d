package isocmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/spf13/cobra"
)

// RmOptions of `isoctl rm`.
type RmOptions struct {
	F     *cmdutil.Factory
	Name  string // the image's file name (a catalogue entry names a release too loosely)
	Force bool   // remove even while a VM uses it, or when that cannot be told
	Yes   bool   // no confirmation prompt (needed without a terminal)
}

// NewCmdRm builds `isoctl rm`.
func NewCmdRm(f *cmdutil.Factory, runF func(context.Context, *RmOptions) error) *cobra.Command {
	opts := &RmOptions{F: f}
	cmd := &cobra.Command{
		Use:         "rm NAME",
		Annotations: cmdutil.Journaled("image", nil),
		Short:       "Remove an image and its record (refused while a VM uses it)",
		Example:     "  isoctl rm debian-12-netinst.iso\n  isoctl rm debian-12-netinst.iso --yes",
		Long: `Remove a stored image and its provenance record. Refused (exit 4) while any VM uses it,
directly or as the backing file of an overlay, naming every such VM; refused too when some
VM's disks cannot be read, since the image may be one of them. --force removes it anyway.
` + cmdutil.ConfirmHelp,
		Args:              cmdutil.ExactArgs(1, "one image name"),
		ValidArgsFunction: completeImages(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRm(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "remove even while a VM uses it")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	return cmd
}

func runRm(ctx context.Context, o *RmOptions) error {
	f := o.F
	s, r, err := find(ctx, f, o.Name)
	if err != nil {
		return err
	}
	if r.Name != o.Name {
		return errs.New(errs.Usage, "%s is a catalogue entry; give the image's file name (%s) to remove it", o.Name, r.Name)
	}
	path := filepath.Join(s.dir, o.Name)
	// Fails closed: when the VMs' disks cannot all be read, nothing counts as unused.
	users, err := imageUsers(ctx, f)
	if err != nil {
		if !o.Force {
			return errs.Wrap(err, "rm %s: cannot tell whether a VM uses it", o.Name).(*errs.Error).
				WithHint("fix the error above, or --force to remove it unchecked")
		}
		f.Infof("%s: warning: removing %s unchecked: %v", f.Prog, o.Name, err)
	}
	if u := usersOf(users, path, !remote(f)); len(u) > 0 {
		if !o.Force {
			return errs.New(errs.Conflict, "image %s is used by %s", o.Name, strings.Join(u, ", ")).WithHint("detach it first, or --force")
		}
		f.Infof("%s: warning: removing %s, which %s uses", f.Prog, o.Name, strings.Join(u, ", "))
	}
	if err := cmdutil.Confirm(f.IO, o.Yes, cmdutil.Question{Verb: "remove", What: "the image and its record", Done: "removed", Objects: []string{path}}); err != nil {
		return err
	}
	if remote(f) {
		if err := removeRemote(ctx, f, s, path); err != nil {
			return err
		}
	} else {
		if err := os.Remove(path); err != nil {
			return errs.Wrap(err, "rm %s", o.Name)
		}
		if err := iso.RemoveRecord(s.dir, o.Name); err != nil {
			f.Infof("%s: warning: %s removed, its record stays: %v", f.Prog, o.Name, err)
		}
		refreshPool(ctx, f, s)
	}
	f.Infof("%s: removed %s", f.Prog, path)
	return nil
}

// removeRemote deletes the image's volume and its record's, and a record of old (NAME.json)
// when it is one (never an image that happens to be named so).
func removeRemote(ctx context.Context, f *cmdutil.Factory, s store, path string) error {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	have := map[string]bool{}
	if pool, ok, err := conn.PoolServing(ctx, s.dir); err == nil && ok {
		files, _ := conn.PoolFiles(ctx, pool)
		for _, p := range files {
			have[p] = true
		}
	}
	if err := conn.DeleteVolume(ctx, path); err != nil {
		return err
	}
	_ = conn.DeleteVolume(ctx, path+iso.RecordSuffix)
	if _, ok := remoteRecordOf(have, path+".json"); ok {
		if _, ok := readRemoteRecord(ctx, conn, path+".json", path); ok {
			_ = conn.DeleteVolume(ctx, path+".json")
		}
	}
	return nil
}
