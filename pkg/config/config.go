// Package config loads hvctl's configuration: defaults, then /etc/hvctl/config.toml, then
// $XDG_CONFIG_HOME/hvctl/config.toml, then HVCTL_* environment, then flags. Files are decoded
// strictly with go-toml/v2 so that a typo is an error naming file:line:col; viper layers them.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/names"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the effective configuration.
type Config struct {
	URI   string          `toml:"uri" json:"uri"`
	Hosts map[string]Host `toml:"hosts" json:"hosts"`
	// Groups name sets of hosts for --host (web = ["h1", "h2"]).
	Groups map[string][]string `toml:"groups" json:"groups"`
	VM     struct {
		Defaults VMDefaults `toml:"defaults" json:"defaults"`
	} `toml:"vm" json:"vm"`
	Paths     Paths           `toml:"paths" json:"paths"`
	Zones     map[string]Zone `toml:"zones" json:"zones"`
	Autostart Autostart       `toml:"autostart" json:"autostart"`
	Images    []Image         `toml:"images" json:"images"`
	Audit     Audit           `toml:"audit" json:"audit"`
	Metrics   Metrics         `toml:"metrics" json:"metrics"`
	Events    Events          `toml:"events" json:"events"`
	Journal   Journal         `toml:"journal" json:"journal"`
}

// Events configures `vmctl events --publish`: the NATS broker and how to reach it.
type Events struct {
	NATSURL   string `toml:"nats_url" json:"nats_url"`     // nats://HOST:PORT or tls://HOST:PORT
	NATSCreds string `toml:"nats_creds" json:"nats_creds"` // .creds file, mode 0600
	NATSCA    string `toml:"nats_ca" json:"nats_ca"`       // CA bundle for tls://
}

// Metrics configures the metrics history that `hvctl metrics record` keeps: samples older than
// Retention, and the oldest beyond MaxRows (0: no row cap), are pruned at each record.
type Metrics struct {
	Retention string `toml:"retention" json:"retention"`
	MaxRows   int64  `toml:"max_rows" json:"max_rows"`
}

// Journal configures the operations journal (`hvctl history`).
type Journal struct {
	// Enabled: record every command that changes something (default true).
	Enabled bool `toml:"enabled" json:"enabled"`
	// Retention: records older than this are removed as new ones are written, about once a
	// day (journal.RetentionSlack) ("90d", "2w"; "0" keeps everything).
	Retention string `toml:"retention" json:"retention"`
}

// Audit configures `audit run`.
type Audit struct {
	Waivers string `toml:"waivers" json:"waivers"` // the waivers file --waivers defaults to
}

// Image is a catalogue entry of the configuration's own: it adds to isoctl's built-in
// catalogue, or replaces the built-in entry of the same name.
type Image struct {
	Name           string   `toml:"name" json:"name"`
	Description    string   `toml:"description" json:"description"`
	Version        string   `toml:"version" json:"version"`
	Arch           string   `toml:"arch" json:"arch"`
	URL            string   `toml:"url" json:"url"`
	File           string   `toml:"file" json:"file"`
	ChecksumURL    string   `toml:"checksum_url" json:"checksum_url"`
	ChecksumFormat string   `toml:"checksum_format" json:"checksum_format"`
	SignatureKind  string   `toml:"signature_kind" json:"signature_kind"`
	SignatureURL   string   `toml:"signature_url" json:"signature_url"`
	KeyURL         string   `toml:"key_url" json:"key_url"`
	Keys           []string `toml:"keys" json:"keys"`
	MaxSize        string   `toml:"max_size" json:"max_size,omitempty"`
}

// Autostart orders `vmctl autostart run`: groups in this order, with pauses between VMs and
// between groups so that a host does not boot everything at once.
type Autostart struct {
	Groups     []string `toml:"groups" json:"groups"`
	Delay      string   `toml:"delay" json:"delay"`
	GroupDelay string   `toml:"group_delay" json:"group_delay"`
}

// Zone is a named network zone: VMs in it attach to its bridge.
type Zone struct {
	Bridge       string `toml:"bridge" json:"bridge"`
	AllowHostdev bool   `toml:"allow_hostdev" json:"allow_hostdev"`
}

// Host is a named libvirt URI, usable wherever a URI is.
type Host struct {
	URI string `toml:"uri" json:"uri"`
	// PeerURI is how other hosts' daemons reach this one for a peer-to-peer migration, when
	// that differs from uri (which is how hvctl reaches it).
	PeerURI string `toml:"peer_uri" json:"peer_uri,omitempty"`
	// MigrationURI is where QEMU streams a migration to this host (tcp://ADDRESS[:PORT]),
	// e.g. a dedicated migration network; "" lets libvirt use the host name.
	MigrationURI string `toml:"migration_uri" json:"migration_uri,omitempty"`
}

// VMDefaults apply to VMs whose profile does not say otherwise.
type VMDefaults struct {
	VCPUs      int    `toml:"vcpus" json:"vcpus"`
	Memory     string `toml:"memory" json:"memory"`
	DiskSize   string `toml:"disk_size" json:"disk_size"`
	Network    string `toml:"network" json:"network"`
	DomainType string `toml:"domain_type" json:"domain_type"`
	Pool       string `toml:"pool" json:"pool"`
}

// Paths are where hvctl keeps its state and stores.
type Paths struct {
	State    string `toml:"state" json:"state"`
	Images   string `toml:"images" json:"images"`
	ISOs     string `toml:"isos" json:"isos"`
	Profiles string `toml:"profiles" json:"profiles"`
}

// defaults are the built-in values; keys double as the list of scalar settings.
var defaults = map[string]any{
	"uri":                     "",
	"vm.defaults.vcpus":       1,
	"vm.defaults.memory":      "1GiB",
	"vm.defaults.disk_size":   "20GiB",
	"vm.defaults.network":     "default",
	"vm.defaults.domain_type": "auto",
	"vm.defaults.pool":        "default",
	"autostart.delay":         "0s",
	"autostart.group_delay":   "0s",
	"paths.state":             "/var/lib/hvctl",
	"paths.images":            "/var/lib/hvctl/images",
	"paths.isos":              "/var/lib/hvctl/isos",
	"paths.profiles":          "/etc/hvctl/profiles",
	"audit.waivers":           "",
	"events.nats_url":         "",
	"events.nats_creds":       "",
	"events.nats_ca":          "",
	"metrics.retention":       "30d",
	"metrics.max_rows":        2000000,
	"journal.enabled":         true,
	"journal.retention":       "365d",
}

// Setting is one effective value and where it came from.
type Setting struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`
}

// Loaded is the result of Load.
type Loaded struct {
	Config   Config
	Settings []Setting // sorted by key
	Files    []string  // files read, in order
	v        *viper.Viper
}

// Options tell Load where to look; Getenv is injected so tests control the environment.
type Options struct {
	File   string         // --config: replaces the standard files
	Flags  *pflag.FlagSet // flags bound to keys (see FlagKeys)
	Getenv func(string) string
	UID    int // decides the fallback URI: qemu:///system for root, qemu:///session otherwise
}

// FlagKeys maps flag names to configuration keys.
var FlagKeys = map[string]string{"connect": "uri"}

// SystemFile is the system-wide configuration file; HVCTL_SYSTEM_CONFIG overrides it for tests
// and unusual installs.
func SystemFile(getenv func(string) string) string {
	if p := getenv("HVCTL_SYSTEM_CONFIG"); p != "" {
		return p
	}
	return "/etc/hvctl/config.toml"
}

// UserFile is the per-user configuration file.
func UserFile(getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "hvctl", "config.toml")
}

// Load reads and layers the configuration.
func Load(o Options) (*Loaded, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	source := map[string]string{}
	pos := map[string]keyPos{}
	for k := range defaults {
		source[k] = "default"
	}
	l := &Loaded{v: v}

	files := []string{SystemFile(o.Getenv), UserFile(o.Getenv)}
	explicit := o.File != ""
	if explicit {
		files = []string{o.File}
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) && !explicit {
			continue
		}
		if err != nil {
			return nil, errs.New(errs.Usage, "config %s: %w", f, unwrapPathError(err))
		}
		m, err := decodeStrict(f, data)
		if err != nil {
			return nil, err
		}
		if err := v.MergeConfigMap(m); err != nil {
			return nil, errs.New(errs.Usage, "config %s: %w", f, err)
		}
		for _, k := range leafKeys("", m) {
			source[k] = f
		}
		for k, p := range keyPositions(f, data) {
			pos[k] = p
		}
		l.Files = append(l.Files, f)
	}

	// libvirt's own variable ranks below hvctl's but above the files, as in virsh.
	if val := o.Getenv("LIBVIRT_DEFAULT_URI"); val != "" {
		v.Set("uri", val)
		source["uri"] = "env LIBVIRT_DEFAULT_URI"
	}
	for k := range defaults {
		env := "HVCTL_" + strings.ToUpper(strings.ReplaceAll(k, ".", "_"))
		if val := o.Getenv(env); val != "" {
			v.Set(k, val)
			source[k] = "env " + env
		}
	}
	if o.Flags != nil {
		for flag, key := range FlagKeys {
			if fl := o.Flags.Lookup(flag); fl != nil && fl.Changed {
				v.Set(key, fl.Value.String())
				source[key] = "flag --" + flag
			}
		}
	}

	if err := v.Unmarshal(&l.Config, func(dc *mapstructure.DecoderConfig) {
		dc.TagName = "toml"
		dc.ErrorUnused = false
	}); err != nil {
		return nil, errs.New(errs.Usage, "config: %w", err)
	}
	if err := l.Config.validate(source, pos); err != nil {
		return nil, err
	}
	if l.Config.URI == "" {
		l.Config.URI = "qemu:///session"
		if o.UID == 0 {
			l.Config.URI = "qemu:///system"
		}
		v.Set("uri", l.Config.URI)
	}
	// A [hosts.NAME] alias stands for its URI.
	if h, ok := l.Config.Hosts[l.Config.URI]; ok {
		source["uri"] += " (host " + l.Config.URI + ")"
		l.Config.URI = h.URI
		v.Set("uri", h.URI)
	}

	for _, k := range slices.Sorted(maps.Keys(source)) {
		l.Settings = append(l.Settings, Setting{Key: k, Value: v.Get(k), Source: source[k]})
	}
	return l, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeStrict decodes into Config with unknown keys refused, then into a map for viper.
func decodeStrict(file string, data []byte) (map[string]any, error) {
	var c Config
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, TOMLError(file, err, "")
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return nil, TOMLError(file, err, "")
	}
	return m, nil
}

func leafKeys(prefix string, m map[string]any) []string {
	var out []string
	for k, val := range m {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		if sub, ok := val.(map[string]any); ok {
			out = append(out, leafKeys(full, sub)...)
			continue
		}
		out = append(out, full)
	}
	return out
}

// validate names file:line:col for a key that a file set (as decoding errors do), and the
// variable or flag otherwise.
func (c *Config) validate(source map[string]string, pos map[string]keyPos) error {
	bad := func(key, format string, args ...any) error {
		// A key that is missing (a host without uri) points at its table.
		for at := key; at != ""; at = at[:max(strings.LastIndex(at, "."), 0)] {
			p, ok := pos[at]
			if !ok {
				continue
			}
			if from := source[key]; from == "" || from == p.file {
				return errs.New(errs.Usage, "%s:%d:%d: %s: %s", p.file, p.line, p.col, key, fmt.Sprintf(format, args...))
			}
			break
		}
		return errs.New(errs.Usage, "config %s (from %s): %s", key, source[key], fmt.Sprintf(format, args...))
	}
	d := c.VM.Defaults
	switch d.DomainType {
	case "auto", "kvm", "qemu":
	default:
		return bad("vm.defaults.domain_type", "%q is not auto, kvm or qemu", d.DomainType)
	}
	if d.VCPUs < 1 {
		return bad("vm.defaults.vcpus", "must be at least 1")
	}
	if _, err := units.ParseSize(d.Memory); err != nil {
		return bad("vm.defaults.memory", "%v", err)
	}
	if _, err := units.ParseSize(d.DiskSize); err != nil {
		return bad("vm.defaults.disk_size", "%v", err)
	}
	for _, k := range []string{"autostart.delay", "autostart.group_delay"} {
		v := c.Autostart.Delay
		if k == "autostart.group_delay" {
			v = c.Autostart.GroupDelay
		}
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return bad(k, "%q is not a duration such as 2s or 500ms", v)
		}
	}
	if d, err := units.ParseAge(c.Metrics.Retention); errors.Is(err, units.ErrTooLong) {
		return bad("metrics.retention", "%q is too long: at most 292 years", c.Metrics.Retention)
	} else if err != nil || d <= 0 {
		return bad("metrics.retention", "%q is not a positive duration such as 30d, 2w or 12h", c.Metrics.Retention)
	}
	if c.Metrics.MaxRows < 0 {
		return bad("metrics.max_rows", "must be 0 (no cap) or more")
	}
	if _, err := units.ParseAge(c.Journal.Retention); err != nil {
		return bad("journal.retention", "%v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Zones)) {
		z := c.Zones[name]
		if !names.Valid(name) {
			return bad("zones."+name, "zone name %q is not a valid name", name)
		}
		if z.Bridge == "" {
			return bad("zones."+name+".bridge", "zone %q has no bridge", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Hosts)) {
		h := c.Hosts[name]
		key := "hosts." + name + ".uri"
		if !names.Valid(name) {
			return bad(key, "host name %q is not a valid name", name)
		}
		if h.URI == "" {
			return bad(key, "host %q has no uri", name)
		}
	}
	// Sorted, so that a file with several mistakes names the same one on every run.
	for _, name := range slices.Sorted(maps.Keys(c.Groups)) {
		members := c.Groups[name]
		key := "groups." + name
		switch {
		case !names.Valid(name):
			return bad(key, "group name %q is not a valid name", name)
		case name == "all":
			return bad(key, "\"all\" already means every host; name the group otherwise")
		case len(members) == 0:
			return bad(key, "group %q has no hosts", name)
		}
		if _, ok := c.Hosts[name]; ok {
			return bad(key, "%q is both a host and a group", name)
		}
		for _, m := range members {
			if _, ok := c.Hosts[m]; !ok {
				return bad(key, "group %q names %q, which is not in [hosts]", name, m)
			}
		}
	}
	return nil
}
