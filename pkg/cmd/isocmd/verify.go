package isocmd

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
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
	Hosts cmdutil.HostFlags
	Cmd   *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdVerify builds `isoctl verify`.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := &VerifyOptions{F: f}
	cmd := &cobra.Command{
		Use:     "verify [NAME...|--all]",
		Short:   "Re-hash stored images against their records (exit 8 on any mismatch)",
		Example: "  isoctl verify debian-12-netinst.iso\n  isoctl verify --all -q   # for a timer: exit 8 when any image changed\n  isoctl verify --all --host all",
		Long: `Re-hash each image at rest and compare with its record: for a weekly timer. Exit 8 when
any image changed; exit 3 when a named image is not in the store (and none changed).

With --host the stores of several configured hosts are verified at once (a remote host's
through its libvirt pools, hashed as libvirt streams them), under a leading HOST column (a
"host" field in JSON). A name is verified on every host that has it (HOST:NAME on that host
only) and is missing only when no host that answered has it. A changed image on any host is
exit 8; a host that does not answer is reported and the rest still answer (else exit 6;
--strict fails).`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "6h"},
		ValidArgsFunction: completeImages(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			opts.Cmd = cmd
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
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

// checked is one row of verify with the kind of its failure (none for a pass).
type checked struct {
	row   model.ImageCheck
	kind  errs.Kind
	asked string // the name it was asked for by (a catalogue entry finds a stored file); "" for --all
}

var verifyColumns = []output.Column[model.ImageCheck]{
	{Header: "name", Value: func(r model.ImageCheck) string { return r.Name }},
	{Header: "result", Value: func(r model.ImageCheck) string {
		if r.OK {
			return "ok"
		}
		return "FAILED: " + r.Error
	}},
}

func runVerify(ctx context.Context, o *VerifyOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	if o.Hosts.Enabled() {
		return runVerifyHosts(ctx, o, format)
	}
	results, err := verifyStores(ctx, f, o.Names, o.All)
	if err != nil {
		return err
	}
	rows := []model.ImageCheck{}
	for _, c := range results {
		rows = append(rows, c.row)
	}
	if err := output.List(f.IO.Out, format, rows, verifyColumns, func(r model.ImageCheck) string { return r.Name }); err != nil {
		return err
	}
	return verifyFailed(results)
}

// verifyFailed is the error of failed checks: exit 8 when any image changed (tampering outranks
// everything), else the first failure's (a missing image, a broken store).
func verifyFailed(results []checked) error {
	failed, kind := 0, errs.Kind(0)
	for _, c := range results {
		if c.row.OK {
			continue
		}
		if failed == 0 || c.kind == errs.Verify {
			kind = c.kind
		}
		failed++
	}
	if failed > 0 {
		return errs.New(kind, "%d of %d image(s) failed verification", failed, len(results))
	}
	return nil
}

// verifyStores re-hashes the named images (or, with all, every image and every file no record
// vouches for) in the stores of the libvirt f talks to.
func verifyStores(ctx context.Context, f *cmdutil.Factory, names []string, all bool) ([]checked, error) {
	var out []checked
	askedNames := len(names)
	names = slices.Clone(names)
	if all {
		entries, _, err := listAll(ctx, f, false)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			names = append(names, e.Name)
		}
		// Files no record vouches for fail too: deleting a record must not hide an image.
		problems, err := unaccounted(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, p := range problems {
			out = append(out, checked{row: model.ImageCheck{Name: p.Name, Error: p.Err.Error()}, kind: errs.KindOf(p.Err)})
		}
	}
	for i, name := range names {
		asked := ""
		if i < askedNames {
			asked = name
		}
		s, rec, err := find(ctx, f, name)
		if k := errs.KindOf(err); k == errs.Unreachable || k == errs.Timeout {
			return nil, err // the store's host, not the image: nothing can be verified
		}
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
				out = append(out, checked{row: model.ImageCheck{Name: rec.Name, OK: true, SHA256: rec.SHA256}, asked: asked})
				continue
			}
		}
		out = append(out, checked{row: model.ImageCheck{Name: name, Error: err.Error()}, kind: errs.KindOf(err), asked: asked})
	}
	return out, nil
}

// runVerifyHosts verifies the stores of several hosts at once. A named image a host does not
// have is no failure of that host's: it is missing only when no host that answered has it.
func runVerifyHosts(ctx context.Context, o *VerifyOptions, format output.Format) error {
	f := o.F
	hosts, err := f.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	if err := f.CheckHostQualifiers(o.Names, hosts); err != nil {
		return err
	}
	isHost := cmdutil.IsHostIn(hosts)
	type found struct {
		results []checked
		have    []string // the names asked for (as given) that this host has
	}
	per := make([]found, len(hosts))
	failures := cmdutil.EachHost(ctx, &o.Hosts, hosts, func(ctx context.Context, i int, h cmdutil.Host) error {
		var names []string
		for _, n := range o.Names {
			if here, ok := cmdutil.PatternsForHost([]string{n}, h.Name, isHost); ok {
				names = append(names, here[0])
			}
		}
		if !o.All && len(names) == 0 {
			return nil // nothing asked for is on this host
		}
		results, err := verifyStores(ctx, f.ForHost(h.URI), names, o.All)
		if err != nil {
			return err
		}
		for _, c := range results {
			if c.asked != "" && !c.row.OK && c.kind == errs.NotFound {
				continue // not on this host: maybe on another
			}
			c.row.Host = h.Name
			per[i].results = append(per[i].results, c)
			if c.asked != "" {
				per[i].have = append(per[i].have, c.asked, h.Name+":"+c.asked)
			}
		}
		return nil
	})
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return err
	}
	fanErr := f.HostsOutcome(o.Cmd, &o.Hosts, hosts, failures)
	if fanErr != nil && errs.KindOf(fanErr) != errs.Partial {
		return fanErr
	}
	var results []checked
	var have []string
	for i, p := range per {
		if failures[i] == nil {
			results = append(results, p.results...)
			have = append(have, p.have...)
		}
	}
	slices.SortStableFunc(results, func(a, b checked) int { return cmp.Compare(a.row.Host, b.row.Host) })
	rows := []model.ImageCheck{}
	for _, c := range results {
		rows = append(rows, c.row)
	}
	cols := append([]output.Column[model.ImageCheck]{{Header: "host", Value: func(r model.ImageCheck) string { return r.Host }}}, verifyColumns...)
	if err := output.List(f.IO.Out, format, rows, cols, func(r model.ImageCheck) string { return r.Host + ":" + r.Name }); err != nil {
		return err
	}
	if err := verifyFailed(results); err != nil {
		return err // a changed image outranks a host that did not answer (reported above)
	}
	if fanErr != nil { // a host that did not answer may hold a name asked for: say that first
		return fanErr
	}
	var missing []string
	for _, n := range o.Names {
		if !slices.Contains(have, n) {
			missing = append(missing, output.Escape(n))
		}
	}
	if len(missing) > 0 {
		return errs.New(errs.NotFound, "image %s not found on any host", strings.Join(missing, ", ")).
			WithHint("see the stores with: isoctl list --host %s", strings.Join(o.Hosts.Hosts, ","))
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
