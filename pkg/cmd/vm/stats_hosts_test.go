package vm

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

func statsCmd(f *cmdutil.Factory) *cobra.Command { return NewCmdStats(f, nil) }

func statsReports(t *testing.T, stdout string) []model.StatsReport {
	t.Helper()
	var reps []model.StatsReport
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r model.StatsReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v in %q", err, sc.Text())
		}
		reps = append(reps, r)
	}
	return reps
}

func statsRows(r model.StatsReport) string {
	var got []string
	for _, v := range r.VMs {
		got = append(got, v.Host+":"+v.Name)
	}
	return strings.Join(got, " ")
}

func TestStatsHosts(t *testing.T) {
	cfg := hostsConfig(t)
	stdout, stderr, err := runHostsCmd(t, cfg, statsCmd, "--host", "pair", "--json", "--count", "2", "--interval", "20ms")
	if err != nil {
		t.Fatalf("%v (stderr %q)", err, stderr)
	}
	reps := statsReports(t, stdout)
	if len(reps) != 2 {
		t.Fatalf("%d reports, want 2:\n%s", len(reps), stdout)
	}
	for _, r := range reps {
		if got := statsRows(r); got != "h1:test h2:db01 h2:web01" {
			t.Errorf("rows: %s", got)
		}
		if len(r.Hosts) != 2 || r.Hosts[0].Host != "h1" || r.Hosts[1].Host != "h2" || r.HostCPUs != r.Hosts[0].HostCPUs+r.Hosts[1].HostCPUs {
			t.Errorf("hosts %+v, host_cpus %d", r.Hosts, r.HostCPUs)
		}
	}
	// The test driver's running domain counts CPU time with the wall clock: rates come per host.
	if p := reps[1].VMs[0].Rates.CPUPercentOfVCPUs; p == nil || *p <= 0 {
		t.Errorf("h1:test has no CPU rate: %v", p)
	}

	stdout, _, err = runHostsCmd(t, cfg, statsCmd, "--host", "pair", "--interval", "10ms", "h2:web*", "test")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "HOST ") || !strings.HasPrefix(lines[1], "h1 ") || !strings.HasPrefix(lines[2], "h2 ") || !strings.Contains(lines[2], "web01") {
		t.Errorf("table: %v\n%s", err, stdout)
	}
	stdout, _, err = runHostsCmd(t, cfg, statsCmd, "--host", "pair", "--interval", "10ms", "-o", "name", "h2:*")
	if err != nil || stdout != "h2:db01\nh2:web01\n" {
		t.Errorf("-o name: %v %q", err, stdout)
	}
	_, _, err = runHostsCmd(t, cfg, statsCmd, "--host", "pair", "--interval", "10ms", "h1:web01")
	if errs.KindOf(err) != errs.NotFound {
		t.Errorf("web01 is not on h1: %v", err)
	}
	_, _, err = runHostsCmd(t, cfg, statsCmd, "--host", "pair", "--since", "1h")
	if errs.KindOf(err) != errs.Usage {
		t.Errorf("--since with --host: %v", err)
	}
}

func TestStatsHostsUnreachableHost(t *testing.T) {
	cfg := hostsConfig(t)
	_, stderr, err := runHostsCmd(t, cfg, statsCmd, "--host", "all", "--json", "--interval", "10ms", "nope")
	if errs.KindOf(err) != errs.Partial {
		t.Fatalf("%v (%v), want partial: a name asked for may be on the host that did not answer", err, errs.KindOf(err))
	}
	if !strings.Contains(stderr, `"host":"down"`) {
		t.Errorf("stderr %q", stderr)
	}
	stdout, _, err := runHostsCmd(t, cfg, statsCmd, "--host", "all", "--json", "--interval", "10ms")
	reps := statsReports(t, stdout)
	if errs.KindOf(err) != errs.Partial || len(reps) != 1 || statsRows(reps[0]) != "h1:test h2:db01 h2:web01" || len(reps[0].Hosts) != 2 {
		t.Errorf("%v, %s", err, stdout)
	}
	stdout, _, err = runHostsCmd(t, cfg, statsCmd, "--host", "all", "--strict", "--interval", "10ms")
	if errs.KindOf(err) != errs.Unreachable || stdout != "" || !strings.Contains(err.Error(), "host down") {
		t.Errorf("--strict: %v, stdout %q", err, stdout)
	}
}
