package top

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"github.com/mattn/go-runewidth"
)

func f(v float64) *float64 { return &v }

// vm is a report row with the rates the sort keys read.
func vm(name, state string, mem uint64, cpu, disk, net *float64) model.VMStatsReport {
	r := model.VMStatsReport{VMStats: model.VMStats{Name: name, State: state, VCPUs: 2, MemoryBytes: mem}}
	r.Rates.CPUPercentOfHost = cpu
	if cpu != nil {
		r.Rates.CPUPercentOfVCPUs = f(*cpu * 8)
	}
	if disk != nil {
		r.Rates.DiskReadBytesPerSecond, r.Rates.DiskWriteBytesPerSecond = f(*disk/2), f(*disk/2)
	}
	if net != nil {
		r.Rates.NetRxBytesPerSecond, r.Rates.NetTxBytesPerSecond = f(*net), f(0)
	}
	return r
}

var sample = []model.VMStatsReport{
	vm("web01", "running", 4<<30, f(10), f(100), f(5000)),
	vm("db01", "running", 8<<30, f(30), f(9000), f(10)),
	vm("new01", "running", 1<<30, nil, nil, nil), // just started: no rates yet
	vm("old01", "shut_off", 2<<30, nil, nil, nil),
	vm("batch", "running", 4<<30, f(10), f(1), f(20000)),
}

func names(rows []model.VMStatsReport) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

// Each key orders the busiest first, ties by name, unknown values last whatever the direction.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		key     SortKey
		reverse bool
		want    []string
	}{
		{SortCPU, false, []string{"db01", "batch", "web01", "new01", "old01"}},
		{SortCPU, true, []string{"batch", "web01", "db01", "new01", "old01"}},
		{SortMemory, false, []string{"db01", "batch", "web01", "new01", "old01"}}, // shut off holds no memory
		{SortDisk, false, []string{"db01", "web01", "batch", "new01", "old01"}},
		{SortNet, false, []string{"batch", "web01", "db01", "new01", "old01"}},
		{SortName, false, []string{"batch", "db01", "new01", "old01", "web01"}},
		{SortName, true, []string{"web01", "old01", "new01", "db01", "batch"}},
	} {
		rows := slices.Clone(sample)
		slices.SortStableFunc(rows, Compare(tc.key, tc.reverse))
		if got := names(rows); !slices.Equal(got, tc.want) {
			t.Errorf("sort %s reverse=%v: %v, want %v", tc.key, tc.reverse, got, tc.want)
		}
	}
}

func TestParseSort(t *testing.T) {
	for _, n := range SortNames() {
		if k, ok := ParseSort(n); !ok || k.String() != n {
			t.Errorf("ParseSort(%q) = %v, %v", n, k, ok)
		}
	}
	if _, ok := ParseSort("cpu%"); ok {
		t.Error("ParseSort accepted cpu%")
	}
}

// Keys change the sort, move it, reverse it, pause, quit; escape sequences are not keys.
func TestKeys(t *testing.T) {
	v := &View{Sort: SortCPU}
	steps := []struct {
		key  byte
		want Action
		sort SortKey
	}{
		{'m', Redraw, SortMemory}, {'d', Redraw, SortDisk}, {'n', Redraw, SortNet}, {'c', Redraw, SortCPU},
		{'>', Redraw, SortMemory}, {'>', Redraw, SortDisk}, {'>', Redraw, SortNet}, {'>', Redraw, SortName},
		{'<', Redraw, SortNet}, {'<', Redraw, SortDisk}, {'x', Ignore, SortDisk},
	}
	for i, s := range steps {
		if got := v.Key(s.key); got != s.want || v.Sort != s.sort {
			t.Fatalf("step %d key %q: action %v sort %s, want %v %s", i, s.key, got, v.Sort, s.want, s.sort)
		}
	}
	v.Key('r')
	if !v.Reverse {
		t.Error("r did not reverse")
	}
	v.Key('p')
	if !v.Paused {
		t.Error("p did not pause")
	}
	v.Key('p')
	if v.Paused {
		t.Error("p did not resume")
	}
	for _, k := range []byte{'q', keyCtrlC} {
		if v.Key(k) != Quit {
			t.Errorf("key %q does not quit", k)
		}
	}

	var d keyDecoder
	var got []byte
	for _, b := range []byte("m\x1b[D\x1b[1;5C\x1bOPn\x1bxq") { // m, ←, Ctrl-→, F1, n, Alt-x, q
		if k, ok := d.feed(b); ok {
			got = append(got, k)
		}
	}
	if string(got) != "mnq" {
		t.Errorf("decoded keys %q, want \"mnq\"", got)
	}
}

// plain is a rendered screen as text, one line per row, checking no line is wider than width.
func plain(t *testing.T, lines []Line, width int) string {
	t.Helper()
	var b strings.Builder
	for i, l := range lines {
		if w := runewidth.StringWidth(l.Text); w > width {
			t.Errorf("line %d is %d cells wide on a %d-cell terminal: %q", i, w, width, l.Text)
		}
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// Rendering fits any size: columns that do not fit are left out whole, long names are cut,
// rows past the height are dropped, and the sorted column is marked.
func TestRenderSizes(t *testing.T) {
	rows := append(slices.Clone(sample), vm("a-very-long-virtual-machine-name-indeed-ünïcødé-名前", "running", 1<<30, f(1), f(1), f(1)))
	v := &View{URI: "test:///default", Interval: time.Second, Sort: SortCPU}
	v.Apply(Update{Report: model.StatsReport{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), HostCPUs: 16, HostMemoryBytes: 64 << 30, VMs: rows},
		HostBusyPct: f(42.5)})

	wide := plain(t, v.Render(200, 40), 200)
	for _, want := range []string{"03:04:05", "sort: cpu", "Host: 16 CPUs, 42.5% busy; memory 64GiB",
		"VMs: 5 running, 6 total; 10 vCPUs using 51.0% of the host; memory 18GiB",
		"CPU%HOST*", "NET-TX/S", "a-very-long-virtual-machine-name-indeed-ünïcødé-名前"} {
		if !strings.Contains(wide, want) {
			t.Errorf("200×40 lacks %q:\n%s", want, wide)
		}
	}
	table := strings.Split(wide, "\n")[5:]
	var order []string
	for _, l := range table[1:] {
		if fs := strings.Fields(l); len(fs) > 0 {
			order = append(order, fs[0])
		}
	}
	if want := []string{"db01", "batch", "web01", "a-very-long-virtual-machine-name-indeed-ünïcødé-名前", "new01", "old01"}; !slices.Equal(order, want) {
		t.Errorf("rows in order %v, want %v", order, want)
	}

	for _, w := range []int{1, 10, 40, 57, 80} {
		out := plain(t, v.Render(w, 8), w)
		if n := strings.Count(out, "\n"); n != 8 {
			t.Errorf("%d×8 rendered %d lines, want 8", w, n)
		}
		header := strings.Split(out, "\n")[5]
		if w >= 40 && (!strings.HasPrefix(header, "NAME") || strings.HasSuffix(strings.TrimSpace(header), "-")) {
			t.Errorf("%d wide: header %q cut inside a column", w, header)
		}
	}
	narrow := plain(t, v.Render(40, 20), 40)
	if !strings.Contains(narrow, "a-very-long…") || strings.Contains(narrow, "DISK-RD/S") {
		t.Errorf("40 wide should cut the long name and leave the disk columns out:\n%s", narrow)
	}
	if got := v.Render(0, 10); got != nil {
		t.Errorf("a 0-wide terminal rendered %v", got)
	}
}

// Pause freezes the data but not the error; an error keeps the last data and says when it was
// taken and when the next attempt is.
func TestApplyPauseAndErrors(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := &View{Sort: SortName}
	v.Apply(Update{Report: model.StatsReport{Time: at, VMs: sample[:1]}})
	v.Key('p')
	v.Apply(Update{Report: model.StatsReport{Time: at.Add(time.Second), VMs: sample}})
	if got := names(v.Rows()); !slices.Equal(got, []string{"web01"}) {
		t.Errorf("paused view took new data: %v", got)
	}
	if s := plain(t, v.Render(100, 10), 100); !strings.Contains(s, "paused") {
		t.Errorf("no pause on the status line:\n%s", s)
	}
	v.Key('p')
	v.Apply(Update{Err: fmt.Errorf("domain stats: lost connection to qemu:///system"), RetryIn: 4 * time.Second})
	lines := v.Render(120, 10)
	if st := lines[3]; !st.Reverse || st.Text != "libvirt: domain stats: lost connection to qemu:///system; retrying in 4s; data from 03:04:05" {
		t.Errorf("status line %+v", st)
	}
	if got := names(v.Rows()); !slices.Equal(got, []string{"web01"}) {
		t.Errorf("an error dropped the last data: %v", got)
	}
	v.Apply(Update{Report: model.StatsReport{Time: at.Add(2 * time.Second), VMs: sample}})
	if lines := v.Render(120, 10); lines[3].Reverse || len(v.Rows()) != len(sample) {
		t.Errorf("the next good sample did not clear the error: %+v", lines[3])
	}
	v.Key('h')
	if lines := v.Render(200, 10); lines[3].Text != helpLine {
		t.Errorf("h: %q", lines[3].Text)
	}
}

// Frame draws every line of the screen, each cleared first, without a newline after the last
// (which would scroll the screen).
func TestFrame(t *testing.T) {
	got := Frame([]Line{{Text: "a"}, {Text: "b", Reverse: true}}, 3)
	want := "\x1b[H\x1b[2Ka\r\n\x1b[2K\x1b[7mb\x1b[m\r\n\x1b[2K"
	if got != want {
		t.Errorf("Frame = %q, want %q", got, want)
	}
	if !strings.HasSuffix(LeaveSequence, leaveAltScreen+showCursor) {
		t.Errorf("LeaveSequence %q does not end by leaving the alternate screen and showing the cursor", LeaveSequence)
	}
}

const domXML = `<domain type='test'><name>%s</name><memory>%d</memory><vcpu>%d</vcpu><os><type>hvm</type></os></domain>`

// The sampler on the test driver: host totals, VMs running and defined, rates from the second
// sample on, and the rows the patterns match.
func TestSamplerTestDriver(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, fmt.Sprintf(domXML, "t-top-a", 1<<20, 1), fmt.Sprintf(domXML, "t-top-b", 2<<20, 4), fmt.Sprintf(domXML, "t-top-off", 1<<20, 1))
	for _, n := range []string{"t-top-a", "t-top-b"} {
		d, err := c.Raw().LookupDomainByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Create(); err != nil {
			t.Fatal(err)
		}
		_ = d.Free()
	}
	s := &Sampler{Timeout: 5 * time.Second, Connect: func(ctx context.Context) (*virt.Conn, error) {
		return virt.Open(ctx, virttest.URI, true)
	}}
	defer s.Close()
	first, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range first.Report.VMs {
		if r.Rates.CPUPercentOfHost != nil {
			t.Errorf("first sample has a CPU rate for %s", r.Name)
		}
	}
	time.Sleep(300 * time.Millisecond)
	u, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.Host.CPUUserNanoseconds == nil || u.Host.MemoryTotalBytes != nil {
		t.Errorf("test driver host counters: CPU user %v (want some), memory total %v (it has no memory stats)", u.Host.CPUUserNanoseconds, u.Host.MemoryTotalBytes)
	}
	v := &View{URI: virttest.URI, Interval: time.Second, Sort: SortCPU, Patterns: []string{"t-top-*", "test"},
		Match: func(n string) bool { return n == "test" || strings.HasPrefix(n, "t-top-") }}
	v.Apply(u)
	out := plain(t, v.Render(120, 20), 120)
	// The driver's CPU time grows with the wall clock for each running domain: one host CPU
	// each, so the 4-vCPU VM is 25 % of its vCPUs, 1/16 of the host; three run, 3/16 in all.
	// The tolerance is for a loaded machine, where the calls of one sample are not instant.
	near := func(what, got string, want float64) {
		t.Helper()
		v, err := strconv.ParseFloat(got, 64)
		if err != nil || math.Abs(v-want) > want/5 {
			t.Errorf("%s = %s, want about %.2f:\n%s", what, got, want, out)
		}
	}
	if m := regexp.MustCompile(`\nVMs: 3 running, 4 total; 7 vCPUs using ([0-9.]+)% of the host; memory 5GiB\n`).FindStringSubmatch(out); m == nil {
		t.Errorf("no VM totals:\n%s", out)
	} else {
		near("the VMs' share of the host", m[1], 300.0/16)
	}
	if m := regexp.MustCompile(`\nt-top-b +running +([0-9.]+) +([0-9.]+) +4 +2GiB +0B +0B +0B +0B\n`).FindStringSubmatch(out); m == nil {
		t.Errorf("no row for t-top-b:\n%s", out)
	} else {
		near("t-top-b CPU%HOST", m[1], 100.0/16)
		near("t-top-b CPU%VCPUS", m[2], 25)
	}
	for _, re := range []string{`Host: 16 CPUs, - busy; memory 3GiB\n`, `\nt-top-off +shut_off +- +- +- +- +- +- +- +-\n`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("screen does not match %s:\n%s", re, out)
		}
	}
}
