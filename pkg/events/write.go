package events

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// Writer is the Sink of stdout: NDJSON (one compact object per line, --jq applied to each), a
// name per line (-o name), or a readable line per record; every record is flushed at once, so
// a consumer at the other end of a pipe sees it as it happens.
type Writer struct {
	w      *bufio.Writer
	format output.Format
}

// NewWriter writes records to w in format.
func NewWriter(w io.Writer, format output.Format) *Writer {
	format.Pretty = false // NDJSON: one record per line, on a terminal too
	return &Writer{w: bufio.NewWriter(w), format: format}
}

// Send writes one record and flushes it.
func (s *Writer) Send(ev model.Event) error {
	var err error
	switch {
	case s.format.IsJSON():
		err = output.WriteJSON(s.w, s.format, ev)
	case s.format.Kind == output.Name:
		if ev.Name == "" {
			return nil
		}
		name := ev.Name
		if s.format.Terminal {
			name = output.Escape(name)
		}
		end := "\n"
		if s.format.Zero {
			end = "\x00"
		}
		_, err = s.w.WriteString(name + end)
	default:
		_, err = s.w.WriteString(Line(ev) + "\n")
	}
	if err != nil {
		return err
	}
	return s.w.Flush()
}

// Line describes a record in one line for people: local time to the millisecond, kind, name,
// type, detail and the data's fields that say something, escaped for a terminal.
func Line(ev model.Event) string {
	ts := ev.Time
	if t, err := time.Parse(TimeFormat, ev.Time); err == nil {
		ts = t.Local().Format("2006-01-02 15:04:05.000")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-7s %s %s", ts, ev.Kind, cmp.Or(ev.Name, "-"), ev.Type)
	if ev.Detail != "" {
		b.WriteString(" " + ev.Detail)
	}
	if _, lifecycle := ev.Data.(model.EventLifecycleData); !lifecycle {
		for _, kv := range dataFields(ev.Data) {
			b.WriteString(" " + kv)
		}
	}
	return output.Escape(b.String())
}

// dataFields are the data's non-empty fields as key=value, sorted by key; nested values as
// compact JSON.
func dataFields(data any) []string {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch v := m[k].(type) {
		case nil, bool:
			if v == true {
				out = append(out, k)
			}
		case string:
			if v != "" {
				out = append(out, k+"="+v)
			}
		case float64:
			if v != 0 {
				out = append(out, fmt.Sprintf("%s=%v", k, v))
			}
		default:
			j, _ := json.Marshal(v)
			if s := string(j); s != "[]" && s != "{}" {
				out = append(out, k+"="+s)
			}
		}
	}
	return out
}
