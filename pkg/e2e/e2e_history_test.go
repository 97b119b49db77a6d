package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHistoryOnRealDaemon records a running test guest with `hvctl metrics record` a few
// seconds apart, restarts it between two records, and checks what `vmctl stats --since` makes
// of the history: non-zero CPU for the intervals it ran through, and the restart left out
// (QEMU's counters begin again; libvirt gives the new run a new ID).
func TestHistoryOnRealDaemon(t *testing.T) {
	e := setup(t)
	state := t.TempDir() // paths.state: the history goes here, not into the host's /var/lib/hvctl
	e.env = append(e.env, "HVCTL_PATHS_STATE="+state)
	e.act("started", "start", "e2e-1")
	t.Cleanup(func() { e.run("vmctl", "kill", "e2e-1") })

	record := func() {
		t.Helper()
		var res struct {
			VMs      int    `json:"vms"`
			Database string `json:"database"`
		}
		e.ok(&res, "hvctl", "metrics", "record")
		if res.VMs < 1 || res.Database != filepath.Join(state, "metrics.db") {
			t.Fatalf("record: %+v; want e2e-1 recorded into %s", res, state)
		}
	}
	record()
	time.Sleep(3 * time.Second)
	record()
	e.act("destroyed", "kill", "e2e-1")
	e.act("started", "start", "e2e-1")
	record()
	time.Sleep(3 * time.Second)
	record()

	type summary struct {
		Min, Avg, Max, P95 float64
		Observations       int
	}
	var rep struct {
		VMs []struct {
			Name              string   `json:"name"`
			Samples           int      `json:"samples"`
			CounterResets     int      `json:"counter_resets"`
			CoveredSeconds    float64  `json:"covered_seconds"`
			CPUPercentOfVCPUs *summary `json:"cpu_percent_of_vcpus"`
			MemoryBytes       *summary `json:"memory_bytes"`
		} `json:"vms"`
	}
	e.ok(&rep, "vmctl", "stats", "--since", "10m", "e2e-1")
	if len(rep.VMs) != 1 || rep.VMs[0].Name != "e2e-1" {
		t.Fatalf("stats --since 10m e2e-1: %+v", rep)
	}
	h := rep.VMs[0]
	t.Logf("e2e-1: %d samples, %d resets, %.1f s covered, cpu %% of vCPUs %+v", h.Samples, h.CounterResets, h.CoveredSeconds, h.CPUPercentOfVCPUs)
	if h.Samples != 4 || h.CounterResets != 1 || h.CoveredSeconds < 5 || h.CoveredSeconds > 30 {
		t.Errorf("e2e-1: %d samples, %d resets, %v s covered; want 4 samples, the restart as 1 reset, two intervals of about 3 s", h.Samples, h.CounterResets, h.CoveredSeconds)
	}
	// A TCG guest is never idle; a 1-vCPU guest's QEMU stays well under 2 host CPUs.
	if c := h.CPUPercentOfVCPUs; c == nil || c.Observations != 2 || c.Min <= 0 || c.Max > 200 {
		t.Errorf("cpu_percent_of_vcpus %+v; want two intervals of non-zero CPU, none across the restart", c)
	}
	if m := h.MemoryBytes; m == nil || m.Max != 256<<20 {
		t.Errorf("memory_bytes %+v; want the guest's 256 MiB", m)
	}
	table, errOut, code := e.run("vmctl", "stats", "--since", "10m")
	if code != 0 || !strings.Contains(table, "e2e-1") || !strings.Contains(table, "cpu%vcpus") {
		t.Errorf("table: exit %d\n%s%s", code, table, errOut)
	}
	if fi, err := os.Stat(filepath.Join(state, "metrics.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("metrics.db: %v, %v; want 0600", fi, err)
	}
}
