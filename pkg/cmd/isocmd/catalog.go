package isocmd

import (
	"cmp"
	"context"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// CatalogOptions of `isoctl catalog`.
type CatalogOptions struct {
	F *cmdutil.Factory
}

// NewCmdCatalog builds `isoctl catalog`.
func NewCmdCatalog(f *cmdutil.Factory, runF func(context.Context, *CatalogOptions) error) *cobra.Command {
	opts := &CatalogOptions{F: f}
	cmd := &cobra.Command{
		Use:     "catalog",
		Short:   "List the images isoctl pull knows by name, with how each is verified",
		Example: "  isoctl catalog\n  isoctl catalog -o wide   # with the pinned key fingerprints\n  isoctl catalog --jq '.[].name'",
		Long: `List the built-in catalogue and the configuration's [[images]] entries (which add to it or
replace entries of the same name). VERIFIED-BY says how a pull checks the image: signed
checksums (by a pinned key; --wide lists the fingerprints), a signature over the image itself,
or checksums over HTTPS only (JSON: verified_by is signed_checksums, signed_checksums_unpinned,
signed_image, checksums_https or none). An entry's file may be a glob: the pull picks the newest
matching name from the verified checksum list, so entries follow the publisher's current
release.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCatalog(cmd.Context(), opts)
		},
	}
	f.AddOutputFlags(cmd)
	return cmd
}

// verifiedBy says how a pull of the entry is checked, as the JSON contract words it.
func verifiedBy(e iso.Entry) string {
	switch {
	case e.SignatureKind == "image" && len(e.Keys) > 0:
		return "signed_image"
	case e.Signed() && len(e.Keys) > 0:
		return "signed_checksums"
	case e.Signed():
		return "signed_checksums_unpinned"
	case e.ChecksumURL != "":
		return "checksums_https"
	}
	return "none"
}

var verifiedByText = map[string]string{
	"signed_image": "signed image", "signed_checksums": "signed checksums",
	"signed_checksums_unpinned": "signed checksums (no key pinned)", "checksums_https": "checksums (HTTPS only)", "none": "-",
}

func runCatalog(_ context.Context, o *CatalogOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	c, err := catalog(o.F)
	if err != nil {
		return err
	}
	rows := make([]model.CatalogEntry, 0, len(c))
	for _, raw := range c {
		e := raw.Expand()
		maxBytes, _ := e.MaxBytes() // checked when the catalogue was read
		rows = append(rows, model.CatalogEntry{Name: e.Name, Description: e.Description, Version: e.Version, Arch: e.Arch, URL: e.URL,
			File: e.File, ChecksumURL: e.ChecksumURL, ChecksumFormat: e.ChecksumFormat, SignatureKind: e.SignatureKind,
			SignatureURL: e.SignatureURL, KeyURL: e.KeyURL, Keys: append([]string{}, e.Keys...), MaxBytes: maxBytes,
			Source: raw.Source, VerifiedBy: verifiedBy(e)})
	}
	cols := []output.Column[model.CatalogEntry]{
		{Header: "name", Value: func(e model.CatalogEntry) string { return e.Name }},
		{Header: "version", Value: func(e model.CatalogEntry) string { return output.Dash(e.Version) }},
		{Header: "arch", Value: func(e model.CatalogEntry) string { return output.Dash(e.Arch) }},
		{Header: "verified-by", Value: func(e model.CatalogEntry) string { return verifiedByText[e.VerifiedBy] }},
		{Header: "source", Value: func(e model.CatalogEntry) string { return e.Source }},
		{Header: "description", Wide: true, Value: func(e model.CatalogEntry) string { return e.Description }},
		{Header: "checks", Wide: true, Value: func(e model.CatalogEntry) string {
			return strings.Join([]string{cmp.Or(e.ChecksumFormat, "gnu|bsd"), cmp.Or(e.SignatureKind, "unsigned")}, ",")
		}},
		{Header: "file", Wide: true, Value: func(e model.CatalogEntry) string { return output.Dash(e.File) }},
		{Header: "url", Wide: true, Value: func(e model.CatalogEntry) string { return e.URL }},
		{Header: "keys", Wide: true, Value: func(e model.CatalogEntry) string { return output.Dash(strings.Join(e.Keys, ",")) }},
	}
	return output.List(o.F.IO.Out, format, rows, cols, func(e model.CatalogEntry) string { return e.Name })
}

func catalog(f *cmdutil.Factory) ([]iso.Entry, error) {
	l, err := f.Config()
	if err != nil {
		return nil, err
	}
	var extra []iso.Entry
	for _, i := range l.Config.Images {
		extra = append(extra, iso.Entry{Name: i.Name, Description: i.Description, Version: i.Version, Arch: i.Arch, URL: i.URL, File: i.File,
			ChecksumURL: i.ChecksumURL, ChecksumFormat: i.ChecksumFormat, SignatureKind: i.SignatureKind, SignatureURL: i.SignatureURL, KeyURL: i.KeyURL, Keys: i.Keys,
			MaxSize: i.MaxSize})
	}
	c, err := iso.Catalog(extra)
	if err != nil {
		return nil, &errs.Error{Kind: errs.Usage, Msg: err.Error(), Err: err}
	}
	return c, nil
}

func catalogEntry(f *cmdutil.Factory, name string) (iso.Entry, error) {
	c, err := catalog(f)
	if err != nil {
		return iso.Entry{}, err
	}
	for _, e := range c {
		if e.Name == name {
			return e.Expand(), nil
		}
	}
	return iso.Entry{}, errs.New(errs.NotFound, "no catalogue entry %s", name).WithHint("see them with: isoctl catalog")
}
