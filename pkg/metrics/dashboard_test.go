package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardPath = "../../contrib/grafana/hvctl.json"

// promqlKeywords are PromQL's words that are no metric names.
var promqlKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}|\[[^\[\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlIdent    = regexp.MustCompile(`\$?[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
)

// metricNamesIn lists the metric names a PromQL expression selects: what is left once strings,
// label matchers, ranges and groupings are gone, less functions, keywords and Grafana variables.
func metricNamesIn(expr string) []string {
	e := promqlString.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, "")
	e = promqlGrouping.ReplaceAllString(e, "")
	var out []string
	for _, m := range promqlIdent.FindAllStringSubmatch(e, -1) {
		w := m[0]
		if m[1] != "" || strings.HasPrefix(w, "$") || promqlKeywords[strings.ToLower(w)] {
			continue // a function call, a Grafana variable or a keyword
		}
		out = append(out, w)
	}
	return out
}

func TestMetricNamesIn(t *testing.T) {
	got := metricNamesIn(`100 * rate(a_total{x=~"$v",y="b{c}"}[$__rate_interval]) / on(instance, domain) b_bytes - sum by (d) (c:rec) > bool 0`)
	if want := []string{"a_total", "b_bytes", "c:rec"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// dashboardQueries walks the dashboard for every PromQL expression: panel targets (rows'
// nested panels too) and the query variables (label_values(EXPR, LABEL): EXPR).
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			ID         int
			Title      string
			Type       string
			Datasource struct{ Type, UID string }
			Targets    []struct{ Expr string }
			Panels     []json.RawMessage
		}
		Templating struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("%s: title %q, %d panels", dashboardPath, d.Title, len(d.Panels))
	}
	queries := map[string]string{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Panels) > 0 {
			t.Errorf("row %q holds collapsed panels: keep them top-level so this test sees them", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.Type != "prometheus" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
		for i, tg := range p.Targets {
			queries[p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: %q is not label_values(EXPR, LABEL)", v.Name, q.Query)
		}
		queries["variable "+v.Name] = m[1]
	}
	return queries
}

// TestDashboardUsesExportedNames: every PromQL expression of contrib/grafana/hvctl.json selects
// only metrics the exporter emits, so renaming one (or a typo in the dashboard) fails here.
func TestDashboardUsesExportedNames(t *testing.T) {
	exported := MetricNames()
	used := map[string]bool{}
	for where, expr := range dashboardQueries(t) {
		names := metricNamesIn(expr)
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if !slices.Contains(exported, n) {
				t.Errorf("%s: %q uses %s, which the exporter does not emit", where, expr, n)
			}
		}
	}
	// Not vacuous: the dashboard covers each family.
	for _, want := range []string{"libvirt_up", "libvirt_domain_timed_out", "libvirt_domain_info_cpu_time_seconds_total",
		"libvirt_domain_block_stats_read_bytes_total", "libvirt_domain_interface_stats_receive_bytes_total",
		"libvirt_domain_memory_stats_rss_bytes", "libvirt_domain_vcpu_delay_seconds_total", "libvirt_pool_info_capacity_bytes",
		"hvctl_image_last_verified_timestamp_seconds", "hvctl_build_info"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// TestDashboardQueriesParse hands every expression, Grafana's variables filled in, to
// Prometheus's own parser (promtool check rules): a syntax error fails here, not in Grafana.
func TestDashboardQueriesParse(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("HVCTL_E2E") == "1" {
			t.Fatalf("promtool not found (scripts/setup-host.sh installs the prometheus package): %v", err)
		}
		t.Skip("promtool not installed; CI (HVCTL_E2E=1) runs this check")
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$domain", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	i := 0
	for _, expr := range dashboardQueries(t) {
		i++
		q, _ := json.Marshal(vars.Replace(expr))
		fmt.Fprintf(&rules, "      - record: hvctl:dashboard_%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\n%s", err, out, rules.String())
	}
}
