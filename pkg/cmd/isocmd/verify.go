package isocmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// VerifyOptions of `isoctl verify`.
type VerifyOptions struct {
	F     *cmdutil.Factory
	Names []string
	All   bool
}

// NewCmdVerify builds `isoctl verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{F: f}
	cmd := &cobra.Command{
		Use:     "verify [NAME...|--all]",
		Short:   "Re-hash stored images against their records (exit 8 on any mismatch)",
		Example: "  isoctl verify debian-12-netinst.iso\n  isoctl verify --all -q   # for a timer: exit 8 when any image changed",
		Long: `Re-hash each image at rest and compare with its record: for a weekly timer. Exit 8 when
any image changed; exit 3 when a named image is not in the store (and none changed).`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "6h"},
		ValidArgsFunction: completeImages(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if opts.All == (len(args) > 0) {
				return errs.New(errs.Usage, "name images or give --all")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVerify(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "verify every stored image")
	f.AddOutputFlags(cmd)
	return cmd
}

func runVerify(ctx context.Context, o *VerifyOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	names := o.Names
	rows := []model.ImageCheck{}
	failed := 0
	// Exit 8 is for tampering only: a missing image or a broken store has its own code.
	kind := errs.NotFound
	if o.All {
		entries, _, err := listAll(ctx, f, false)
		if err != nil {
			return err
		}
		for _, e := range entries {
			names = append(names, e.Name)
		}
		// Files no record vouches for fail too: deleting a record must not hide an image.
		problems, err := unaccounted(ctx, f)
		if err != nil {
			return err
		}
		for _, p := range problems {
			rows = append(rows, model.ImageCheck{Name: p.Name, Error: p.Err.Error()})
			failed, kind = failed+1, errs.KindOf(p.Err)
		}
	}
	for _, name := range names {
		s, rec, err := find(ctx, f, name)
		if err == nil {
			if remote(f) {
				err = verifyRemote(ctx, f, filepath.Join(s.dir, rec.Name), rec)
			} else if _, err = iso.Verify(s.dir, rec.Name); err == nil {
				// The record keeps when it was last found unchanged (hvctl metrics exports it).
				if merr := iso.MarkChecked(s.dir, rec.Name, time.Now()); merr != nil {
					f.Warnf("%s verified, but its record could not say so: %v", rec.Name, merr)
				}
			}
			if err == nil {
				rows = append(rows, model.ImageCheck{Name: rec.Name, OK: true, SHA256: rec.SHA256})
				continue
			}
		}
		if failed == 0 || errs.KindOf(err) == errs.Verify {
			kind = errs.KindOf(err)
		}
		failed++
		rows = append(rows, model.ImageCheck{Name: name, Error: err.Error()})
	}
	cols := []output.Column[model.ImageCheck]{
		{Header: "name", Value: func(r model.ImageCheck) string { return r.Name }},
		{Header: "result", Value: func(r model.ImageCheck) string {
			if r.OK {
				return "ok"
			}
			return "FAILED: " + r.Error
		}},
	}
	if err := output.List(f.IO.Out, format, rows, cols, func(r model.ImageCheck) string { return r.Name }); err != nil {
		return err
	}
	if failed > 0 {
		return errs.New(kind, "%d of %d image(s) failed verification", failed, len(rows))
	}
	return nil
}

// unaccounted lists the files of both stores that no readable record vouches for, in the
// directories or, for a remote host, among the pools' volumes.
func unaccounted(ctx context.Context, f *cmdutil.Factory) ([]iso.Problem, error) {
	all, err := stores(f)
	if err != nil {
		return nil, err
	}
	var out []iso.Problem
	if !remote(f) {
		for _, s := range all {
			out = append(out, iso.Unaccounted(s.dir)...)
		}
		return out, nil
	}
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for _, s := range all {
		pool, ok, err := conn.PoolServing(ctx, s.dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		files, err := conn.PoolFiles(ctx, pool)
		if err != nil {
			return nil, err
		}
		out = append(out, remoteUnaccounted(files, remoteEntries(ctx, conn, files))...)
	}
	return out, nil
}

// remoteUnaccounted is iso.Unaccounted over a pool's volumes: those that are neither a record
// nor an image with a readable one.
func remoteUnaccounted(files []string, records map[string]iso.Record) []iso.Problem {
	have := map[string]bool{}
	for _, p := range files {
		have[p] = true
	}
	var out []iso.Problem
	for _, p := range files {
		name := filepath.Base(p)
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, iso.RecordSuffix) {
			continue // work in progress, or a record (one without its image vouches for nothing)
		}
		if _, isRecord := remoteRecordOf(have, p); isRecord {
			continue
		}
		if _, ok := records[p]; ok {
			continue
		}
		out = append(out, iso.Problem{Name: name, Err: errs.New(errs.Verify, "%s is in the store without a readable record: it cannot be verified", name)})
	}
	return out
}

// verifyRemote hashes an image on a remote host as libvirt streams it, never holding it whole.
func verifyRemote(ctx context.Context, f *cmdutil.Factory, path string, rec *iso.Record) error {
	conn, err := f.Connect(ctx, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	h := sha256.New()
	if err := conn.DownloadTo(ctx, path, h); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.SHA256 {
		return errs.New(errs.Verify, "%s: sha256 is %s, the record says %s: the file changed at rest", rec.Name, got, rec.SHA256)
	}
	return nil
}
