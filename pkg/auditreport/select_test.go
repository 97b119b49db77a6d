package auditreport

import (
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func ids(cs []audit.Control) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestSelect(t *testing.T) {
	all := audit.All()
	got, err := Select(all, []string{"network", "vm-007", "HOST-010"}, []string{"NET-001"})
	if err != nil {
		t.Fatal(err)
	}
	g := ids(got)
	if !slices.Contains(g, "VM-007") || !slices.Contains(g, "HOST-010") || !slices.Contains(g, "NET-002") {
		t.Errorf("selection %v misses what --only named", g)
	}
	if slices.Contains(g, "NET-001") || slices.Contains(g, "VM-008") || slices.Contains(g, "HOST-001") {
		t.Errorf("selection %v has what was skipped or not named", g)
	}
	// Catalogue order is kept.
	if g[0] != "HOST-010" {
		t.Errorf("first is %s, want HOST-010 (host group first)", g[0])
	}
	everything, err := Select(all, nil, []string{"vm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(everything) >= len(all) || slices.Contains(ids(everything), "VM-032") {
		t.Errorf("--skip vm left %d of %d controls", len(everything), len(all))
	}
}

func TestSelectRejects(t *testing.T) {
	all := audit.All()
	for _, tc := range []struct {
		only, skip []string
		want       string
	}{
		{[]string{"VM-99"}, nil, `--only "VM-99": not a control ID or group (did you mean VM-009?)`},
		{nil, []string{"vm-7"}, `--skip "vm-7": not a control ID or group (did you mean VM-007?)`},
		{[]string{"kernel"}, nil, `--only "kernel": not a control ID or group`},
		{[]string{"VM-007"}, []string{"vm"}, `--only VM-007 --skip vm leaves no control to run`},
	} {
		_, err := Select(all, tc.only, tc.skip)
		if err == nil || errs.KindOf(err) != errs.Usage || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Select(%v, %v) = %v, want usage error %q", tc.only, tc.skip, err, tc.want)
		}
		if err != nil && strings.Contains(tc.want, "not a control") && !strings.Contains(errs.HintOf(err), "groups: host, daemon, vm, network, storage") {
			t.Errorf("hint %q does not list the groups", errs.HintOf(err))
		}
	}
}

func TestPatterns(t *testing.T) {
	if err := ValidPatterns("--vm", []string{"web-*", "db[0-9]"}); err != nil {
		t.Error(err)
	}
	if err := ValidPatterns("--vm", []string{"web-["}); err == nil || errs.KindOf(err) != errs.Usage {
		t.Errorf("bad glob: %v", err)
	}
	if !MatchAny(nil, "x") || !MatchAny([]string{"a", "web-*"}, "web-01") || MatchAny([]string{"web-*"}, "db-01") {
		t.Error("MatchAny")
	}
}

func TestSuggest(t *testing.T) {
	choices := []string{"VM-007", "VM-008", "HOST-010", "vm"}
	for in, want := range map[string]string{"vm-7": "VM-007", "VM-07": "VM-007", "HOST-01": "HOST-010", "XYZ-123456": "", "vn": "vm"} {
		if got := Suggest(in, choices); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
