package profile

import (
	"reflect"
	"strconv"
	"strings"
)

// Schema returns a JSON Schema (draft 2020-12) of the profile format, derived from the same
// struct and tags the decoder checks against, so the two cannot disagree.
func Schema() map[string]any {
	s := schemaOf(reflect.TypeOf(Profile{}), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://hyper-nixos.org/hvctl/profile.schema.json"
	s["title"] = "hvctl VM profile"
	s["required"] = []string{"name"}
	return s
}

func schemaOf(t reflect.Type, tag reflect.StructTag) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := map[string]any{}
	if d := tag.Get("doc"); d != "" {
		s["description"] = d
	}
	switch t.Kind() {
	case reflect.String:
		s["type"] = "string"
		if e := tag.Get("enum"); e != "" {
			s["enum"] = strings.Split(e, ",")
		}
		if p := tag.Get("pattern"); p != "" {
			s["pattern"] = p
		}
	case reflect.Int:
		s["type"] = "integer"
		if n, err := strconv.Atoi(tag.Get("min")); err == nil {
			s["minimum"] = n
		}
		if n, err := strconv.Atoi(tag.Get("max")); err == nil {
			s["maximum"] = n
		}
	case reflect.Bool:
		s["type"] = "boolean"
	case reflect.Slice:
		s["type"] = "array"
		// enum and pattern describe the elements of a list.
		elemTag := reflect.StructTag(strings.TrimSpace(strings.Join(filterTag(tag, "enum", "pattern", "min", "max"), " ")))
		s["items"] = schemaOf(t.Elem(), elemTag)
	case reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			props[name] = schemaOf(f.Type, f.Tag)
		}
		s["properties"] = props
	}
	return s
}

func filterTag(tag reflect.StructTag, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if v, ok := tag.Lookup(k); ok {
			out = append(out, k+":"+strconv.Quote(v))
		}
	}
	return out
}
