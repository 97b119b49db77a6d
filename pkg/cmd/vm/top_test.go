package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/spf13/cobra"
)

func TestNewCmdTop(t *testing.T) {
	runFlagCases(t, "top", func(f *cmdutil.Factory, r func(context.Context, *TopOptions) error) *cobra.Command {
		return NewCmdTop(f, r)
	},
		func(o *TopOptions) string {
			return fmt.Sprintf("%v interval=%s count=%d sort=%s batch=%v timeout=%s", o.Patterns, o.Interval, o.Count, o.Sort, o.Batch, o.Timeout)
		}, []flagCase{
			{argv: []string{}, want: "[] interval=1s count=0 sort=cpu batch=false timeout=30s"},
			{argv: []string{"web-*", "db", "--sort", "memory", "--interval", "5s"}, want: "[web-* db] interval=5s count=0 sort=memory batch=false timeout=30s"},
			{argv: []string{"-b", "--count", "3", "--sort", "net", "--timeout", "2s"}, want: "[] interval=1s count=3 sort=net batch=true timeout=2s"},
			{argv: []string{"--json"}, want: "[] interval=1s count=0 sort=cpu batch=true timeout=30s"},
			{argv: []string{"-o", "wide", "--sort", "name"}, want: "[] interval=1s count=0 sort=name batch=true timeout=30s"},
			{argv: []string{"--jq", ".vms[].name", "--sort", "disk"}, want: "[] interval=1s count=0 sort=disk batch=true timeout=30s"},
			{argv: []string{"--sort", "cpu%"}, err: errs.Usage},
			{argv: []string{"--interval", "0s"}, err: errs.Usage},
			{argv: []string{"--count", "-1"}, err: errs.Usage},
			{argv: []string{"--timeout", "0s"}, err: errs.Usage},
			{argv: []string{"web["}, err: errs.Usage},
		})
}

func runTopCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	err := parse(t, NewCmdTop(f, nil), f, args...)
	return out.String(), err
}

// In a pipe top prints what `vmctl stats --count` prints, in --sort order: the same table, the
// same NDJSON.
func TestTopBatchIsStats(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, `<domain type='test'><name>t-top-big</name><memory>4194304</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`)
	d, err := c.Raw().LookupDomainByName("t-top-big")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	_ = d.Free()

	table, err := runTopCmd(t, "--count", "2", "--interval", "20ms", "--sort", "memory", "test", "t-top-*")
	if err != nil {
		t.Fatal(err)
	}
	reports := strings.Split(strings.TrimSpace(table), "\n\n")
	if len(reports) != 2 {
		t.Fatalf("--count 2 printed %d reports:\n%s", len(reports), table)
	}
	statsOut, err := runStatsCmd(t, "--count", "1", "--interval", "20ms", "test", "t-top-*")
	if err != nil {
		t.Fatal(err)
	}
	for i, rep := range reports {
		lines := strings.Split(rep, "\n")
		if lines[0] != strings.Split(statsOut, "\n")[0] {
			t.Errorf("report %d header %q, stats prints %q", i, lines[0], strings.Split(statsOut, "\n")[0])
		}
		// 4 GiB before 2 GiB: the memory order, not stats' name order.
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "t-top-big ") || !strings.HasPrefix(lines[2], "test ") {
			t.Errorf("report %d is not in memory order:\n%s", i, rep)
		}
	}

	ndjson, err := runTopCmd(t, "--json", "--count", "2", "--interval", "20ms", "--sort", "name", "test", "t-top-*")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(ndjson))
	n := 0
	for sc.Scan() {
		var rep model.StatsReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		var got []string
		for _, v := range rep.VMs {
			got = append(got, v.Name)
		}
		if !slices.Equal(got, []string{"t-top-big", "test"}) || rep.VMs[0].Rates.CPUPercentOfVCPUs == nil {
			t.Errorf("line %d: VMs %v, rates %+v", n+1, got, rep.VMs[0].Rates)
		}
		n++
	}
	if n != 2 {
		t.Errorf("--json --count 2 printed %d lines, want 2:\n%s", n, ndjson)
	}
	if _, err := runTopCmd(t, "--count", "1", "--interval", "10ms", "nosuch"); errs.KindOf(err) != errs.NotFound {
		t.Errorf("a VM that does not exist: %v, want not found", err)
	}
}

// stats and top sample until interrupted: --timeout bounds each sample, not the whole run (an
// endless `stats --count 0` used to end with exit 5 after 30 s), and a sample that libvirt
// does not answer still ends within it.
func TestSamplingCommandsBoundEachSample(t *testing.T) {
	for _, build := range []func(*cmdutil.Factory) *cobra.Command{
		func(f *cmdutil.Factory) *cobra.Command { return NewCmdStats(f, nil) },
		func(f *cmdutil.Factory) *cobra.Command { return NewCmdTop(f, nil) },
	} {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		cmd := build(f)
		if d, ok := f.EffectiveTimeout(cmd); ok {
			t.Errorf("%s has an overall deadline of %s", cmd.Name(), d)
		}
		if got := cmdutil.TimeoutDefault(cmd); got != "30s per sample" {
			t.Errorf("%s: --timeout default shows %q", cmd.Name(), got)
		}
	}

	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	ctx := virt.WithCallHook(context.Background(), func(what string) {
		// From the third sample on the daemon does not answer: one stuck call alone is a hung
		// VM, which stats.Sampler answers for from a fresh connection instead of ending.
		if what == "domain stats" && calls.Add(1) >= 3 {
			<-release
		}
	})
	start := time.Now()
	err := runStats(ctx, &StatsOptions{F: f, Patterns: []string{"test"}, Interval: 20 * time.Millisecond, SampleTimeout: 300 * time.Millisecond})
	if errs.KindOf(err) != errs.Timeout || time.Since(start) > 3*time.Second {
		t.Errorf("a stuck sample of an endless watch: %v after %s, want a timeout within 300ms of it", err, time.Since(start))
	}
}
