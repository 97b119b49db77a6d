package iso

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/pelletier/go-toml/v2"
)

//go:embed catalog.toml
var builtinCatalog []byte

// Entry is one catalogue image.
type Entry struct {
	Name           string   `toml:"name" json:"name" mapstructure:"name"`
	Description    string   `toml:"description" json:"description" mapstructure:"description"`
	Version        string   `toml:"version" json:"version" mapstructure:"version"`
	Arch           string   `toml:"arch" json:"arch" mapstructure:"arch"`
	URL            string   `toml:"url" json:"url" mapstructure:"url"`
	File           string   `toml:"file" json:"file" mapstructure:"file"` // the name in the checksum list; may be a glob
	ChecksumURL    string   `toml:"checksum_url" json:"checksum_url" mapstructure:"checksum_url"`
	ChecksumFormat string   `toml:"checksum_format" json:"checksum_format" mapstructure:"checksum_format"` // gnu, bsd or empty (either)
	SignatureKind  string   `toml:"signature_kind" json:"signature_kind" mapstructure:"signature_kind"`    // detached, clearsigned or empty (unsigned)
	SignatureURL   string   `toml:"signature_url" json:"signature_url" mapstructure:"signature_url"`
	KeyURL         string   `toml:"key_url" json:"key_url" mapstructure:"key_url"`
	Keys           []string `toml:"keys" json:"keys" mapstructure:"keys"`
	MaxSize        string   `toml:"max_size" json:"max_size,omitempty" mapstructure:"max_size"` // e.g. "8GiB"; empty: DefaultMaxBytes
	Source         string   `toml:"-" json:"source" mapstructure:"-"`                           // builtin or config
}

// Expand fills {version} and {arch} into the entry's URLs and file name ({file} is left for
// Resolve, which knows the name only once the checksum list is read).
func (e Entry) Expand() Entry {
	r := strings.NewReplacer("{version}", e.Version, "{arch}", e.Arch)
	e.URL, e.File, e.ChecksumURL, e.SignatureURL, e.KeyURL = r.Replace(e.URL), r.Replace(e.File), r.Replace(e.ChecksumURL), r.Replace(e.SignatureURL), r.Replace(e.KeyURL)
	return e
}

// Spec is how the entry is fetched and trusted.
func (e Entry) Spec() Source {
	return Source{URL: e.URL, File: e.File, ChecksumURL: e.ChecksumURL, Format: e.ChecksumFormat, SignatureKind: e.SignatureKind,
		SignatureURL: e.SignatureURL, KeyURL: e.KeyURL, Keys: e.Keys}
}

// MaxBytes is the entry's size cap (DefaultMaxBytes when it names none).
func (e Entry) MaxBytes() (int64, error) {
	if e.MaxSize == "" {
		return DefaultMaxBytes, nil
	}
	n, err := units.ParseSize(e.MaxSize)
	if err != nil || n == 0 || n > 1<<62 {
		return 0, fmt.Errorf("catalogue entry %s: max_size %q is not a size such as 8GiB", e.Name, e.MaxSize)
	}
	return int64(n), nil
}

// Signed says whether the entry's checksums carry a signature hvctl must check.
func (e Entry) Signed() bool {
	return e.SignatureKind != "" || e.SignatureURL != "" || e.KeyURL != "" || len(e.Keys) > 0
}

// Catalog is the built-in list laid under the configuration's entries (same name replaces).
func Catalog(extra []Entry) ([]Entry, error) {
	var doc struct {
		Images []Entry `toml:"images"`
	}
	if err := toml.NewDecoder(strings.NewReader(string(builtinCatalog))).DisallowUnknownFields().Decode(&doc); err != nil {
		return nil, fmt.Errorf("built-in catalogue: %w", err)
	}
	byName := map[string]Entry{}
	for _, e := range doc.Images {
		e.Source = "builtin"
		byName[e.Name] = e
	}
	for _, e := range extra {
		if e.Name == "" || e.URL == "" {
			return nil, fmt.Errorf("config [[images]]: each entry needs a name and a url")
		}
		e.Source = "config"
		if _, err := e.MaxBytes(); err != nil {
			return nil, fmt.Errorf("config [[images]]: %w", err)
		}
		byName[e.Name] = e
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
