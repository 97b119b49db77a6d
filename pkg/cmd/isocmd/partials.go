package isocmd

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// PartialsOptions of `isoctl partials`.
type PartialsOptions struct {
	F     *cmdutil.Factory
	Clear bool     // remove them (all, or Names) instead of listing
	Names []string // with Clear: only these images' partials
	Yes   bool
}

// NewCmdPartials builds `isoctl partials`.
func NewCmdPartials(f *cmdutil.Factory, runF func(context.Context, *PartialsOptions) error) *cobra.Command {
	opts := &PartialsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "partials [--clear [NAME...]]",
		Short: "List unfinished downloads: their size, whether a pull can resume them",
		Long: `List the hidden partial files that interrupted pulls left in the stores and in the staging
directory of pulls through libvirt. RESUMABLE says whether running the same pull again
continues it (the server gave a validator); ACTIVE that a pull is writing it right now.

--clear removes them (only the named images' with NAME arguments), never one a pull is
writing. ` + cmdutil.ConfirmHelp,
		Example: "  isoctl partials\n  isoctl partials --clear --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if len(args) > 0 && !opts.Clear {
				return errs.New(errs.Usage, "NAME arguments choose what --clear removes; give --clear")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPartials(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Clear, "clear", false, "remove the unfinished downloads (after confirmation)")
	cmdutil.AddYesFlag(cmd, &opts.Yes)
	f.AddOutputFlags(cmd)
	return cmd
}

// partialDirs are the places unfinished downloads can be: both stores and the staging directory.
func partialDirs(f *cmdutil.Factory) ([]store, error) {
	all, err := stores(f)
	if err != nil {
		return nil, err
	}
	return append(all, store{name: "staging", dir: stagingDir(f)}), nil
}

func listPartials(f *cmdutil.Factory) ([]model.PartialDownload, error) {
	dirs, err := partialDirs(f)
	if err != nil {
		return nil, err
	}
	out := []model.PartialDownload{}
	for _, s := range dirs {
		ps, err := iso.Partials(s.dir)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out = append(out, model.PartialDownload{Name: p.Name, Store: s.name, Path: p.Path, SizeBytes: p.SizeBytes,
				ModifiedAt: p.Modified.UTC().Format(time.RFC3339), URL: p.URL, Resumable: p.Resumable, Active: p.Active})
		}
	}
	return out, nil
}

func runPartials(_ context.Context, o *PartialsOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	rows, err := listPartials(o.F)
	if err != nil {
		return err
	}
	if o.Clear {
		return clearPartials(o, rows)
	}
	cols := []output.Column[model.PartialDownload]{
		{Header: "name", Value: func(p model.PartialDownload) string { return p.Name }},
		{Header: "store", Value: func(p model.PartialDownload) string { return p.Store }},
		{Header: "size", Value: func(p model.PartialDownload) string { return units.Human(uint64(p.SizeBytes)) }},
		{Header: "resumable", Value: func(p model.PartialDownload) string { return output.YesNo(p.Resumable) }},
		{Header: "active", Value: func(p model.PartialDownload) string { return output.YesNo(p.Active) }},
		{Header: "modified", Wide: true, Value: func(p model.PartialDownload) string { return p.ModifiedAt }},
		{Header: "url", Wide: true, Value: func(p model.PartialDownload) string { return output.Dash(p.URL) }},
		{Header: "path", Wide: true, Value: func(p model.PartialDownload) string { return p.Path }},
	}
	return output.List(o.F.IO.Out, format, rows, cols, func(p model.PartialDownload) string { return p.Name })
}

// clearPartials removes the listed partials (those of Names when given) after confirmation;
// one a pull is writing stays, and says so.
func clearPartials(o *PartialsOptions, rows []model.PartialDownload) error {
	f := o.F
	var picked []model.PartialDownload
	for _, p := range rows {
		if len(o.Names) == 0 || slices.Contains(o.Names, p.Name) {
			picked = append(picked, p)
		}
	}
	for _, n := range o.Names {
		if !slices.ContainsFunc(picked, func(p model.PartialDownload) bool { return p.Name == n }) {
			return errs.New(errs.NotFound, "no unfinished download of %s", n).WithHint("see them with: isoctl partials")
		}
	}
	paths := make([]string, 0, len(picked))
	for _, p := range picked {
		paths = append(paths, p.Path)
	}
	if err := cmdutil.Confirm(f.IO, o.Yes, cmdutil.Question{Verb: "remove", What: "unfinished downloads", Done: "removed", Objects: paths}); err != nil {
		return err
	}
	var failed []string
	for _, p := range picked {
		if err := iso.RemovePartialDownload(filepath.Dir(p.Path), p.Name); err != nil {
			f.Infof("%s: kept %s: %v", f.Prog, p.Path, err)
			failed = append(failed, p.Name)
			continue
		}
		f.Infof("%s: removed %s", f.Prog, p.Path)
	}
	if len(failed) > 0 {
		return errs.New(errs.Conflict, "%d unfinished download(s) kept: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
