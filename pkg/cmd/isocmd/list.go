package isocmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// ListOptions of `isoctl list`.
type ListOptions struct {
	F *cmdutil.Factory
}

// NewCmdList builds `isoctl list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stored images with size, verification, age and the VMs using them",
		Example: "  isoctl list\n  isoctl list -o wide\n  isoctl list -o name",
		Long: `List the images of both stores. USED-BY names every VM whose disks use the image, directly
or as a backing file under an overlay; when some VM cannot be read a warning says the column
may be incomplete (isoctl rm refuses in that case).`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runList(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

func runList(ctx context.Context, o *ListOptions) error {
	f := o.F
	format, err := f.Format()
	if err != nil {
		return err
	}
	entries, scanErr, err := listAll(ctx, f, true)
	if err != nil {
		return err
	}
	if scanErr != nil {
		f.Infof("%s: warning: used-by may be incomplete: %v", f.Prog, scanErr)
	}
	if !remote(f) {
		all, err := stores(f)
		if err != nil {
			return err
		}
		for _, s := range all {
			for _, p := range iso.Unaccounted(s.dir) {
				f.Infof("%s: warning: not listed: %v", f.Prog, p.Err)
			}
		}
	}
	now := f.Now()
	cols := []output.Column[model.Image]{
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
	return output.List(f.IO.Out, format, entries, cols, func(e model.Image) string { return e.Name })
}
