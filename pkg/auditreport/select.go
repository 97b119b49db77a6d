// Package auditreport turns an audit's results into what people and tools act on: the
// selection of controls, waivers, the JSON envelope, SARIF 2.1.0 and JUnit XML. It reads no
// files and talks to no daemon; the audit command feeds it.
package auditreport

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// Select returns the controls to run: those of only (IDs or groups; all when empty) minus those
// of skip (IDs or groups), in the catalogue's order. IDs and groups are matched without regard
// to case; an unknown one is a usage error that names the valid choices.
func Select(all []audit.Control, only, skip []string) ([]audit.Control, error) {
	ids := make([]string, 0, len(all))
	for _, c := range all {
		ids = append(ids, c.ID)
	}
	resolve := func(flag string, words []string) (map[string]bool, error) {
		want := map[string]bool{}
		for _, w := range words {
			w = strings.TrimSpace(w)
			switch {
			case slices.Contains(audit.Groups, strings.ToLower(w)):
				for _, c := range all {
					if c.Group == strings.ToLower(w) {
						want[c.ID] = true
					}
				}
			case slices.Contains(ids, strings.ToUpper(w)):
				want[strings.ToUpper(w)] = true
			default:
				return nil, unknownControl(flag, w, ids)
			}
		}
		return want, nil
	}
	in, err := resolve("--only", only)
	if err != nil {
		return nil, err
	}
	out, err := resolve("--skip", skip)
	if err != nil {
		return nil, err
	}
	var picked []audit.Control
	for _, c := range all {
		if (len(only) == 0 || in[c.ID]) && !out[c.ID] {
			picked = append(picked, c)
		}
	}
	if len(picked) == 0 {
		return nil, errs.New(errs.Usage, "--only %s --skip %s leaves no control to run", strings.Join(only, ","), strings.Join(skip, ","))
	}
	return picked, nil
}

func unknownControl(flag, word string, ids []string) error {
	msg := fmt.Sprintf("%s %q: not a control ID or group", flag, word)
	if s := Suggest(word, append(slices.Clone(audit.Groups), ids...)); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return errs.New(errs.Usage, "%s", msg).
		WithHint("groups: %s; control IDs: %s … (all in 'hvctl audit controls')", strings.Join(audit.Groups, ", "), strings.Join(ids[:min(len(ids), 3)], ", "))
}

// ValidPatterns checks --vm globs before anything runs.
func ValidPatterns(flag string, patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return errs.New(errs.Usage, "%s %q: not a valid glob", flag, p)
		}
	}
	return nil
}

// MatchAny says whether name matches one of the globs (true when there are none).
func MatchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
