package isocmd

import (
	"context"
	"path/filepath"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// ImportOptions of `isoctl import`.
type ImportOptions struct {
	F      *cmdutil.Factory
	Path   string // the file, or with Legacy the Hyper-NixOS ISO directory
	Name   string
	SHA    string
	Store  string
	Legacy bool
}

// NewCmdImport builds `isoctl import`.
func NewCmdImport(f *cmdutil.Factory, runF func(context.Context, *ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{F: f}
	cmd := &cobra.Command{
		Use:   "import FILE | import --legacy DIR",
		Short: "Copy a local image into the store, or take over a Hyper-NixOS ISO directory",
		Long: `Copy FILE into the store, hashing it on the way; with --sha256 it is verified (exit 8 on a
mismatch, nothing stored), without it the record marks it unverified. The copy is no more
readable than FILE: a file only its owner can read (a seed with secrets) is stored 0600.

--legacy DIR imports the ISOs of a Hyper-NixOS ISO directory: each is hashed again and
compared with its .sha256 sidecar; the old .verified markers are ignored (they were empty
files bound to nothing). Files that fail are listed and not imported (exit 8).`,
		Example:     "  isoctl import ~/Downloads/alpine-virt-3.20.iso --sha256 …\n  isoctl import --legacy /var/lib/hypervisor/isos",
		Args:        cmdutil.ExactArgs(1, "a file or, with --legacy, a directory"),
		Annotations: cmdutil.Journaled("image", map[string]string{cmdutil.AnnTimeout: "6h"}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Path = args[0]
			if opts.Legacy && (opts.Name != "" || opts.SHA != "" || opts.Store != "") {
				return errs.New(errs.Usage, "--legacy imports a directory's ISOs as they are named, verified by their sidecars: --name, --sha256 and --store do not apply")
			}
			if opts.SHA != "" {
				if _, err := iso.ParseDigest(opts.SHA); err != nil {
					return &errs.Error{Kind: errs.Usage, Msg: "--sha256: " + err.Error(), Err: err}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runImport(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "store under `NAME` (default: the file's name)")
	cmd.Flags().StringVar(&opts.SHA, "sha256", "", "expected SHA-256 or SHA-512 `HEX`")
	addStoreFlag(cmd, &opts.Store)
	cmd.Flags().BoolVar(&opts.Legacy, "legacy", false, "import a Hyper-NixOS ISO directory")
	f.AddOutputFlags(cmd)
	return cmd
}

func runImport(ctx context.Context, o *ImportOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	if o.Legacy {
		return importLegacy(ctx, o, format)
	}
	var expect *iso.Digest
	if o.SHA != "" {
		d, err := iso.ParseDigest(o.SHA)
		if err != nil {
			return &errs.Error{Kind: errs.Usage, Msg: "--sha256: " + err.Error(), Err: err}
		}
		expect = &d
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(o.Path)
	}
	s, err := storeFor(f, name, o.Store)
	if err != nil {
		return err
	}
	rec, err := iso.ImportFile(ctx, o.Path, s.dir, name, expect, f.Now())
	if err != nil {
		return errs.Wrap(err, "import %s", o.Path)
	}
	refreshPool(ctx, f, s)
	im := describe(ctx, f, s, rec)
	return output.Object(f.IO.Out, format, im, imagePairs(im))
}

func importLegacy(ctx context.Context, o *ImportOptions, format output.Format) error {
	f := o.F
	if err := iso.CheckLegacyDir(o.Path); err != nil {
		return err // before the store is set up: nothing is made for a mistyped directory
	}
	s, err := storeFor(f, ".iso", storeISOs)
	if err != nil {
		return err
	}
	res, err := iso.ImportLegacy(ctx, o.Path, s.dir, f.Now())
	if err != nil {
		return err
	}
	rows := []model.LegacyImport{}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
			rows = append(rows, model.LegacyImport{File: r.File, Error: r.Err.Error()})
			continue
		}
		rows = append(rows, model.LegacyImport{File: r.File, OK: true, SHA256: r.Record.SHA256})
	}
	refreshPool(ctx, f, s)
	cols := []output.Column[model.LegacyImport]{
		{Header: "file", Value: func(r model.LegacyImport) string { return r.File }},
		{Header: "result", Value: func(r model.LegacyImport) string {
			if r.OK {
				return "imported, verified"
			}
			return "NOT imported: " + r.Error
		}},
	}
	if err := output.List(f.IO.Out, format, rows, cols, func(r model.LegacyImport) string { return r.File }); err != nil {
		return err
	}
	if failed > 0 {
		return errs.New(errs.Verify, "%d of %d file(s) not imported", failed, len(rows))
	}
	return nil
}
