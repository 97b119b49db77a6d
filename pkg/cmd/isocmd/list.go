package isocmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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

// ListOptions of `isoctl list`.
type ListOptions struct {
	F     *cmdutil.Factory
	Hosts cmdutil.HostFlags
	Cmd   *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdList builds `isoctl list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stored images with size, verification, age and the VMs using them",
		Example: "  isoctl list\n  isoctl list -o wide\n  isoctl list -o name\n  isoctl list --host all",
		Long: `List the images of both stores. USED-BY names every VM whose disks use the image, directly
or as a backing file under an overlay; when some VM cannot be read a warning says the column
may be incomplete (isoctl rm refuses in that case).

With --host the stores of several configured hosts are listed at once, by host then name,
under a leading HOST column (a "host" field in JSON); USED-BY names the VMs of that host. A
remote host's stores are read through its libvirt pools (the paths of this configuration,
served by a pool there). A host that does not answer is reported and the rest still answer
(exit 6; --strict fails).`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Cmd = cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	if o.Hosts.Enabled() {
		return runListHosts(ctx, o, format)
	}
	entries, warnings, err := listStores(ctx, f)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		f.Infof("%s: warning: %s", f.Prog, w)
	}
	return output.List(f.IO.Out, format, entries, listColumns(f.Now()), func(e model.Image) string { return e.Name })
}

// listStores reads both stores of the libvirt f talks to, with what makes the listing
// incomplete said as warnings.
func listStores(ctx context.Context, f *cmdutil.Factory) ([]model.Image, []string, error) {
	entries, scanErr, err := listAll(ctx, f, true)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if scanErr != nil {
		warnings = append(warnings, fmt.Sprintf("used-by may be incomplete: %v", scanErr))
	}
	if !remote(f) {
		all, err := stores(f)
		if err != nil {
			return nil, nil, err
		}
		for _, s := range all {
			for _, p := range iso.Unaccounted(s.dir) {
				warnings = append(warnings, fmt.Sprintf("not listed: %v", p.Err))
			}
		}
	}
	return entries, warnings, nil
}

// runListHosts lists the stores of several hosts at once, ordered by host then name.
func runListHosts(ctx context.Context, o *ListOptions, format output.Format) error {
	f := o.F
	hosts, err := f.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	// Each host's stores are read over the connections their code opens (a remote store's
	// records are downloaded over a read-write one).
	type found struct {
		entries  []model.Image
		warnings []string
	}
	per := make([]found, len(hosts))
	failures := cmdutil.EachHost(ctx, &o.Hosts, hosts, func(ctx context.Context, i int, h cmdutil.Host) error {
		entries, warnings, err := listStores(ctx, f.ForHost(h.URI))
		for j := range entries {
			entries[j].Host = h.Name
		}
		per[i] = found{entries, warnings}
		return err
	})
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return err
	}
	fanErr := f.HostsOutcome(o.Cmd, &o.Hosts, hosts, failures)
	if fanErr != nil && errs.KindOf(fanErr) != errs.Partial {
		return fanErr
	}
	entries := []model.Image{}
	for i, p := range per {
		if failures[i] != nil {
			continue
		}
		entries = append(entries, p.entries...)
		for _, w := range p.warnings {
			f.Infof("%s: warning: host %s: %s", f.Prog, hosts[i].Name, w)
		}
	}
	slices.SortStableFunc(entries, func(a, b model.Image) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Name, b.Name))
	})
	cols := append([]output.Column[model.Image]{{Header: "host", Value: func(e model.Image) string { return e.Host }}}, listColumns(f.Now())...)
	if err := output.List(f.IO.Out, format, entries, cols, func(e model.Image) string { return e.Host + ":" + e.Name }); err != nil {
		return err
	}
	return fanErr
}

// listColumns is the table view of model.Image; AGE counts from now.
func listColumns(now time.Time) []output.Column[model.Image] {
	return []output.Column[model.Image]{
		{Header: "name", Value: func(e model.Image) string { return e.Name }},
		{Header: "store", Value: func(e model.Image) string { return e.Store }},
		{Header: "size", Value: func(e model.Image) string { return units.Human(uint64(e.SizeBytes)) }},
		{Header: "verified", Value: func(e model.Image) string {
			if e.Verified {
				return "yes"
			}
			return "NO"
		}},
		{Header: "age", Value: func(e model.Image) string {
			t, err := time.Parse(time.RFC3339, e.FetchedAt)
			if err != nil {
				return "-"
			}
			return fmt.Sprintf("%dd", int(now.Sub(t).Hours()/24))
		}},
		{Header: "used-by", Value: func(e model.Image) string { return output.Dash(strings.Join(e.UsedBy, ",")) }},
		{Header: "signer", Wide: true, Value: func(e model.Image) string { return output.Dash(e.Signer) }},
		{Header: "entry", Wide: true, Value: func(e model.Image) string { return output.Dash(e.Catalog) }},
		{Header: "sha256", Wide: true, Value: func(e model.Image) string { return e.SHA256 }},
		{Header: "source", Wide: true, Value: func(e model.Image) string { return e.SourceURL }},
	}
}
