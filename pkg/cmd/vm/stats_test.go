package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

func TestNewCmdStats(t *testing.T) {
	runFlagCases(t, "stats", func(f *cmdutil.Factory, r func(context.Context, *StatsOptions) error) *cobra.Command {
		return NewCmdStats(f, r)
	},
		func(o *StatsOptions) string {
			return fmt.Sprintf("%v interval=%s count=%d json=%v out=%s since=%s", o.Patterns, o.Interval, o.Count, o.F.Global.JSON, o.F.Global.Output, o.Since)
		}, []flagCase{
			{argv: []string{}, want: "[] interval=1s count=1 json=false out= since="},
			{argv: []string{"--since", "1h", "web01"}, want: "[web01] interval=1s count=1 json=false out= since=1h"},
			{argv: []string{"--since", "2026-01-02 08:00", "-o", "wide"}, want: "[] interval=1s count=1 json=false out=wide since=2026-01-02 08:00"},
			{argv: []string{"--since", "1h", "--interval", "2s"}, err: errs.Usage},
			{argv: []string{"--since", "1h", "--count", "2"}, err: errs.Usage},
			{argv: []string{"--since", "yesterday"}, err: errs.Usage},
			{argv: []string{"--since", "2999-01-01"}, err: errs.Usage},
			{argv: []string{"web-*", "db", "--interval", "250ms", "--count", "0", "--json"}, want: "[web-* db] interval=250ms count=0 json=true out= since="},
			{argv: []string{"-o", "wide", "--count", "3"}, want: "[] interval=1s count=3 json=false out=wide since="},
			{argv: []string{"--interval", "0s"}, err: errs.Usage},
			{argv: []string{"--interval", "-1s"}, err: errs.Usage},
			{argv: []string{"--count", "-1"}, err: errs.Usage},
			{argv: []string{"web["}, err: errs.Usage},
		})
}

func runStatsCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	err := parse(t, NewCmdStats(f, nil), f, args...)
	return out.String(), err
}

// TestStatsTestDriver runs `vmctl stats` against the test driver (other tests define domains on
// it concurrently, hence the pattern), whose running domain "test"
// (2 vCPUs) reports a CPU time that grows with the wall clock: one CPU busy, 50 % of its vCPUs.
func TestStatsTestDriver(t *testing.T) {
	out, err := runStatsCmd(t, "--json", "--count", "2", "--interval", "50ms", "test")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var reps []model.StatsReport
	for sc.Scan() {
		var rep model.StatsReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatalf("line %d is not one JSON document: %v\n%s", len(reps)+1, err, sc.Text())
		}
		reps = append(reps, rep)
	}
	if len(reps) != 2 {
		t.Fatalf("--count 2 in a pipe printed %d NDJSON lines, want 2:\n%s", len(reps), out)
	}
	for i, rep := range reps {
		if rep.IntervalSeconds < 0.04 || len(rep.VMs) != 1 || rep.VMs[0].Name != "test" {
			t.Fatalf("report %d: interval %v, VMs %+v", i, rep.IntervalSeconds, rep.VMs)
		}
		r := rep.VMs[0].Rates
		if r.CPUPercentOfVCPUs == nil || math.Abs(*r.CPUPercentOfVCPUs-50) > 5 {
			t.Errorf("report %d: cpu_percent_of_vcpus %v, want about 50", i, r.CPUPercentOfVCPUs)
		}
		if r.CPUPercentOfHost == nil || math.Abs(*r.CPUPercentOfHost*float64(rep.HostCPUs)-*r.CPUPercentOfVCPUs*2) > 1 {
			t.Errorf("report %d: cpu_percent_of_host %v with %d host CPUs does not match 2 vCPUs at %v", i, r.CPUPercentOfHost, rep.HostCPUs, r.CPUPercentOfVCPUs)
		}
	}
	if *reps[1].VMs[0].CPUTimeNanoseconds <= *reps[0].VMs[0].CPUTimeNanoseconds {
		t.Errorf("the CPU counter did not grow between reports")
	}
	if !strings.Contains(out, `"cpu_percent_of_vcpus":`) || !strings.Contains(out, `"disk_read_bytes_per_second":`) || !strings.Contains(out, `"cpu_time_nanoseconds":`) {
		t.Errorf("JSON keys lost their units:\n%s", out)
	}

	table, err := runStatsCmd(t, "--interval", "10ms", "-o", "wide", "test")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CPU%HOST") || !strings.HasPrefix(lines[1], "test ") {
		t.Errorf("wide table:\n%s", table)
	}

	if _, err := runStatsCmd(t, "--interval", "10ms", "nosuch"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("a VM that does not exist: %v, want a not-found error", err)
	}
	if out, err := runStatsCmd(t, "--interval", "10ms", "-o", "name", "te*"); err != nil || out != "test\n" {
		t.Errorf("-o name te*: %q, %v", out, err)
	}
}

// TestStatsWideDeviceRowsHaveEveryField: -o wide's per-disk and per-interface rows have as many
// whitespace-separated fields as the header, a dash where a column is not theirs, so awk reads
// one column on every row; the empty cells left a disk row with 6 fields under 18 headers.
func TestStatsWideDeviceRowsHaveEveryField(t *testing.T) {
	rate := func(v float64) *float64 { return &v }
	rep := model.StatsReport{VMs: []model.VMStatsReport{{
		VMStats: model.VMStats{Name: "web", State: "running", VCPUs: 1, MemoryBytes: 1 << 30},
		Rates: model.VMRates{
			CPUPercentOfVCPUs: rate(12), CPUPercentOfHost: rate(6),
			DiskReadBytesPerSecond: rate(2048), DiskWriteBytesPerSecond: rate(0), DiskReadRequestsPerSecond: rate(2), DiskWriteRequestsPerSecond: rate(0),
			NetRxBytesPerSecond: rate(100), NetTxBytesPerSecond: rate(50), NetRxPacketsPerSecond: rate(1), NetTxPacketsPerSecond: rate(1),
			Disks: []model.DiskRates{{Name: "vda", ReadBytesPerSecond: rate(2048), WriteBytesPerSecond: rate(0), ReadRequestsPerSecond: rate(2), WriteRequestsPerSecond: rate(0)}},
			NICs:  []model.NICRates{{Name: "vnet0", RxBytesPerSecond: rate(100), TxBytesPerSecond: rate(50), RxPacketsPerSecond: rate(1), TxPacketsPerSecond: rate(1)}},
		},
	}}}
	f, err := output.ParseFormat("wide", false, "", false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeStats(&b, f, rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header, the VM, its disk and its NIC:\n%s", b.String())
	}
	header := strings.Fields(lines[0])
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) != len(header) {
			t.Errorf("%d fields under %d headers: %q", len(fields), len(header), l)
			continue
		}
		col := func(name string) string { return fields[slices.Index(header, name)] }
		switch fields[1] {
		case "vda":
			if col("DISK-READ/S") != "2KiB/s" || col("READ-IOPS") != "2.0" || col("STATE") != "-" || col("NET-RX/S") != "-" {
				t.Errorf("disk row: %q", l)
			}
		case "vnet0":
			if col("NET-RX/S") != "100B/s" || col("TX-PKTS/S") != "1.0" || col("DISK-READ/S") != "-" {
				t.Errorf("interface row: %q", l)
			}
		}
	}
}
