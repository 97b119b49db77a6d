package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/names"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/pelletier/go-toml/v2"
)

// Issue is one problem in a profile, at the place it was written.
type Issue struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
	Key  string `json:"key"`
	Msg  string `json:"message"`
}

func (i Issue) String() string {
	loc := i.File
	if i.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", i.File, i.Line, i.Col)
	}
	if i.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, i.Key, i.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, i.Msg)
}

// Invalid is the error of a profile with problems; it carries all of them.
type Invalid struct {
	File   string
	Issues []Issue
}

func (e *Invalid) Error() string {
	if len(e.Issues) == 1 {
		return e.Issues[0].String()
	}
	return fmt.Sprintf("%s (and %d more problems)", e.Issues[0].String(), len(e.Issues)-1)
}

// Unwrap classifies the error as a usage error (exit 2).
func (e *Invalid) Unwrap() error { return errs.New(errs.Usage, "invalid profile %s", e.File) }

// Defaults are what the configuration's [vm.defaults] give a profile that does not say.
type Defaults struct {
	VCPUs      int
	Memory     string
	DiskSize   string
	Network    string
	DomainType string
}

// Zone is what a profile may use of a configured network zone.
type Zone struct {
	AllowHostdev bool
}

// Options tell Load where profile names resolve and what the defaults are.
type Options struct {
	Dir      string // profiles directory, for names in `extends` and in Resolve
	Defaults Defaults
	Zones    map[string]Zone // configured zones; nil skips the zone checks
	Set      []string        // KEY=VALUE overrides (--set), laid over the profile
	ISODir   string          // the ISO store: install_iso names resolve there
	ImageDir string          // the image store: base_image names resolve there
}

// Resolve turns a profile argument into a path: an existing file as given, else NAME.toml in
// the profiles directory.
func Resolve(arg string, dir string) (string, error) {
	if strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".toml") {
		if _, err := os.Stat(arg); err != nil {
			return "", errs.New(errs.NotFound, "profile %s: no such file", arg)
		}
		return arg, nil
	}
	if !names.Valid(arg) {
		return "", errs.New(errs.Usage, "invalid profile name %q", arg)
	}
	p := filepath.Join(dir, arg+".toml")
	if _, err := os.Stat(p); err != nil {
		return "", errs.New(errs.NotFound, "profile %s not found in %s", arg, dir).WithHint("list profiles with: vmctl profile list")
	}
	return p, nil
}

// document is one decoded file, or the merge of a chain of them.
type document struct {
	data map[string]any
	pos  map[string]Pos // key path → where it was written (the child's place wins)
}

// Load reads, merges (extends), checks and completes the profile at path.
func Load(path string, o Options) (*Profile, error) {
	doc, err := loadChain(path, o, nil)
	if err != nil {
		return nil, err
	}
	if err := doc.override(o.Set); err != nil {
		return nil, err
	}
	inv := &Invalid{File: path}
	checkTypes(doc, "", doc.data, reflect.TypeOf(Profile{}), inv)
	// Keys with wrong types or unknown names are reported; drop them so that the rest can
	// still be decoded and checked, and every problem comes out in one run.
	reported := map[string]bool{}
	for _, i := range inv.Issues {
		reported[i.Key] = true
		prune(doc.data, i.Key)
	}
	// Types are right now: let go-toml do the assignment.
	raw, err := toml.Marshal(doc.data)
	if err != nil {
		return nil, errs.New(errs.Failure, "profile %s: %v", path, err)
	}
	p := &Profile{}
	if err := toml.NewDecoder(strings.NewReader(string(raw))).DisallowUnknownFields().Decode(p); err != nil {
		return nil, errs.New(errs.Usage, "profile %s: %v", path, err)
	}
	p.applyDefaults(o.Defaults)
	more := &Invalid{File: path}
	p.validate(doc, more)
	if o.Zones != nil {
		p.validateZones(doc, more, o.Zones)
	}
	warn := &Invalid{File: path}
	p.checkPaths(doc, more, warn, o)
	sortIssues(warn.Issues)
	p.Warnings = warn.Issues
	for _, i := range more.Issues {
		if !reported[i.Key] { // a key already reported for its type says nothing new here
			inv.Issues = append(inv.Issues, i)
		}
	}
	if len(inv.Issues) > 0 {
		sortIssues(inv.Issues)
		return nil, inv
	}
	return p, nil
}

func sortIssues(is []Issue) {
	sort.SliceStable(is, func(i, j int) bool {
		if is[i].File != is[j].File {
			return is[i].File < is[j].File
		}
		if is[i].Line != is[j].Line {
			return is[i].Line < is[j].Line
		}
		return is[i].Col < is[j].Col
	})
}

// loadChain reads path and, through `extends`, its ancestors; the child's keys win.
func loadChain(path string, o Options, seen []string) (*document, error) {
	abs, _ := filepath.Abs(path)
	for _, s := range seen {
		if s == abs {
			return nil, errs.New(errs.Usage, "profile %s: extends loops: %s", path, strings.Join(append(seen, abs), " → "))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errs.New(errs.NotFound, "profile %s: no such file", path)
		}
		return nil, errs.New(errs.Failure, "profile %s: %v", path, err)
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, &Invalid{File: path, Issues: []Issue{{File: path, Line: row, Col: col, Msg: de.Error()}}}
		}
		return nil, &Invalid{File: path, Issues: []Issue{{File: path, Msg: err.Error()}}}
	}
	doc := &document{data: m, pos: positions(path, data)}
	parent, ok := m["extends"].(string)
	if !ok || parent == "" {
		return doc, nil
	}
	ppath := parent
	if !strings.ContainsRune(parent, '/') && !strings.HasSuffix(parent, ".toml") {
		ppath = filepath.Join(o.Dir, parent+".toml")
	} else if !filepath.IsAbs(parent) {
		ppath = filepath.Join(filepath.Dir(path), parent)
	}
	base, err := loadChain(ppath, o, append(seen, abs))
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			p := doc.pos["extends"]
			return nil, &Invalid{File: path, Issues: []Issue{{File: path, Line: p.Line, Col: p.Col, Key: "extends", Msg: fmt.Sprintf("profile %q not found (%s)", parent, ppath)}}}
		}
		return nil, err
	}
	delete(base.data, "name") // a name is never inherited
	merge(base.data, m)
	for k, v := range doc.pos {
		base.pos[k] = v
	}
	return base, nil
}

// prune deletes the key at path ("disk.size", "network[1].mac"); a bad element of a list of
// plain values takes its whole list with it.
func prune(m map[string]any, path string) {
	cur := m
	parts := strings.Split(path, ".")
	for i, part := range parts {
		name, idx, indexed := strings.Cut(part, "[")
		last := i == len(parts)-1
		if !indexed {
			if last {
				delete(cur, name)
				return
			}
			next, ok := cur[name].(map[string]any)
			if !ok {
				delete(cur, name)
				return
			}
			cur = next
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
		list, ok := cur[name].([]any)
		if err != nil || !ok || n >= len(list) {
			delete(cur, name)
			return
		}
		el, ok := list[n].(map[string]any)
		if last || !ok {
			delete(cur, name)
			return
		}
		cur = el
	}
}

// override lays --set KEY=VALUE pairs over the document. VALUE is read as a TOML value
// (2, true, [1, 2], "x"); anything that is not one is taken as a string, so memory=4GiB works.
func (d *document) override(sets []string) error {
	for _, kv := range sets {
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'[]") {
			return errs.New(errs.Usage, "--set %q: want KEY=VALUE, such as memory=4GiB or disk.size=40GiB", kv)
		}
		var m map[string]any
		if err := toml.Unmarshal([]byte(key+" = "+val), &m); err != nil {
			if err := toml.Unmarshal([]byte(key+" = "+strconv.Quote(val)), &m); err != nil {
				return errs.New(errs.Usage, "--set %q: %v", kv, err)
			}
		}
		merge(d.data, m)
		d.pos[key] = Pos{File: "--set " + kv}
	}
	return nil
}

// merge lays src over dst: tables merge key by key, everything else (arrays too) replaces.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func (d *document) issue(inv *Invalid, path, format string, args ...any) {
	p, _ := lookup(d.pos, path)
	file := p.File
	if file == "" {
		file = inv.File
	}
	inv.Issues = append(inv.Issues, Issue{File: file, Line: p.Line, Col: p.Col, Key: path, Msg: fmt.Sprintf(format, args...)})
}

// checkTypes walks the decoded document against the Profile type: unknown keys, wrong types,
// and the enum/min/max/pattern tags, all reported, none stopping the walk.
func checkTypes(d *document, path string, m map[string]any, t reflect.Type, inv *Invalid) {
	fields := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		fields[name] = f
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		f, ok := fields[k]
		if !ok {
			d.issue(inv, sub, "unknown key")
			continue
		}
		checkValue(d, sub, m[k], f.Type, f.Tag, inv)
	}
}

func checkValue(d *document, path string, v any, t reflect.Type, tag reflect.StructTag, inv *Invalid) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.issue(inv, path, "must be a string, not %s", tomlType(v))
			return
		}
		if e := tag.Get("enum"); e != "" && !inList(s, e) {
			d.issue(inv, path, "%q is not one of %s", s, strings.ReplaceAll(e, ",", ", "))
		}
		if pat := tag.Get("pattern"); pat != "" && !regexp.MustCompile(pat).MatchString(s) {
			d.issue(inv, path, "%q is malformed (want %s)", s, patternHint(pat))
		}
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			d.issue(inv, path, "must be an integer, not %s", tomlType(v))
			return
		}
		if lo, err := strconv.ParseInt(tag.Get("min"), 10, 64); err == nil && n < lo {
			d.issue(inv, path, "%d is below the minimum %d", n, lo)
		}
		if hi, err := strconv.ParseInt(tag.Get("max"), 10, 64); err == nil && n > hi {
			d.issue(inv, path, "%d is above the maximum %d", n, hi)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			d.issue(inv, path, "must be true or false, not %s", tomlType(v))
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			d.issue(inv, path, "must be an array, not %s", tomlType(v))
			return
		}
		for i, el := range list {
			checkValue(d, fmt.Sprintf("%s[%d]", path, i), el, t.Elem(), tag, inv)
		}
	case reflect.Struct:
		sub, ok := v.(map[string]any)
		if !ok {
			d.issue(inv, path, "must be a table, not %s", tomlType(v))
			return
		}
		checkTypes(d, path, sub, t, inv)
	}
}

func inList(s, list string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == s {
			return true
		}
	}
	return false
}

func patternHint(pat string) string {
	switch {
	case strings.Contains(pat, `{4}:`):
		return "a PCI address such as 0000:01:00.0"
	case strings.Contains(pat, `{5}`):
		return "a MAC address such as 52:54:00:12:34:56"
	}
	return "the pattern " + pat
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

func (p *Profile) applyDefaults(d Defaults) {
	if p.Arch == "" {
		p.Arch = "x86_64"
	}
	if p.DomainType == "" {
		p.DomainType = or(d.DomainType, "auto")
	}
	if p.Firmware == "" {
		p.Firmware = "bios"
	}
	if p.VCPUs == 0 {
		p.VCPUs = d.VCPUs
		if p.VCPUs == 0 {
			p.VCPUs = 1
		}
	}
	p.Memory = or(p.Memory, or(d.Memory, "1GiB"))
	p.Disk.Size = or(p.Disk.Size, or(d.DiskSize, "20GiB"))
	p.Disk.Bus = or(p.Disk.Bus, "virtio")
	for i := range p.ExtraDisks {
		p.ExtraDisks[i].Bus = or(p.ExtraDisks[i].Bus, "virtio")
	}
	if len(p.Networks) == 0 && d.Network != "" {
		p.Networks = []NIC{{Network: d.Network}}
	}
	for i := range p.Networks {
		p.Networks[i].Model = or(p.Networks[i].Model, "virtio")
	}
	p.NetworkFilter = or(p.NetworkFilter, DefaultNetworkFilter)
	p.Graphics.Type = or(p.Graphics.Type, "vnc")
	if p.Graphics.Type != "none" {
		p.Graphics.Listen = or(p.Graphics.Listen, "127.0.0.1")
	}
	p.Video.Model = or(p.Video.Model, "virtio")
	if p.Video.Heads == 0 {
		p.Video.Heads = 1
	}
	if p.LookingGlass.Enable {
		p.LookingGlass.Size = or(p.LookingGlass.Size, "64MiB")
	}
	if p.Autostart && p.AutostartPriority == nil {
		fifty := 50
		p.AutostartPriority = &fifty
	}
}

// DefaultNetworkFilter is libvirt's anti-spoofing filter, on hvctl's NICs unless a profile
// says network_filter = "none".
const DefaultNetworkFilter = "clean-traffic"

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// validate checks what the types alone cannot: names, sizes, and rules across fields.
func (p *Profile) validate(d *document, inv *Invalid) {
	if p.Name == "" {
		d.issue(inv, "name", "a profile needs a name")
	} else if !names.Valid(p.Name) {
		d.issue(inv, "name", "%q is not a valid VM name (1-64 letters, digits, '.', '_', '-')", p.Name)
	}
	size := func(path, s string, min uint64) uint64 {
		if s == "" {
			return 0
		}
		n, err := units.ParseSize(s)
		if err != nil {
			d.issue(inv, path, "%v", err)
			return 0
		}
		if n < min {
			d.issue(inv, path, "%s is less than %s", s, units.Human(min))
		}
		return n
	}
	mem := size("memory", p.Memory, 64<<20)
	if maxMem := size("max_memory", p.MaxMemory, 64<<20); maxMem > 0 && mem > 0 && maxMem < mem {
		d.issue(inv, "max_memory", "%s is less than memory (%s)", p.MaxMemory, p.Memory)
	}
	size("disk.size", p.Disk.Size, 1<<20)
	for i, x := range p.ExtraDisks {
		path := fmt.Sprintf("extra_disks[%d]", i)
		if x.Size == "" && x.BaseImage == "" {
			d.issue(inv, path, "an extra disk needs a size or a base_image")
		}
		size(path+".size", x.Size, 1<<20)
	}
	if lg := p.LookingGlass; lg.Enable {
		if n := size("looking_glass.size", lg.Size, 32<<20); n > 0 && n&(n-1) != 0 {
			d.issue(inv, "looking_glass.size", "%s is not a power of two", lg.Size)
		}
	}
	for i, n := range p.Networks {
		path := fmt.Sprintf("network[%d]", i)
		set := 0
		for _, s := range []bool{n.Network != "", n.Bridge != "", n.Zone != "", n.User} {
			if s {
				set++
			}
		}
		if set != 1 {
			d.issue(inv, path, "give exactly one of network, bridge, zone or user")
		}
		if n.MAC != "" {
			if b, err := strconv.ParseUint(n.MAC[:2], 16, 8); err == nil && b&1 == 1 {
				d.issue(inv, path+".mac", "%s is a multicast address", n.MAC)
			}
		}
	}
	if p.MaxVCPUs != 0 && p.MaxVCPUs < p.VCPUs {
		d.issue(inv, "max_vcpus", "%d is less than vcpus (%d)", p.MaxVCPUs, p.VCPUs)
	}
	for i, c := range p.CPU.Pinning {
		if c < 0 {
			d.issue(inv, fmt.Sprintf("cpu.pinning[%d]", i), "host CPU %d does not exist", c)
		}
	}
	if len(p.CPU.Features) > 0 && p.Arch != "x86_64" {
		d.issue(inv, "cpu.features", "only x86_64 has these features")
	}
	if p.Security.SEV != "" && p.Arch != "x86_64" {
		d.issue(inv, "security.sev", "SEV needs x86_64")
	}
	if p.Firmware == "uefi-secure" && p.Arch != "x86_64" && p.Arch != "aarch64" {
		d.issue(inv, "firmware", "secure boot needs x86_64 or aarch64")
	}
	if g := p.Graphics; g.Type != "none" && g.Listen != "" && !validListen(g.Listen) {
		d.issue(inv, "graphics.listen", "%q is not an IP address", g.Listen)
	}
	if c := p.CloudInit; c != nil {
		if c.Hostname != "" && !validHostname().MatchString(c.Hostname) {
			d.issue(inv, "cloud_init.hostname", "%q is not a valid hostname", c.Hostname)
		}
		if c.UserData != "" && (c.User != "" || len(c.SSHKeys) > 0 || c.PasswordHash != "" || len(c.Packages) > 0 || len(c.RunCmd) > 0) {
			d.issue(inv, "cloud_init.user_data", "give user_data or the user, ssh_keys, password_hash, packages and runcmd fields, not both")
		}
		for i, k := range c.SSHKeys {
			if f := strings.Fields(k); len(f) < 2 || !strings.HasPrefix(f[0], "ssh-") && !strings.HasPrefix(f[0], "ecdsa-") && !strings.HasPrefix(f[0], "sk-") {
				d.issue(inv, fmt.Sprintf("cloud_init.ssh_keys[%d]", i), "not an SSH public key")
			}
		}
	}
	if p.AutostartGroup != "" && !names.Valid(p.AutostartGroup) {
		d.issue(inv, "autostart_group", "%q is not a valid group name", p.AutostartGroup)
	}
}

// validateZones checks zone names against the configuration, and refuses PCI passthrough in a
// zone that does not allow it.
func (p *Profile) validateZones(d *document, inv *Invalid, zones map[string]Zone) {
	for i, n := range p.Networks {
		if n.Zone == "" {
			continue
		}
		z, ok := zones[n.Zone]
		if !ok {
			d.issue(inv, fmt.Sprintf("network[%d].zone", i), "zone %q is not in the configuration", n.Zone)
			continue
		}
		if len(p.HostDevs) > 0 && !z.AllowHostdev {
			d.issue(inv, "hostdevs", "zone %q does not allow PCI passthrough", n.Zone)
		}
	}
}

var validHostname = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
})

// ValidHostname says whether s is a hostname cloud_init.hostname accepts: isoctl seed holds
// its --hostname to the same rule.
func ValidHostname(s string) bool { return validHostname().MatchString(s) }

func validListen(s string) bool {
	ip := strings.Trim(s, "[]")
	return regexp.MustCompile(`^(\d{1,3}\.){3}\d{1,3}$`).MatchString(ip) || strings.Contains(ip, ":")
}
