package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Import converts a Hyper-NixOS JSON VM profile, in any of its dialects (the schema'd one, the
// "intelligent"/"usecase" templates with AUTO_DETECT values, the rust-lib resources form), to
// TOML. Notes says what changed and what needs a person's eye; they head the output as comments.
//
// It reads what the old jq-based scripts read: jq printed every value as text, so "true", "4"
// and "4096" counted as true, 4 and 4096 there and count so here; nested keys are read where
// they sit; a UTF-8 byte order mark is skipped. Every key that is not carried over is noted.
func Import(data []byte) (out []byte, notes []string, err error) {
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	p := map[string]any{}
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	// used holds the paths read; a key is carried over when it or one of its parents was read.
	used := map[string]bool{}
	get := func(path string) (any, bool) {
		var cur any = in
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		}
		used[path] = true
		return cur, true
	}
	str := func(path string) string {
		v, _ := get(path)
		switch x := v.(type) {
		case string:
			return x
		case json.Number:
			return x.String()
		}
		return ""
	}
	// boolean is jq's test == "true": a JSON true or the string "true".
	boolean := func(path string) bool {
		v, _ := get(path)
		switch x := v.(type) {
		case bool:
			return x
		case string:
			return strings.EqualFold(strings.TrimSpace(x), "true")
		}
		return false
	}
	// whole reads a whole number from a JSON number or a string holding one. A fraction is
	// not cut off silently: it is noted (noted says so) and dropped.
	whole := func(path string, v any) (n int64, ok, noted bool) {
		var num json.Number
		switch x := v.(type) {
		case json.Number:
			num = x
		case string:
			num = json.Number(strings.TrimSpace(x))
		default:
			return 0, false, false
		}
		if i, err := num.Int64(); err == nil {
			return i, true, false
		}
		f, err := num.Float64()
		if err != nil {
			return 0, false, false
		}
		if f == float64(int64(f)) {
			return int64(f), true, false
		}
		note("%s: %s is not a whole number; dropped", path, num)
		return 0, false, true
	}
	// number reads an integer, and says what to do with AUTO_DETECT strings.
	number := func(path string) (int64, bool) {
		v, ok := get(path)
		if !ok {
			return 0, false
		}
		if s, ok := v.(string); ok && strings.HasPrefix(s, "AUTO_DETECT") {
			note("%s was %q: left to the configuration's [vm.defaults]%s", path, s, autoMin(s))
			return 0, false
		}
		n, ok, noted := whole(path, v)
		if ok {
			return n, true
		}
		if !noted {
			note("%s: %v is not a number; dropped", path, v)
		}
		return 0, false
	}
	table := func(name string) map[string]any {
		t, ok := p[name].(map[string]any)
		if !ok {
			t = map[string]any{}
			p[name] = t
		}
		return t
	}

	if s := str("name"); s != "" {
		p["name"] = s
	} else {
		note("no name in the JSON: set name before use")
		p["name"] = "imported"
	}
	for _, k := range []string{"owner", "description", "arch"} {
		if s := str(k); s != "" {
			p[k] = s
		}
	}
	if n, ok := number("cpus"); ok {
		p["vcpus"] = n
	} else if n, ok := number("resources.vcpus"); ok {
		p["vcpus"] = n
	}
	memMB, ok := number("memory_mb")
	if !ok {
		memMB, ok = number("resources.memory_mb")
	}
	if ok {
		p["memory"] = mib(memMB)
		note("memory_mb %d became memory = %q", memMB, mib(memMB))
	}
	if n, ok := number("limits.memory_max_mb"); ok && n > memMB {
		p["max_memory"] = mib(n)
	}
	disk := map[string]any{}
	if n, ok := number("disk_gb"); ok {
		disk["size"] = fmt.Sprintf("%dGiB", n)
	} else if n, ok := number("resources.disk_gb"); ok {
		disk["size"] = fmt.Sprintf("%dGiB", n)
	}
	if s := str("disk_image_path"); s != "" {
		disk["base_image"] = s
		note("disk_image_path became disk.base_image: the overlay now gets the base's real format and the profile's size (the old script guessed raw and never resized)")
	}
	if len(disk) > 0 {
		p["disk"] = disk
	}
	if s := str("disk_format"); s != "" && s != "qcow2" {
		note("disk_format %q dropped: disks are qcow2 volumes", s)
	}
	if s := str("iso_path"); s != "" {
		if strings.Contains(s, "PLACEHOLDER") {
			note("iso_path %q is a placeholder: dropped; set install_iso", s)
		} else {
			p["install_iso"] = strings.TrimPrefix(s, "isos/")
		}
	}
	ci := map[string]any{}
	for from, to := range map[string]string{"cloud_init.user_data_path": "user_data", "cloud_init.meta_data_path": "meta_data", "cloud_init.network_config_path": "network_config"} {
		if s := str(from); s != "" {
			ci[to] = s
		}
	}
	if s := str("cloud_init.seed_iso_path"); s != "" {
		note("cloud_init.seed_iso_path %q dropped: hvctl builds the seed itself from user_data and meta_data", s)
	}
	if len(ci) > 0 {
		p["cloud_init"] = ci
	}
	nic := map[string]any{}
	switch {
	case str("network.zone") != "":
		nic["zone"] = str("network.zone")
	case str("network.bridge") != "" && str("network.bridge") != "AUTO_DETECT":
		nic["bridge"] = str("network.bridge")
	default:
		nic["user"] = true
		note("no bridge or zone: the NIC uses user-mode networking, as the old script did; consider network = \"…\"")
	}
	if boolean("network.vhost") || boolean("features.vhost_net") {
		nic["vhost"] = true
	}
	p["network"] = []any{nic}
	if v, ok := get("cpu_pinning"); ok {
		if list, ok := v.([]any); ok && len(list) > 0 {
			// Pins are positional (vCPU i gets entry i mod n): one bad entry would move every
			// later vCPU to another host CPU, so the list is taken whole or not at all.
			pins := make([]int64, 0, len(list))
			for i, x := range list {
				n, ok, _ := whole(fmt.Sprintf("cpu_pinning[%d]", i), x)
				if !ok || n < 0 {
					note("cpu_pinning[%d]: %v is not a host CPU number; cpu_pinning dropped (pins are positional)", i, x)
					pins = nil
					break
				}
				pins = append(pins, n)
			}
			if pins != nil {
				table("cpu")["pinning"] = pins
			}
		}
	}
	var feats []string
	for _, f := range []string{"shstk", "ibt", "avic"} {
		if boolean("cpu_features." + f) {
			feats = append(feats, f)
		}
	}
	if len(feats) > 0 {
		table("cpu")["features"] = feats
	}
	if s := str("features.cpu_mode"); s != "" {
		table("cpu")["mode"] = s
	}
	switch {
	case boolean("cpu_features.sev_snp"):
		table("security")["sev"] = "sev-snp"
	case boolean("cpu_features.sev_es"):
		table("security")["sev"] = "sev-es"
	case boolean("cpu_features.sev"):
		table("security")["sev"] = "sev"
	}
	for _, f := range []string{"secure_avic", "ciphertext_hiding", "secure_tsc", "fred", "zhaoxin_centaur_leaves"} {
		if boolean("cpu_features." + f) {
			note("cpu_features.%s dropped: no generator ever used it", f)
		}
	}
	if boolean("hugepages") || boolean("features.hugepages") {
		table("memory_options")["hugepages"] = true
	}
	if boolean("memory_options.guest_memfd") {
		table("memory_options")["memfd"] = true
	}
	if boolean("memory_options.private") {
		table("memory_options")["private"] = true
	}
	if s := str("audio.model"); s != "" && s != "none" {
		table("audio")["model"] = s
	}
	if n, ok := number("video.heads"); ok && n > 0 {
		table("video")["heads"] = n
	}
	if boolean("looking_glass.enable") {
		lg := table("looking_glass")
		lg["enable"] = true
		if n, ok := number("looking_glass.size_mb"); ok {
			lg["size"] = mib(n)
		}
	}
	if v, ok := get("hostdevs"); ok {
		if list, ok := v.([]any); ok && len(list) > 0 {
			var devs []string
			for _, x := range list {
				if s, ok := x.(string); ok {
					devs = append(devs, s)
				}
			}
			p["hostdevs"] = devs
		}
	}
	if n, ok := number("limits.cpu_quota_percent"); ok {
		table("limits")["cpu_quota_percent"] = n
	}
	if boolean("memballoon.disable") {
		table("balloon")["disable"] = true
	}
	if boolean("tpm.enable") {
		table("security")["tpm"] = true
	}
	if s := str("numa.nodeset"); s != "" {
		table("numa")["nodeset"] = s
	}
	if boolean("autostart") || boolean("features.autostart") {
		p["autostart"] = true
	}
	if s := str("autostart_group"); s != "" {
		p["autostart_group"] = s
	}
	if n, ok := number("autostart_priority"); ok {
		p["autostart_priority"] = n
	}
	if s := str("display.type"); s != "" {
		table("graphics")["type"] = s
	}
	if boolean("display.headless") {
		table("graphics")["type"] = "none"
	}
	for k := range p {
		if t, ok := p[k].(map[string]any); ok && len(t) == 0 {
			delete(p, k)
		}
	}
	if dropped := notCarried(in, "", used); len(dropped) > 0 {
		note("not carried over (no meaning in hvctl): %s", strings.Join(dropped, ", "))
	}
	body, err := toml.Marshal(p)
	if err != nil {
		return nil, notes, err
	}
	var b bytes.Buffer
	b.WriteString("# Imported from a Hyper-NixOS JSON profile by `vmctl profile import`.\n")
	for _, n := range notes {
		b.WriteString("# - " + commentSafe(n) + "\n")
	}
	b.WriteString("\n")
	b.Write(body)
	return b.Bytes(), notes, nil
}

// notCarried lists the keys of m (dotted paths below prefix, leaves and arrays whole) that no
// read path covers.
func notCarried(m map[string]any, prefix string, used map[string]bool) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if used[path] {
			continue
		}
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			out = append(out, notCarried(sub, path, used)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// commentSafe escapes what may not stand in a TOML comment: a note quotes JSON keys and values
// verbatim, and a newline or control character there would end the comment (and let the JSON
// write TOML lines of its own) or make the whole file unreadable. C1 controls are escaped too,
// for the terminal the file is read on.
func commentSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || (r >= 0x20 && r < 0x7f) || r > 0x9f:
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func mib(n int64) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dGiB", n/1024)
	}
	return fmt.Sprintf("%dMiB", n)
}

func autoMin(s string) string {
	if m := strings.TrimPrefix(s, "AUTO_DETECT_MIN_"); m != s {
		return " (the template asked for at least " + m + ")"
	}
	return ""
}
