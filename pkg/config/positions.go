package config

import (
	"github.com/pelletier/go-toml/v2/unstable"
)

// keyPos is where a key of a configuration file was written.
type keyPos struct {
	file      string
	line, col int
}

// keyPositions maps the dotted path of every table and key in a configuration file ("groups.web",
// "hosts.h1.uri") to where it was written, so that a mistake found only by validate (a group
// naming an unknown host) still points at file:line:col as decoding errors do. The file has
// already decoded, so parse errors cannot occur here; a path written twice keeps its first place.
func keyPositions(file string, data []byte) map[string]keyPos {
	out := map[string]keyPos{}
	var p unstable.Parser
	p.Reset(data)
	keyPath := func(base string, n *unstable.Node) string {
		path := base
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if path != "" {
				path += "."
			}
			path += string(k.Data)
			if _, seen := out[path]; !seen {
				s := p.Shape(k.Raw)
				out[path] = keyPos{file: file, line: s.Start.Line, col: s.Start.Column}
			}
		}
		return path
	}
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyPath("", e)
		case unstable.KeyValue:
			keyPath(table, e)
		}
	}
	return out
}
