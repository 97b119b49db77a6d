package vm

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// RenameOptions of `vm rename`.
type RenameOptions struct {
	F        *cmdutil.Factory
	Old, New string
}

// NewCmdRename builds `vm rename`.
func NewCmdRename(f *cmdutil.Factory, runF func(context.Context, *RenameOptions) error) *cobra.Command {
	opts := &RenameOptions{F: f}
	cmd := &cobra.Command{
		Use:         "rename OLD NEW",
		Annotations: cmdutil.Journaled("vm", nil),
		Short:       "Rename a stopped VM, its snapshots, NVRAM and hvctl metadata with it",
		Long: `Give a stopped VM a new name. Its snapshots stay, rewritten to name the new VM (so that a
revert does not bring the old name back); its NVRAM file, when it has libvirt's default name
(OLD_VARS.fd), moves to NEW_VARS.fd, so that a new VM of the old name cannot pick it up; and
hvctl's metadata names the profile NEW when it named OLD. Disk volumes keep their names.

Refused (exit 4): a running or paused VM, one with saved state (restore it, or
'vmctl save --discard'), a transient one, and a NEW that exists. Any failure half-way puts
the old name back. A profile file still says name = "OLD": rename it to match (the output
says which file).`,
		Example:           "  vmctl rename web01 web01-old\n  vmctl stop web01 && vmctl rename web01 www01",
		Args:              cmdutil.ExactArgs(2, "the VM's name and its new name"),
		ValidArgsFunction: completeVMs(f, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Old, opts.New = args[0], args[1]
			if err := cmdutil.ValidateLookupName("VM", opts.Old); err != nil {
				return err
			}
			if err := cmdutil.ValidateName("VM", opts.New); err != nil {
				return err
			}
			if opts.Old == opts.New {
				return errs.New(errs.Usage, "rename: %s is already its name", output.Escape(opts.New))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRename(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runRename(ctx context.Context, o *RenameOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	var done virt.Renamed
	err = withDomain(ctx, o.F, o.Old, false, func(d *virt.Domain) error {
		done, err = d.Rename(ctx, o.New, o.F.Warnf)
		return err
	})
	if err != nil {
		return errs.Wrap(err, "rename %s", o.Old)
	}
	m := model.Renamed{Name: o.New, OldName: o.Old, Snapshots: done.Snapshots, NVRAM: done.NVRAM, ProfileRenamed: done.Profile}
	if done.Profile {
		if cfg, err := o.F.Config(); err == nil {
			p := filepath.Join(cfg.Config.Paths.Profiles, o.Old+".toml")
			if _, err := os.Stat(p); err == nil {
				m.ProfileFile = p
				o.F.Warnf("the profile %s still says name = %q: rename it to %s.toml and set name = %q, or diff and apply will not find %s",
					p, o.Old, o.New, o.New, o.New)
			}
		}
	}
	return output.Object(o.F.IO.Out, format, m, [][2]string{
		{"name", m.Name}, {"old name", m.OldName}, {"snapshots", strconv.Itoa(m.Snapshots)},
		{"nvram", output.Dash(m.NVRAM)}, {"profile renamed", output.YesNo(m.ProfileRenamed)}, {"profile file", output.Dash(m.ProfileFile)},
	})
}
