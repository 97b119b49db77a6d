package output

import (
	"bytes"
	"testing"
)

type row struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Extra int    `json:"extra"`
}

var cols = []Column[row]{
	{Header: "name", Value: func(r row) string { return r.Name }},
	{Header: "state", Value: func(r row) string { return r.State }},
	{Header: "extra", Wide: true, Value: func(r row) string { return "x" }},
}

func render(t *testing.T, f Format, items []row) string {
	t.Helper()
	var b bytes.Buffer
	if err := List(&b, f, items, cols, func(r row) string { return r.Name }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestListFormats(t *testing.T) {
	items := []row{{"a", "running", 1}, {"web-long-name", "shut_off", 2}}
	tests := []struct {
		name string
		f    Format
		want string
	}{
		{"table", Format{Kind: Table}, "NAME            STATE\na               running\nweb-long-name   shut_off\n"},
		{"noheaders", Format{Kind: Table, NoHeaders: true}, "a               running\nweb-long-name   shut_off\n"},
		{"wide", Format{Kind: Wide}, "NAME            STATE      EXTRA\na               running    x\nweb-long-name   shut_off   x\n"},
		{"name", Format{Kind: Name}, "a\nweb-long-name\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.f, items); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestEmptyListIsArray(t *testing.T) {
	if got := render(t, Format{Kind: JSON}, nil); got != "[]\n" {
		t.Errorf("got %q", got)
	}
	if got := render(t, Format{Kind: Table}, nil); got != "NAME   STATE\n" {
		t.Errorf("empty table: got %q", got)
	}
}

func TestJQ(t *testing.T) {
	f, err := ParseFormat("", false, ".[] | select(.extra > 1) | .name", false)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, f, []row{{"a", "running", 1}, {"b", "paused", 2}})
	if got != "b\n" {
		t.Errorf("got %q", got)
	}
	if _, err := ParseFormat("", false, ".[", false); err == nil {
		t.Error("bad jq accepted")
	}
	if _, err := ParseFormat("yaml", false, "", false); err == nil {
		t.Error("bad format accepted")
	}
	if _, err := ParseFormat("table", true, "", false); err == nil {
		t.Error("--json with -o table accepted")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain name":      "plain name",
		"evil\x1b[2Jname": `evil\x1b[2Jname`,
		"tab\there":       `tab\there`,
		"ünïcode":         "ünïcode",
		"bad\xffutf8":     `bad\xffutf8`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// -o name prints names as they are in a pipe (so xargs sees every legal name), escaped on a
// terminal, NUL-terminated with -0; a single object prints its name too.
func TestNames(t *testing.T) {
	items := []row{{Name: "odd name\ttab"}, {Name: "esc\x1b[2J"}}
	if got := render(t, Format{Kind: Name}, items); got != "odd name\ttab\nesc\x1b[2J\n" {
		t.Errorf("pipe: %q", got)
	}
	if got := render(t, Format{Kind: Name, Terminal: true}, items); got != `odd name\ttab`+"\n"+`esc\x1b[2J`+"\n" {
		t.Errorf("terminal: %q", got)
	}
	if got := render(t, Format{Kind: Name, Zero: true}, items); got != "odd name\ttab\x00esc\x1b[2J\x00" {
		t.Errorf("-0: %q", got)
	}
	var b bytes.Buffer
	if err := Object(&b, Format{Kind: Name}, items[0], [][2]string{{"uuid", "u"}, {"name", items[0].Name}}); err != nil || b.String() != "odd name\ttab\n" {
		t.Errorf("object: %q %v", b.String(), err)
	}
	if err := Object(&b, Format{Kind: Name}, items[0], [][2]string{{"uuid", "u"}}); err == nil {
		t.Error("an object without a name printed one")
	}
	b.Reset()
	if err := Object(&b, Format{Kind: Wide}, items[0], [][2]string{{"name", "a"}}); err != nil || b.String() != "name   a\n" {
		t.Errorf("wide object: %q %v", b.String(), err)
	}
}

// JSON escapes every control character: encoding/json leaves DEL and C1 (U+009B is CSI) raw.
func TestJSONEscapesC1(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, Format{Kind: JSON}, map[string]string{"name": "a\u009b2Jb\x7fc\x1bd é"}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"name":"a\u009b2Jb\u007fc\u001bd é"}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriteText(t *testing.T) {
	x := "<name>a\x1b[2Jb\u009b</name>\n\t<x/>\n"
	var b bytes.Buffer
	_ = WriteText(&b, false, x)
	if b.String() != x {
		t.Errorf("pipe: %q", b.String())
	}
	b.Reset()
	_ = WriteText(&b, true, x)
	if want := `<name>a\x1b[2Jb\u009b</name>` + "\n\t<x/>\n"; b.String() != want {
		t.Errorf("terminal: %q, want %q", b.String(), want)
	}
}
