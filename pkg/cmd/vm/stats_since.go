package vm

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/spf13/cobra"
)

// sinceHelp is the --since part of `vm stats --help`.
const sinceHelp = `With --since DURATION|TIME (1h, 7d, "2026-12-01 08:00", RFC 3339), stats summarises what
'hvctl metrics record' kept in PATHS.STATE/metrics.db instead of sampling: per VM the min,
avg, max and p95 of CPU %, memory, disk and network rates. A rate covers the time between two
consecutive records (at least 1 s apart); avg is the counter's increase over the time covered,
p95 the nearest-rank 95th percentile. An interval over which the VM restarted or a counter went
down is left out (counter_resets counts them). The table has one line per VM and quantity;
--json one object per VM with units in the keys. No libvirt connection is needed. With no
samples the list is empty (exit 0): record runs from a timer (see hvctl metrics record).`

// checkSince refuses --since with the live-sampling flags and a time it cannot read.
func checkSince(cmd *cobra.Command, o *StatsOptions) error {
	for _, live := range []string{"interval", "count"} {
		if cmd.Flags().Changed(live) {
			return errs.New(errs.Usage, "--since summarises the recorded history; --%s is for live samples", live)
		}
	}
	if _, err := units.ParseSince(o.Since, o.F.Now()); err != nil {
		return errs.New(errs.Usage, "--since: %v", err)
	}
	return nil
}

func runStatsSince(ctx context.Context, o *StatsOptions) error {
	if o.SampleTimeout > 0 { // --timeout bounds reading the history as it bounds a sample
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.SampleTimeout)
		defer cancel()
	}
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	cfg, err := o.F.Config()
	if err != nil {
		return err
	}
	uri, err := o.F.URI()
	if err != nil {
		return err
	}
	now := o.F.Now()
	since, err := units.ParseSince(o.Since, now)
	if err != nil {
		return errs.New(errs.Usage, "--since: %v", err)
	}
	path := stats.HistoryPath(cfg.Config.Paths.State)
	rep := model.HistoryReport{Since: since.UTC(), Until: now.UTC(), URI: uri, Database: path, VMs: []model.VMHistory{}}
	db, err := stats.OpenHistory(ctx, path, true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing recorded yet: an empty history, said below.
	case err != nil:
		return errs.Wrap(statedb.Classify(path, err), "stats --since")
	default:
		defer db.Close()
		var match func(string) bool
		if len(o.Patterns) > 0 {
			match = func(name string) bool { return cmdutil.MatchAny(o.Patterns, name) }
		}
		summaries, err := stats.SummariseStoredHistory(ctx, db, uri, since, now, match)
		if err != nil {
			return errs.Wrap(statedb.Classify(path, err), "stats --since")
		}
		for _, h := range summaries {
			if cmdutil.MatchAny(o.Patterns, h.Name) {
				rep.VMs = append(rep.VMs, h)
			}
		}
	}
	if len(rep.VMs) == 0 {
		what := "no samples"
		if len(o.Patterns) > 0 {
			what += " of " + output.Escape(strings.Join(o.Patterns, " "))
		}
		o.F.Infof("%s: %s recorded on %s since %s in %s", o.F.Prog, what, output.Escape(uri), rep.Since.Format(time.RFC3339), path)
		o.F.Infof("hint: 'hvctl metrics record' keeps the history; run it from a timer (every minute), as the README's History section shows")
	}
	return writeStatsSince(o.F.IO.Out, format, rep)
}

// sinceQuantity is one line of the --since table: how to read and print one summary.
type sinceQuantity struct {
	name  string
	wide  bool
	get   func(*model.VMHistory) *model.Summary
	print func(float64) string
}

var sinceQuantities = []sinceQuantity{
	{"cpu%vcpus", false, func(h *model.VMHistory) *model.Summary { return h.CPUPercentOfVCPUs }, oneDecimal},
	{"cpu%host", true, func(h *model.VMHistory) *model.Summary { return h.CPUPercentOfHost }, oneDecimal},
	{"memory", false, func(h *model.VMHistory) *model.Summary { return h.MemoryBytes }, bytesText},
	{"rss", true, func(h *model.VMHistory) *model.Summary { return h.MemoryRSSBytes }, bytesText},
	{"guest-used", true, func(h *model.VMHistory) *model.Summary { return h.MemoryGuestUsedBytes }, bytesText},
	{"disk-read/s", false, func(h *model.VMHistory) *model.Summary { return h.DiskReadBytesPerSecond }, bytesPerSecondText},
	{"disk-write/s", false, func(h *model.VMHistory) *model.Summary { return h.DiskWriteBytesPerSecond }, bytesPerSecondText},
	{"read-iops", false, func(h *model.VMHistory) *model.Summary { return h.DiskReadRequestsPerSecond }, oneDecimal},
	{"write-iops", false, func(h *model.VMHistory) *model.Summary { return h.DiskWriteRequestsPerSecond }, oneDecimal},
	{"net-rx/s", false, func(h *model.VMHistory) *model.Summary { return h.NetRxBytesPerSecond }, bytesPerSecondText},
	{"net-tx/s", false, func(h *model.VMHistory) *model.Summary { return h.NetTxBytesPerSecond }, bytesPerSecondText},
	{"rx-pkts/s", true, func(h *model.VMHistory) *model.Summary { return h.NetRxPacketsPerSecond }, oneDecimal},
	{"tx-pkts/s", true, func(h *model.VMHistory) *model.Summary { return h.NetTxPacketsPerSecond }, oneDecimal},
}

func oneDecimal(v float64) string         { return strconv.FormatFloat(v, 'f', 1, 64) }
func bytesText(v float64) string          { return units.Human(uint64(v + 0.5)) }
func bytesPerSecondText(v float64) string { return bytesText(v) + "/s" }

// writeStatsSince prints the report: one table line per VM and quantity (awk-friendly, a
// dash where nothing was recorded), the JSON model, or the names.
func writeStatsSince(w io.Writer, f output.Format, rep model.HistoryReport) error {
	switch {
	case f.IsJSON():
		return output.WriteJSON(w, f, rep)
	case f.Kind == output.Name:
		return output.List(w, f, rep.VMs, nil, func(h model.VMHistory) string { return h.Name })
	}
	header := []string{"name", "quantity", "min", "avg", "max", "p95", "count"}
	var rows [][]string
	for i := range rep.VMs {
		h := &rep.VMs[i]
		for _, q := range sinceQuantities {
			if q.wide && f.Kind != output.Wide {
				continue
			}
			s := q.get(h)
			if s == nil {
				rows = append(rows, []string{output.Escape(h.Name), q.name, "-", "-", "-", "-", "0"})
				continue
			}
			rows = append(rows, []string{output.Escape(h.Name), q.name, q.print(s.Min), q.print(s.Avg), q.print(s.Max), q.print(s.P95), strconv.Itoa(s.Observations)})
		}
	}
	return output.RenderTable(w, header, rows, f.NoHeaders)
}
