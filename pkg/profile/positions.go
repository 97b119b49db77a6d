package profile

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is where a key was written.
type Pos struct {
	File      string
	Line, Col int
}

// positions maps every key path of a TOML document ("disk.size", "network[1].bridge") to where
// it was written, so that problems found after decoding can still point at a line and column.
func positions(file string, data []byte) map[string]Pos {
	out := map[string]Pos{}
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	arrays := map[string]int{}
	at := func(n *unstable.Node) Pos {
		s := p.Shape(n.Raw)
		return Pos{File: file, Line: s.Start.Line, Col: s.Start.Column}
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + "." + b
	}
	// keyPath records each prefix of a dotted key and returns the full path.
	keyPath := func(base string, n *unstable.Node) string {
		path := base
		it := n.Key()
		for it.Next() {
			k := it.Node()
			path = join(path, string(k.Data))
			if _, seen := out[path]; !seen {
				out[path] = at(k)
			}
		}
		return path
	}
	var value func(path string, v *unstable.Node, keyPos Pos)
	value = func(path string, v *unstable.Node, keyPos Pos) {
		switch v.Kind {
		case unstable.InlineTable:
			c := v.Children()
			for c.Next() {
				kv := c.Node()
				sub := keyPath(path, kv)
				value(sub, kv.Value(), out[sub])
			}
		case unstable.Array:
			c := v.Children()
			for i := 0; c.Next(); i++ {
				el := c.Node()
				elPath := fmt.Sprintf("%s[%d]", path, i)
				if el.Raw.Length > 0 {
					out[elPath] = at(el)
				} else {
					out[elPath] = keyPos
				}
				value(elPath, el, out[elPath])
			}
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			prefix = keyPath("", e)
		case unstable.ArrayTable:
			name := keyPath("", e)
			i := arrays[name]
			arrays[name]++
			prefix = fmt.Sprintf("%s[%d]", name, i)
			out[prefix] = out[name]
		case unstable.KeyValue:
			path := keyPath(prefix, e)
			value(path, e.Value(), out[path])
		}
	}
	return out
}

// lookup finds the position of path, or of its closest parent that has one.
func lookup(pos map[string]Pos, path string) (Pos, bool) {
	for path != "" {
		if p, ok := pos[path]; ok {
			return p, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return Pos{}, false
}
