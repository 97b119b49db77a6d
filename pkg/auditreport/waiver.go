package auditreport

import (
	"bytes"
	"fmt"
	"github.com/hyper-nixos/hvctl/pkg/config"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Waiver accepts the failures of one control on the targets its glob matches, for a reason,
// until a date.
type Waiver struct {
	Control string
	Target  string // a glob as in the shell (path.Match): `*` does not cross `/`
	Reason  string
	Expires toml.LocalDate // the last day the waiver holds
	File    string
	Line    int // of the [[waiver]] header
}

// Expired says whether the waiver no longer holds on the day of now (in now's time zone): it
// holds through its expiry date.
func (w Waiver) Expired(now time.Time) bool {
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return today.After(w.Expires.AsTime(time.UTC))
}

// Matches says whether the waiver covers finding f (whatever its status).
func (w Waiver) Matches(f model.Finding) bool {
	ok, _ := path.Match(w.Target, f.Target)
	return w.Control == f.ID && ok
}

// Report is the waiver as the run reports it.
func (w Waiver) Report() model.AuditWaiver {
	return model.AuditWaiver{Control: w.Control, Target: w.Target, Reason: w.Reason, Expires: w.Expires.String(), File: w.File, Line: w.Line}
}

// waiverFile is the TOML shape of a waivers file.
type waiverFile struct {
	// Every value is decoded as it was written, so that a wrong type is reported by its key
	// and line rather than by the decoder's Go types.
	Waiver []struct {
		Control any `toml:"control"` // strings
		Target  any `toml:"target"`
		Reason  any `toml:"reason"`
		Expires any `toml:"expires"` // a toml.LocalDate; anything else is refused
	} `toml:"waiver"`
}

// ParseWaivers decodes a waivers file strictly: unknown keys, wrong types, a missing control,
// target, reason or expiry, a control that is not in controls, a bad glob and a second waiver for
// the same control and target are usage errors naming file:line:col.
func ParseWaivers(file string, data []byte, controls []string) ([]Waiver, error) {
	// A byte order mark (editors that save "UTF-8 with BOM") is no key: TOML decoders would
	// report it as one, with a mangled character.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var doc waiverFile
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, config.TOMLError(file, err, "a waiver has control, target, reason and expires")
	}
	pos, misshapen, err := waiverPositions(data)
	if err != nil {
		return nil, config.TOMLError(file, err, "a waiver has control, target, reason and expires")
	}
	// [waiver] (one table) and waiver = [{…}] decode too, but have no [[waiver]] header to point at.
	if misshapen != nil || len(pos) != len(doc.Waiver) {
		at := textPos{1, 1}
		if misshapen != nil {
			at = *misshapen
		}
		return nil, errs.New(errs.Usage, "%s:%d:%d: write each waiver as a [[waiver]] table (two brackets), one per accepted finding", file, at.line, at.col)
	}
	var out []Waiver
	for i, e := range doc.Waiver {
		p := pos[i]
		bad := func(key, format string, args ...any) error {
			at, ok := p.keys[key]
			if !ok {
				at = p.header
			}
			return errs.New(errs.Usage, "%s:%d:%d: waiver %d: %s", file, at.line, at.col, i+1, fmt.Sprintf(format, args...))
		}
		w := Waiver{File: file, Line: p.header.line}
		for _, field := range []struct {
			key   string
			value any
			into  *string
		}{{"control", e.Control, &w.Control}, {"target", e.Target, &w.Target}, {"reason", e.Reason, &w.Reason}} {
			switch v := field.value.(type) {
			case nil:
			case string:
				*field.into = v
			default:
				return nil, bad(field.key, "%s must be a string, not %s", field.key, tomlKind(v))
			}
		}
		w.Reason = strings.TrimSpace(w.Reason)
		// IDs are matched without regard to case, as --only and --skip take them.
		if i := slices.IndexFunc(controls, func(id string) bool { return strings.EqualFold(id, w.Control) }); i >= 0 {
			w.Control = controls[i]
		}
		switch d := e.Expires.(type) {
		case nil:
		case toml.LocalDate:
			w.Expires = d
		default:
			return nil, bad("expires", "expires must be a TOML date such as 2027-06-30 (no quotes, no time), not %s", tomlKind(d))
		}
		switch {
		case w.Control == "":
			return nil, bad("control", "control is missing (a control ID such as VM-011)")
		case !slices.Contains(controls, w.Control):
			msg := fmt.Sprintf("control %q is not a control of the audit", w.Control)
			if g := strings.ToLower(w.Control); slices.Contains(audit.Groups, g) {
				msg = fmt.Sprintf("control %q is a group: a waiver accepts the findings of one control ID (such as %s)", w.Control, groupExample(g, controls))
			} else if s := Suggest(w.Control, controls); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return nil, bad("control", "%s", msg)
		case w.Target == "":
			return nil, bad("target", "target is missing (a VM, network, path or host; globs allowed)")
		case w.Reason == "":
			return nil, bad("reason", "reason is missing: say why the finding is accepted")
		case w.Expires == toml.LocalDate{}:
			return nil, bad("expires", "expires is missing (a TOML date such as 2027-06-30)")
		}
		if _, err := path.Match(w.Target, ""); err != nil {
			return nil, bad("target", "target %q is not a valid glob", w.Target)
		}
		for _, prev := range out {
			if prev.Control == w.Control && prev.Target == w.Target {
				return nil, bad("target", "a second waiver for %s %s (the first is at line %d)", w.Control, w.Target, prev.Line)
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// groupExample is the first of controls in group g, for a message.
func groupExample(g string, controls []string) string {
	for _, c := range audit.All() {
		if c.Group == g && slices.Contains(controls, c.ID) {
			return c.ID
		}
	}
	return "VM-011"
}

func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case toml.LocalDateTime, time.Time:
		return "a date and time"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case toml.LocalDate:
		return "a date"
	case toml.LocalTime:
		return "a time"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

type textPos struct{ line, col int }

// waiverPos is where one [[waiver]] table and its keys were written.
type waiverPos struct {
	header textPos
	keys   map[string]textPos
}

// waiverPositions finds every [[waiver]] table and its keys, so that problems found after
// decoding still point at a line. misshapen is where a waiver is written another way: a
// [waiver] table or a waiver key outside [[waiver]] tables.
func waiverPositions(data []byte) (out []waiverPos, misshapen *textPos, err error) {
	var p unstable.Parser
	p.Reset(data)
	at := func(n *unstable.Node) textPos {
		s := p.Shape(n.Raw)
		return textPos{s.Start.Line, s.Start.Column}
	}
	inWaiver, inTable := false, false
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.ArrayTable, unstable.Table:
			it := e.Key()
			var name []string
			var first *unstable.Node
			for it.Next() {
				if first == nil {
					first = it.Node()
				}
				name = append(name, string(it.Node().Data))
			}
			inWaiver = e.Kind == unstable.ArrayTable && len(name) == 1 && name[0] == "waiver"
			inTable = true
			if e.Kind == unstable.Table && len(name) == 1 && name[0] == "waiver" && misshapen == nil {
				at := at(first)
				misshapen = &at
			}
			if inWaiver {
				out = append(out, waiverPos{header: at(first), keys: map[string]textPos{}})
			}
		case unstable.KeyValue:
			it := e.Key()
			if !it.Next() {
				continue
			}
			k := it.Node()
			switch {
			case inWaiver:
				out[len(out)-1].keys[string(k.Data)] = at(k)
			case !inTable && string(k.Data) == "waiver" && misshapen == nil:
				at := at(k)
				misshapen = &at
			}
		}
	}
	return out, misshapen, p.Error()
}

// Outcome is what the waivers did to a run's results.
type Outcome struct {
	Results []model.Finding // failures a waiver accepts are "waived", with the waiver
	Unused  []Waiver        // waivers of controls that ran that accepted no failure
	Expired []Waiver        // waivers past their date that would have accepted a failure
}

// Scope is what a run looked at, so that waivers outside it are not called unused.
type Scope struct {
	Controls []string // the controls that ran
	SomeVMs  bool     // --vm limited the VMs: a waiver whose target matches no result was outside the run
}

// ApplyWaivers marks each failing result that an unexpired waiver covers as waived (the first
// such waiver in the file). A failure that only expired waivers cover stays a failure and its
// waivers are reported as expired. Waivers outside the scope (a control that did not run, a
// VM --vm left out) are not reported as unused.
func ApplyWaivers(results []model.Finding, waivers []Waiver, scope Scope, now time.Time) Outcome {
	used := make([]bool, len(waivers))
	expired := make([]bool, len(waivers))
	out := Outcome{Results: make([]model.Finding, 0, len(results))}
	for _, f := range results {
		if f.Status == "fail" {
			var stale []int // expired waivers that cover f
			for i, w := range waivers {
				if !w.Matches(f) {
					continue
				}
				if w.Expired(now) {
					stale = append(stale, i)
					continue
				}
				used[i] = true
				f.Status = "waived"
				f.Waiver = &model.FindingWaiver{Reason: w.Reason, Expires: w.Expires.String(), File: w.File, Line: w.Line}
				break
			}
			if f.Status == "fail" {
				for _, i := range stale {
					expired[i] = true
				}
			}
		}
		out.Results = append(out.Results, f)
	}
	for i, w := range waivers {
		switch {
		case used[i]:
		case expired[i]:
			out.Expired = append(out.Expired, w)
		case !slices.Contains(scope.Controls, w.Control):
		case scope.SomeVMs && !slices.ContainsFunc(results, func(f model.Finding) bool {
			ok, _ := path.Match(w.Target, f.Target)
			return ok
		}):
		default:
			out.Unused = append(out.Unused, w)
		}
	}
	return out
}
