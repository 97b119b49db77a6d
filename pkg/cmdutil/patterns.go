package cmdutil

import (
	"path"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// ValidatePatterns rejects a malformed shell-style pattern before anything is listed.
func ValidatePatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return errs.New(errs.Usage, "invalid pattern %q", output.Escape(p))
		}
	}
	return nil
}

// MatchAny says whether name matches one of the patterns; no patterns match everything.
func MatchAny(patterns []string, name string) bool {
	return len(patterns) == 0 || slices.ContainsFunc(patterns, func(p string) bool {
		ok, _ := path.Match(p, name)
		return ok
	})
}

// MissingNames is the list commands' not-found error: a plain name (not a glob) that names
// nothing in existing is exit 3, as `kubectl get pod nope` is, while a glob that matches
// nothing is an empty list. what is "VM", "network" …; nil when every plain name exists.
func MissingNames(what string, patterns, existing []string) error {
	var missing []string
	for _, p := range patterns {
		if !IsGlob(p) && !slices.Contains(existing, p) {
			missing = append(missing, output.Escape(p))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errs.New(errs.NotFound, "%s %s not found", what, strings.Join(missing, ", "))
}
