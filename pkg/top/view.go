// Package top is the screen of `vmctl top`: a view model that sorts and renders one statistics
// report to a given terminal size and reacts to keys (view.go), a sampler that keeps a libvirt
// connection and reconnects when it is lost (sampler.go), the loop that ties them to a terminal
// and to signals (run.go), and the handful of ANSI sequences it writes (terminal.go).
package top

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/mattn/go-runewidth"
)

// SortKey is what the rows are ordered by.
type SortKey int

// The sort keys, in the order of their columns on the screen (what < and > step through).
const (
	SortName SortKey = iota
	SortCPU
	SortMemory
	SortDisk
	SortNet
)

var sortNames = []string{"name", "cpu", "memory", "disk", "net"}

// SortNames lists the values --sort takes.
func SortNames() []string { return slices.Clone(sortNames) }

func (k SortKey) String() string { return sortNames[k] }

// ParseSort reads a --sort value.
func ParseSort(s string) (SortKey, bool) {
	i := slices.Index(sortNames, s)
	return SortKey(max(i, 0)), i >= 0
}

// Compare orders two VMs by key: the busiest (or, by name, the first alphabetically) first, a
// VM whose value is not known yet (just started, or shut off) after every known one, and the
// name breaking ties so the order does not flicker. reverse turns the order of known values
// round; unknown values stay last.
func Compare(key SortKey, reverse bool) func(a, b model.VMStatsReport) int {
	return func(a, b model.VMStatsReport) int {
		if key == SortName {
			c := strings.Compare(a.Name, b.Name)
			if reverse {
				c = -c
			}
			return c
		}
		va, vb := sortValue(key, a), sortValue(key, b)
		switch {
		case va == nil && vb == nil:
		case va == nil:
			return 1
		case vb == nil:
			return -1
		default:
			if c := cmp.Compare(*vb, *va); c != 0 {
				if reverse {
					c = -c
				}
				return c
			}
		}
		return strings.Compare(a.Name, b.Name)
	}
}

// sortValue is what key ranks a VM by: CPU as the share of the host (a 16-vCPU guest at 10 %
// uses more than a 1-vCPU guest at 100 %), memory as its current balloon size, disk and
// network as bytes per second both ways.
func sortValue(key SortKey, v model.VMStatsReport) *float64 {
	r := v.Rates
	switch key {
	case SortCPU:
		return cmp.Or(r.CPUPercentOfHost, r.CPUPercentOfVCPUs)
	case SortMemory:
		if inactive(v.State) {
			return nil
		}
		m := float64(v.MemoryBytes)
		return &m
	case SortDisk:
		return addRates(r.DiskReadBytesPerSecond, r.DiskWriteBytesPerSecond)
	case SortNet:
		return addRates(r.NetRxBytesPerSecond, r.NetTxBytesPerSecond)
	}
	return nil
}

// inactive says whether a VM in state holds no host resources (its memory figure is the
// definition's, not in use).
func inactive(state string) bool { return state == virt.StateShutOff || state == virt.StateCrashed }

func addRates(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	s := *a + *b
	return &s
}

// Update is one refresh: the report of the last two samples, the host's counters, and the error
// of the last attempt (the report is then the last good one).
type Update struct {
	Report      model.StatsReport
	Host        virt.HostCounters
	HostBusyPct *float64
	Err         error
	RetryIn     time.Duration // when Err is set: how long until the next attempt
}

// View is the screen's state: the data shown, the sort, pause, and a message for the status
// line. It knows nothing of terminals; Render gives the lines for a given size.
type View struct {
	URI      string
	Interval time.Duration
	Patterns []string
	Match    func(name string) bool // nil: every VM
	Sort     SortKey
	Reverse  bool
	Paused   bool

	data    Update // what is on the screen (frozen while paused)
	err     error  // the last attempt's error, shown even while paused
	retryIn time.Duration
	at      time.Time // when data was taken
	message string    // one-off answer to a key (help), cleared by the next key
}

// Apply takes a new update. While paused the data on the screen stays as it is, but an error
// still shows.
func (v *View) Apply(u Update) {
	v.err, v.retryIn = u.Err, u.RetryIn
	if u.Err != nil || v.Paused {
		return
	}
	v.data, v.at = u, u.Report.Time
}

// Action is what a key asks of the loop around the view.
type Action int

// Actions.
const (
	Redraw Action = iota // the view changed: draw it again
	Quit                 // leave
	Ignore               // nothing changed
)

// Key bytes that are not letters.
const (
	keyCtrlC = 0x03
	keyCtrlL = 0x0c
	keyCtrlZ = 0x1a // suspend: handled by Run, which owns the terminal
)

// Key applies one key press: c m d n sort by CPU, memory, disk, network; < and > move the sort
// one column left or right; r reverses it; p pauses; q and Ctrl-C quit; h or ? say so.
func (v *View) Key(k byte) Action {
	v.message = ""
	switch k {
	case 'q', 'Q', keyCtrlC:
		return Quit
	case 'c':
		v.Sort = SortCPU
	case 'm':
		v.Sort = SortMemory
	case 'd':
		v.Sort = SortDisk
	case 'n':
		v.Sort = SortNet
	case '<', ',':
		v.Sort = SortKey((int(v.Sort) + len(sortNames) - 1) % len(sortNames))
	case '>', '.':
		v.Sort = SortKey((int(v.Sort) + 1) % len(sortNames))
	case 'r':
		v.Reverse = !v.Reverse
	case 'p', 'P':
		v.Paused = !v.Paused
	case 'h', '?':
		v.message = helpLine
	case keyCtrlL:
	default:
		return Ignore
	}
	return Redraw
}

// Say puts msg on the status line until the next key.
func (v *View) Say(msg string) { v.message = msg }

// notSuspended answers Ctrl-Z where no job-control shell could continue a stopped top.
const notSuspended = "not suspended: no job-control shell here would continue it (q quits)"

const helpLine = "sort: c cpu, m memory, d disk, n net, < > column, r reverse   p pause   q quit"

// Line is one screen line: its text and whether it is drawn in reverse video (the column
// header and the status line when it reports a problem).
type Line struct {
	Text    string
	Reverse bool
}

// column is one table column: its header, the sort key it shows (-1: none), and its cells.
type column struct {
	header string
	key    SortKey
	left   bool
	cell   func(model.VMStatsReport) string
}

var columns = []column{
	{"NAME", SortName, true, func(v model.VMStatsReport) string { return output.Escape(v.Name) }},
	{"STATE", -1, true, func(v model.VMStatsReport) string { return v.State }},
	{"CPU%HOST", SortCPU, false, func(v model.VMStatsReport) string { return pct(v.Rates.CPUPercentOfHost) }},
	{"CPU%VCPUS", SortCPU, false, func(v model.VMStatsReport) string { return pct(v.Rates.CPUPercentOfVCPUs) }},
	{"VCPUS", -1, false, func(v model.VMStatsReport) string { return strconv.Itoa(v.VCPUs) }},
	{"MEMORY", SortMemory, false, func(v model.VMStatsReport) string { return units.Human(v.MemoryBytes) }},
	{"DISK-RD/S", SortDisk, false, func(v model.VMStatsReport) string { return rate(v.Rates.DiskReadBytesPerSecond) }},
	{"DISK-WR/S", SortDisk, false, func(v model.VMStatsReport) string { return rate(v.Rates.DiskWriteBytesPerSecond) }},
	{"NET-RX/S", SortNet, false, func(v model.VMStatsReport) string { return rate(v.Rates.NetRxBytesPerSecond) }},
	{"NET-TX/S", SortNet, false, func(v model.VMStatsReport) string { return rate(v.Rates.NetTxBytesPerSecond) }},
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

func rate(p *float64) string {
	if p == nil {
		return "-"
	}
	return units.Human(uint64(*p + 0.5))
}

// Rows is the VMs on the screen, filtered and in the view's order.
func (v *View) Rows() []model.VMStatsReport {
	var rows []model.VMStatsReport
	for _, r := range v.data.Report.VMs {
		if v.Match == nil || v.Match(r.Name) {
			rows = append(rows, r)
		}
	}
	slices.SortStableFunc(rows, Compare(v.Sort, v.Reverse))
	return rows
}

// Render lays the view out for a terminal of width columns and height lines: the host totals,
// the status line, the table header and as many VMs as fit. No line is wider than width (a
// column that does not fit is left out whole, a long name is cut with "…"), so nothing wraps.
func (v *View) Render(width, height int) []Line {
	if width < 1 || height < 1 {
		return nil
	}
	rep := v.data.Report
	var running, paused, vcpus int
	var vmMem uint64
	var vmCPU float64
	cpuKnown := false
	for _, r := range rep.VMs {
		if inactive(r.State) {
			continue
		}
		switch r.State {
		case virt.StateRunning:
			running++
		case virt.StatePaused:
			paused++
		}
		vcpus += r.VCPUs
		vmMem += r.MemoryBytes
		if p := r.Rates.CPUPercentOfHost; p != nil {
			vmCPU += *p
			cpuKnown = true
		}
	}
	title := fmt.Sprintf("vmctl top - %s - %s - every %s - sort: %s", v.at.Format("15:04:05"), v.URI, v.Interval, v.Sort)
	if v.Reverse {
		title += " (reversed)"
	}
	if len(v.Patterns) > 0 {
		title += " - " + output.Escape(strings.Join(v.Patterns, " "))
	}
	host := fmt.Sprintf("Host: %d CPUs, %s busy; memory %s", rep.HostCPUs, pctOrDash(v.data.HostBusyPct), units.Human(rep.HostMemoryBytes))
	if used := v.data.Host.MemoryUsedBytes(); used != nil {
		host += ", " + units.Human(*used) + " used"
	}
	vms := fmt.Sprintf("VMs: %d running", running)
	if paused > 0 {
		vms += fmt.Sprintf(", %d paused", paused)
	}
	vmCPUText := "-"
	if cpuKnown {
		vmCPUText = pct(&vmCPU) + "%"
	}
	vms += fmt.Sprintf(", %d total; %d vCPUs using %s of the host; memory %s", len(rep.VMs), vcpus, vmCPUText, units.Human(vmMem))

	status, alert := v.status()
	lines := []Line{{Text: title}, {Text: host}, {Text: vms}, {Text: status, Reverse: alert}, {}}
	lines = append(lines, v.table(width)...)
	if len(lines) > height {
		lines = lines[:height]
	}
	for i := range lines {
		lines[i].Text = fit(lines[i].Text, width)
	}
	return lines
}

func pctOrDash(p *float64) string {
	if p == nil {
		return "-"
	}
	return pct(p) + "%"
}

// status is the line under the totals: a problem with libvirt (alert), pause, a key's answer,
// else the keys.
func (v *View) status() (string, bool) {
	switch {
	case v.err != nil:
		msg := fmt.Sprintf("libvirt: %s", v.err)
		if v.retryIn > 0 {
			msg += fmt.Sprintf("; retrying in %s", v.retryIn.Round(time.Second))
		}
		if !v.at.IsZero() {
			msg += "; data from " + v.at.Format("15:04:05")
		}
		return msg, true
	case v.Paused:
		return "paused: p resumes, q quits", true
	case v.message != "":
		return v.message, false
	}
	return "keys: c m d n sort, < > move, r reverse, p pause, q quit, h help", false
}

// table renders the header and the rows, with the columns that fit in width.
func (v *View) table(width int) []Line {
	rows := v.Rows()
	cells := make([][]string, len(rows))
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = runewidth.StringWidth(c.header) + 1 // room for the sort mark
	}
	for r, vm := range rows {
		cells[r] = make([]string, len(columns))
		for i, c := range columns {
			if i > 1 && inactive(vm.State) {
				cells[r][i] = "-" // nothing in use: its memory and vCPUs are only the definition's
				continue
			}
			cells[r][i] = c.cell(vm)
			widths[i] = max(widths[i], runewidth.StringWidth(cells[r][i]))
		}
	}
	// The name gives way first, down to 12 cells; then columns drop from the right.
	const gap = 2
	total := -gap
	for _, w := range widths {
		total += w + gap
	}
	if total > width && widths[0] > 12 {
		widths[0] = max(12, widths[0]-(total-width))
	}
	shown, used := 0, -gap
	for i, w := range widths {
		if i > 0 && used+gap+w > width {
			break
		}
		used += gap + w
		shown++
	}
	line := func(texts []string, mark bool) string {
		var b strings.Builder
		for i := 0; i < shown; i++ {
			t := texts[i]
			if mark && columns[i].key == v.Sort {
				t += "*"
				if v.Reverse {
					t = t[:len(t)-1] + "^"
				}
			}
			t = runewidth.Truncate(t, widths[i], "…")
			pad := strings.Repeat(" ", widths[i]-runewidth.StringWidth(t))
			if i > 0 {
				b.WriteString(strings.Repeat(" ", gap))
			}
			if columns[i].left {
				b.WriteString(t)
				if i < shown-1 {
					b.WriteString(pad)
				}
			} else {
				b.WriteString(pad + t)
			}
		}
		return b.String()
	}
	headers := make([]string, len(columns))
	for i, c := range columns {
		headers[i] = c.header
	}
	out := []Line{{Text: line(headers, true), Reverse: true}}
	for _, c := range cells {
		out = append(out, Line{Text: line(c, false)})
	}
	if len(rows) == 0 {
		out = append(out, Line{Text: "no VM matches"})
	}
	return out
}

// fit cuts s to width terminal cells.
func fit(s string, width int) string {
	if runewidth.StringWidth(s) <= width {
		return s
	}
	return runewidth.Truncate(s, width, "")
}
