package domainxml

import (
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// node is one element of a domain definition with namespaces dropped: the form in which two
// definitions are normalised and compared element by element.
type node struct {
	name  string
	attrs map[string]string
	text  string
	kids  []*node
}

// tree renders d through libvirtxml (so both sides of a comparison pass the same encoder) and
// reads the result back as nodes.
func tree(d *libvirtxml.Domain) (*node, error) {
	x, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	return parseTree(x)
}

func parseTree(x string) (*node, error) {
	dec := xml.NewDecoder(strings.NewReader(x))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, attrs: map[string]string{}}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text = strings.TrimSpace(n.text)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("empty definition")
	}
	return root, nil
}

// child is the first child named name, or nil.
func (n *node) child(name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// inline is the element as one line of XML, attributes sorted: the fallback description of an
// element that has no better summary.
func (n *node) inline() string {
	var b strings.Builder
	b.WriteString("<" + n.name)
	for _, k := range slices.Sorted(maps.Keys(n.attrs)) {
		b.WriteString(" " + k + "='" + n.attrs[k] + "'")
	}
	if len(n.kids) == 0 && n.text == "" {
		b.WriteString("/>")
		return b.String()
	}
	b.WriteString(">" + n.text)
	for _, k := range n.kids {
		b.WriteString(k.inline())
	}
	b.WriteString("</" + n.name + ">")
	return b.String()
}
