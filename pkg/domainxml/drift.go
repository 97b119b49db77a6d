package domainxml

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Change kinds, from the live definition's point of view.
const (
	Changed = "changed" // both have it, with different values
	Added   = "added"   // the live definition has it, the profile does not (a hand edit): apply drops it
	Removed = "removed" // the profile has it, the live definition does not: apply puts it back
)

// Change is one difference between a profile's domain and the live persistent definition.
type Change struct {
	// Key is a path into the definition: "memory.current", "on_crash",
	// "devices.disk[vda].driver.cache", "devices.watchdog[0]", "metadata.autostart".
	Key, Live, Desired string
	Kind               string // Changed, Added or Removed
	Restart            bool   // a running VM sees it only after a restart
}

// friendly names for the facts people look for first.
var friendly = map[string]string{
	"memory":        "memory.max",
	"currentMemory": "memory.current",
	"vcpu":          "vcpus.max",
	"vcpu.current":  "vcpus",
}

// hot are the keys apply can change on a running VM without a restart.
var hot = map[string]bool{"memory.current": true, "description": true, "title": true}

// Compare normalises both definitions (see Normalizer) and lists every difference, sorted by
// key. desired is the profile's rendered domain, live the persistent definition.
func Compare(desired, live *libvirtxml.Domain) ([]Change, error) {
	dt, err := tree(desired)
	if err != nil {
		return nil, err
	}
	lt, err := tree(live)
	if err != nil {
		return nil, err
	}
	nz := libvirtDefaults
	nz.canonical("", dt, nil)
	nz.canonical("", lt, nil)
	var out []Change
	nz.compare("", "", dt, lt, &out)
	out = append(out, compareMetadata(desired, live)...)
	for i := range out {
		c := &out[i]
		c.Restart = !hot[c.Key] && !strings.HasPrefix(c.Key, "metadata.")
		if c.Key == "vcpus" {
			// Hot-plugged within the ceiling the VM was started with.
			c.Restart = slices.ContainsFunc(out, func(o Change) bool { return o.Key == "vcpus.max" })
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// compare walks d (desired) and l (live), both at path (rule path) and key (reported path).
func (nz Normalizer) compare(path, key string, d, l *node, out *[]Change) {
	at := func(suffix string) string {
		if key == "" {
			return suffix
		}
		return key + "." + suffix
	}
	name := func(k string) string {
		if f, ok := friendly[k]; ok {
			return f
		}
		return k
	}
	if d.text != l.text && !(d.text == "" && slices.Contains(nz.filledText, path)) {
		*out = append(*out, Change{Key: name(key), Live: l.text, Desired: d.text, Kind: Changed})
	}
	for _, a := range unionKeys(d.attrs, l.attrs) {
		dv, dok := d.attrs[a]
		lv, lok := l.attrs[a]
		if dv == lv || !dok && nz.filledAttr(path, a) || !dok && nz.impliedAttr(path, a, lv) || !lok && nz.impliedAttr(path, a, dv) {
			continue
		}
		kind := Changed
		if !dok {
			kind = Added
		} else if !lok {
			kind = Removed
		}
		*out = append(*out, Change{Key: name(at(a)), Live: lv, Desired: dv, Kind: kind})
	}
	for _, group := range childGroups(path, d, l) {
		kp := group.name
		if path != "" {
			kp = path + "/" + group.name
		}
		for _, pair := range group.pairs {
			k := at(group.name + pair.label)
			switch {
			case pair.d != nil && pair.l != nil:
				nz.compare(kp, k, pair.d, pair.l, out)
			case pair.d == nil && nz.filledKid(path, group.name):
			case pair.d == nil && valueOnly(pair.l):
				*out = append(*out, Change{Key: name(k), Live: pair.l.text, Kind: Added})
			case pair.l == nil && valueOnly(pair.d):
				*out = append(*out, Change{Key: name(k), Desired: pair.d.text, Kind: Removed})
			case pair.d == nil:
				*out = append(*out, Change{Key: name(k), Live: summary(pair.l), Kind: Added})
			default:
				*out = append(*out, Change{Key: name(k), Desired: summary(pair.d), Kind: Removed})
			}
		}
	}
}

// valueOnly is an element that is just a value: <description>text</description>.
func valueOnly(n *node) bool { return len(n.attrs) == 0 && len(n.kids) == 0 }

type pair struct {
	label string // "" for a single child, "[vda]" or "[0]" otherwise
	d, l  *node
}

type group struct {
	name  string
	pairs []pair
}

// childGroups pairs the children of d and l by element name: disks by their target device
// (libvirt sorts disks by bus), other repeated elements by position, single ones as such.
func childGroups(path string, d, l *node) []group {
	var names []string
	for _, k := range append(slices.Clone(d.kids), l.kids...) {
		if !slices.Contains(names, k.name) {
			names = append(names, k.name)
		}
	}
	slices.Sort(names)
	var out []group
	for _, nm := range names {
		dk := slices.DeleteFunc(slices.Clone(d.kids), func(k *node) bool { return k.name != nm })
		lk := slices.DeleteFunc(slices.Clone(l.kids), func(k *node) bool { return k.name != nm })
		g := group{name: nm}
		switch {
		case path == "devices" && nm == "disk":
			byTarget := func(k *node) string {
				if t := k.child("target"); t != nil {
					return t.attrs["dev"]
				}
				return ""
			}
			var targets []string
			for _, k := range append(slices.Clone(dk), lk...) {
				if t := byTarget(k); !slices.Contains(targets, t) {
					targets = append(targets, t)
				}
			}
			slices.Sort(targets)
			for _, t := range targets {
				p := pair{label: "[" + t + "]"}
				if i := slices.IndexFunc(dk, func(k *node) bool { return byTarget(k) == t }); i >= 0 {
					p.d = dk[i]
				}
				if i := slices.IndexFunc(lk, func(k *node) bool { return byTarget(k) == t }); i >= 0 {
					p.l = lk[i]
				}
				g.pairs = append(g.pairs, p)
			}
		case path == "devices" || len(dk) > 1 || len(lk) > 1:
			for i := range max(len(dk), len(lk)) {
				p := pair{label: "[" + strconv.Itoa(i) + "]"}
				if i < len(dk) {
					p.d = dk[i]
				}
				if i < len(lk) {
					p.l = lk[i]
				}
				g.pairs = append(g.pairs, p)
			}
		default:
			p := pair{}
			if len(dk) > 0 {
				p.d = dk[0]
			}
			if len(lk) > 0 {
				p.l = lk[0]
			}
			g.pairs = append(g.pairs, p)
		}
		out = append(out, g)
	}
	return out
}

// summary describes a whole element in a few words: its type and model, then its source and
// target ("i6300esb", "mount /srv/share -> share", "usb 046d:c52b"); an element with none of
// those is shown as it is, on one line.
func summary(n *node) string {
	var parts []string
	add := func(s string) {
		if s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	add(n.attrs["type"])
	add(n.attrs["model"])
	if m := n.child("model"); m != nil {
		add(cmp.Or(m.attrs["type"], m.attrs["name"]))
	}
	if s := n.child("source"); s != nil {
		for _, a := range []string{"file", "dev", "dir", "network", "bridge", "pool", "volume", "path", "name", "host", "mode"} {
			add(s.attrs[a])
		}
		if v, p := s.child("vendor"), s.child("product"); v != nil && p != nil {
			add(strings.TrimPrefix(v.attrs["id"], "0x") + ":" + strings.TrimPrefix(p.attrs["id"], "0x"))
		}
		if a := s.child("address"); a != nil {
			add(a.inline())
		}
	}
	if t := n.child("target"); t != nil {
		if dst := cmp.Or(t.attrs["dir"], t.attrs["dev"], t.attrs["name"]); dst != "" {
			add("-> " + dst)
		}
	}
	if len(parts) == 0 {
		if valueOnly(n) {
			return n.text
		}
		return n.inline()
	}
	return strings.Join(parts, " ")
}

func unionKeys(a, b map[string]string) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// compareMetadata compares hvctl's own metadata (profile, owner, ordered autostart); other
// applications' metadata is theirs, and the applied hash is bookkeeping.
func compareMetadata(desired, live *libvirtxml.Domain) []Change {
	d, l := hvctlInfo(desired), hvctlInfo(live)
	var out []Change
	add := func(key, lv, dv string) {
		if lv == dv {
			return
		}
		kind := Changed
		if dv == "" {
			kind = Added
		} else if lv == "" {
			kind = Removed
		}
		out = append(out, Change{Key: "metadata." + key, Live: lv, Desired: dv, Kind: kind})
	}
	add("profile", l.Profile, d.Profile)
	add("owner", l.Owner, d.Owner)
	add("autostart", l.Autostart.String(), d.Autostart.String())
	return out
}

// String describes the order, "" for none.
func (a *Autostart) String() string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("group %s, priority %d", a.Group, a.Priority)
}

// hvctlInfo reads hvctl's element from among the applications' metadata of d.
func hvctlInfo(d *libvirtxml.Domain) Info {
	if d.Metadata == nil {
		return Info{}
	}
	var md struct {
		VM *struct {
			Profile   string `xml:"https://hyper-nixos.org/hvctl/1 profile"`
			Owner     string `xml:"https://hyper-nixos.org/hvctl/1 owner"`
			Applied   string `xml:"https://hyper-nixos.org/hvctl/1 applied"`
			Defined   string `xml:"https://hyper-nixos.org/hvctl/1 defined"`
			Autostart *struct {
				Group    string `xml:"group,attr"`
				Priority int    `xml:"priority,attr"`
			} `xml:"https://hyper-nixos.org/hvctl/1 autostart"`
		} `xml:"https://hyper-nixos.org/hvctl/1 vm"`
	}
	if err := xml.Unmarshal([]byte("<metadata>"+d.Metadata.XML+"</metadata>"), &md); err != nil || md.VM == nil {
		return Info{}
	}
	info := Info{Profile: md.VM.Profile, Owner: md.VM.Owner, Applied: md.VM.Applied, Defined: md.VM.Defined}
	if a := md.VM.Autostart; a != nil {
		info.Autostart = &Autostart{Group: a.Group, Priority: a.Priority}
	}
	return info
}

// MetadataElement is hvctl's metadata element of d as libvirt's metadata API takes it: without
// a namespace prefix (the API adds the namespace).
func MetadataElement(d *libvirtxml.Domain) (string, error) {
	info := hvctlInfo(d)
	v := struct {
		XMLName   xml.Name   `xml:"vm"`
		Profile   string     `xml:"profile"`
		Owner     string     `xml:"owner,omitempty"`
		Autostart *Autostart `xml:"autostart,omitempty"`
		Applied   string     `xml:"applied,omitempty"`
		Defined   string     `xml:"defined,omitempty"`
	}{Profile: info.Profile, Owner: info.Owner, Autostart: info.Autostart, Applied: info.Applied, Defined: info.Defined}
	b, err := xml.Marshal(v)
	return string(b), err
}

// SetDefined records in d's hvctl metadata when it was defined (see Metadata.Defined).
func SetDefined(d *libvirtxml.Domain, at string) error {
	info := hvctlInfo(d)
	if info.Profile == "" {
		return nil
	}
	m := Metadata{NS: Namespace, Profile: info.Profile, Owner: info.Owner, Autostart: info.Autostart, Applied: info.Applied, Defined: at}
	x, err := xml.Marshal(m)
	if err != nil {
		return err
	}
	d.Metadata = &libvirtxml.DomainMetadata{XML: string(x)}
	return nil
}

// KeepForeignMetadata copies into desired the metadata elements of live that belong to other
// applications (any namespace but hvctl's). They are not hvctl's to compare or to drop, so a
// redefinition must carry them over unchanged.
func KeepForeignMetadata(desired, live *libvirtxml.Domain) error {
	if live.Metadata == nil {
		return nil
	}
	foreign, err := foreignMetadata(live.Metadata.XML)
	if err != nil || foreign == "" {
		return err
	}
	if desired.Metadata == nil {
		desired.Metadata = &libvirtxml.DomainMetadata{}
	}
	desired.Metadata.XML += foreign
	return nil
}

// foreignMetadata returns, verbatim, the top-level elements of the metadata content x that are
// not in hvctl's namespace. libvirt writes each element with its own namespace declaration, so
// every one stands on its own.
func foreignMetadata(x string) (string, error) {
	dec := xml.NewDecoder(strings.NewReader(x))
	var b strings.Builder
	depth, start, ns := 0, int64(0), ""
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return "", fmt.Errorf("read the metadata of other applications: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start, ns = off, t.Name.Space
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 && ns != Namespace {
				b.WriteString(x[start:dec.InputOffset()])
			}
		}
	}
}

// KeepDisplayPasswords copies into desired the VNC and SPICE passwords of live's displays of
// the same type and position: profiles set none, and redefining without them would open the
// console to anyone who reaches its port.
func KeepDisplayPasswords(desired, live *libvirtxml.Domain) {
	if desired.Devices == nil || live.Devices == nil {
		return
	}
	for i := range desired.Devices.Graphics {
		if i >= len(live.Devices.Graphics) {
			return
		}
		d, l := &desired.Devices.Graphics[i], live.Devices.Graphics[i]
		switch {
		case d.VNC != nil && l.VNC != nil && d.VNC.Passwd == "":
			d.VNC.Passwd, d.VNC.PasswdValidTo = l.VNC.Passwd, l.VNC.PasswdValidTo
		case d.Spice != nil && l.Spice != nil && d.Spice.Passwd == "":
			d.Spice.Passwd, d.Spice.PasswdValidTo = l.Spice.Passwd, l.Spice.PasswdValidTo
		}
	}
}
