// Package output renders one data model as a table, a wide table, JSON, bare names, or a jq
// filter over the JSON. Commands hand it their model and column specs; they never format JSON.
//
// Like every package under pkg/, it exists for hvctl alone and carries no Go API promise: what
// hvctl promises is its command line, its exit codes and the JSON of pkg/model.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/itchyny/gojq"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Kind is an output format.
type Kind string

const (
	Table Kind = "table"
	Wide  Kind = "wide"
	JSON  Kind = "json"
	Name  Kind = "name"
)

// Kinds lists the formats -o accepts.
var Kinds = []string{string(Table), string(Wide), string(JSON), string(Name)}

// Format is what the output flags asked for.
type Format struct {
	Kind      Kind
	NoHeaders bool
	JQ        *gojq.Code // non-nil with --jq; implies JSON
	Pretty    bool       // indent JSON: stdout is a terminal
	Terminal  bool       // stdout is a terminal: -o name escapes names for people
	Zero      bool       // -0: -o name ends each name with NUL
}

// IsJSON says whether the result goes out as JSON (also for errors on stderr).
func (f Format) IsJSON() bool { return f.Kind == JSON || f.JQ != nil }

// ParseFormat validates the output flags.
func ParseFormat(output string, asJSON bool, jq string, noHeaders bool) (Format, error) {
	f := Format{Kind: Kind(output), NoHeaders: noHeaders}
	if f.Kind == "" {
		f.Kind = Table
	}
	switch f.Kind {
	case Table, Wide, JSON, Name:
	default:
		return f, errs.New(errs.Usage, "-o/--output %q: want one of %s", output, strings.Join(Kinds, ", "))
	}
	if asJSON {
		if output != "" && f.Kind != JSON {
			return f, errs.New(errs.Usage, "--json and -o %s contradict each other", output)
		}
		f.Kind = JSON
	}
	if jq != "" {
		// --jq implies --json: another -o is the same contradiction, not silently ignored.
		if output != "" && Kind(output) != JSON {
			return f, errs.New(errs.Usage, "--jq and -o %s contradict each other", output)
		}
		q, err := gojq.Parse(jq)
		if err != nil {
			return f, errs.New(errs.Usage, "--jq: %w", err)
		}
		code, err := gojq.Compile(q)
		if err != nil {
			return f, errs.New(errs.Usage, "--jq: %w", err)
		}
		f.JQ = code
		f.Kind = JSON
	}
	return f, nil
}

// Column is one table column over items of type T.
type Column[T any] struct {
	Header string
	Wide   bool // shown only with -o wide
	Value  func(T) string
}

// List renders items (already sorted) in the requested format.
func List[T any](w io.Writer, f Format, items []T, cols []Column[T], name func(T) string) error {
	if items == nil {
		items = []T{} // a list is [] when empty, never null
	}
	switch f.Kind {
	case JSON:
		return WriteJSON(w, f, items)
	case Name:
		var b strings.Builder
		for _, it := range items {
			f.writeName(&b, name(it))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	var header []string
	var picked []Column[T]
	for _, c := range cols {
		if c.Wide && f.Kind != Wide {
			continue
		}
		picked = append(picked, c)
		header = append(header, c.Header)
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		row := make([]string, len(picked))
		for i, c := range picked {
			row[i] = Escape(c.Value(it))
		}
		rows = append(rows, row)
	}
	return RenderTable(w, header, rows, f.NoHeaders)
}

// writeName writes one name for -o name: escaped for a person at a terminal, raw in a pipe so
// xargs and read see every legal name as it is, NUL-terminated with -0.
func (f Format) writeName(b *strings.Builder, name string) {
	switch {
	case f.Zero:
		b.WriteString(name)
		b.WriteByte(0)
	case f.Terminal:
		b.WriteString(Escape(name))
		b.WriteByte('\n')
	default:
		b.WriteString(name)
		b.WriteByte('\n')
	}
}

// NoNameError refuses -o name for data that has no name (one word for every command).
func NoNameError() error {
	return errs.New(errs.Usage, "-o name: this command prints no name; use -o json")
}

// Named is implemented by objects that know their name, for -o name.
type Named interface{ ObjectName() string }

// Object renders one object: JSON as itself, -o name as its name, a table (plain or wide) as
// FIELD/VALUE pairs. The name is the object's ObjectName, else the pair labelled "name".
func Object(w io.Writer, f Format, obj any, pairs [][2]string) error {
	switch f.Kind {
	case JSON:
		return WriteJSON(w, f, obj)
	case Name:
		name, ok := objectName(obj, pairs)
		if !ok {
			return NoNameError()
		}
		var b strings.Builder
		f.writeName(&b, name)
		_, err := io.WriteString(w, b.String())
		return err
	}
	rows := make([][]string, 0, len(pairs))
	for _, p := range pairs {
		rows = append(rows, []string{p[0], Escape(p[1])})
	}
	return RenderTable(w, nil, rows, true)
}

func objectName(obj any, pairs [][2]string) (string, bool) {
	if n, ok := obj.(Named); ok {
		return n.ObjectName(), true
	}
	for _, p := range pairs {
		if strings.EqualFold(strings.TrimSuffix(p[0], ":"), "name") {
			return p[1], true
		}
	}
	return "", false
}

// RenderTable writes aligned columns with upper-case headers and no borders, identical on a
// terminal and in a pipe so awk and cut keep working.
func RenderTable(w io.Writer, header []string, rows [][]string, noHeaders bool) error {
	if len(rows) == 0 && (noHeaders || len(header) == 0) {
		return nil
	}
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: tw.Empty, Right: "   ", Overwrite: true}},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: tw.Empty, Right: "   ", Overwrite: true}},
			},
		}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	if !noHeaders && len(header) > 0 {
		up := make([]any, len(header))
		for i, h := range header {
			up[i] = strings.ToUpper(h)
		}
		t.Header(up...)
	}
	for _, r := range rows {
		cells := make([]any, len(r))
		for i, c := range r {
			cells[i] = c
		}
		if err := t.Append(cells...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	// The renderer pads the last column too; trailing blanks only get in the way of scripts.
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		out.WriteString(strings.TrimRight(line, " "))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// WriteJSON encodes v (through --jq if given) without HTML escaping: indented for a person at
// a terminal (f.Pretty), one compact document per line for pipes, where indenting only costs
// time and bytes (measured: a tenth of `vmctl list --json` on 1000 VMs).
func WriteJSON(w io.Writer, f Format, v any) error {
	data, err := marshal(v, f.Pretty)
	if err != nil {
		return err
	}
	if f.JQ == nil {
		_, err = w.Write(data)
		return err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return err
	}
	var out bytes.Buffer
	iter := f.JQ.Run(generic)
	for {
		r, ok := iter.Next()
		if !ok {
			break
		}
		if e, isErr := r.(error); isErr {
			if h, halt := e.(*gojq.HaltError); halt && h.Value() == nil {
				break
			}
			return errs.New(errs.Usage, "--jq: %w", e)
		}
		if s, isStr := r.(string); isStr {
			if f.Terminal {
				s = Escape(s) // a person reads it: show escape sequences, do not obey them
			}
			out.WriteString(s) // strings print raw, as jq -r
			out.WriteByte('\n')
			continue
		}
		b, err := marshal(r, f.Pretty)
		if err != nil {
			return err
		}
		out.Write(b)
	}
	_, err = w.Write(out.Bytes())
	return err
}

func marshal(v any, pretty bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return escapeControls(buf.Bytes()), nil
}

// escapeControls escapes DEL and the C1 controls (U+0080–U+009F) that encoding/json leaves raw:
// U+009B is a one-byte CSI to a terminal, so `--json` piped to less or cat could still drive it.
// Outside strings JSON is plain ASCII, so every such rune in the document is inside a string.
func escapeControls(b []byte) []byte {
	if !bytes.ContainsFunc(b, isC1OrDEL) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if isC1OrDEL(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:n])
		}
		b = b[n:]
	}
	return out.Bytes()
}

func isC1OrDEL(r rune) bool { return r == 0x7f || r >= 0x80 && r <= 0x9f }

// WriteText writes text meant for files and pipes (XML, TOML) as it is, or, for a person at a
// terminal, with every control character but newline and tab escaped, so that an escape
// sequence in a libvirt name or description is shown instead of obeyed.
func WriteText(w io.Writer, terminal bool, s string) error {
	if terminal {
		s = escapeText(s)
	}
	_, err := io.WriteString(w, s)
	return err
}

// escapeText is Escape for multi-line text: newlines and tabs stay.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRuneToGraphic(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Escape makes a string from libvirt or a file safe for a terminal: control characters, escape
// sequences and invalid UTF-8 are shown as Go escapes instead of being interpreted.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
