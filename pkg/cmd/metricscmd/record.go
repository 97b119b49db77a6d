package metricscmd

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/statedb"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// RecordOptions of `metrics record`.
type RecordOptions struct {
	F         *cmdutil.Factory
	Retention string // "": the configuration's metrics.retention
	MaxRows   int64  // -1: the configuration's metrics.max_rows
}

// NewCmdRecord builds `metrics record`.
func NewCmdRecord(f *cmdutil.Factory, runF func(context.Context, *RecordOptions) error) *cobra.Command {
	opts := &RecordOptions{F: f}
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Append one sample of every running VM to the metrics history",
		Long: `Take one sample of every active VM (one bulk statistics call) and append its counters to the
metrics history, PATHS.STATE/metrics.db (SQLite in WAL mode, created 0600), for 'vmctl stats
--since' to summarise. Run it from a timer, every minute or so: rates are computed when the
history is read, from consecutive records, so each covers the whole time between two runs.

Each record also prunes the history: samples older than --retention (config
metrics.retention, 30d by default), then the oldest beyond --max-rows (config
metrics.max_rows, 2000000 by default; 0 for no cap). Several recorders at once are safe: each
writes in one transaction and waits (up to 5 s) for the others.

A VM whose QEMU does not answer (hung, stopped) does not hold up the record: at half of
--timeout the sample is asked again on a fresh connection, and that VM is left out of this
record with a warning (listed under timed_out in --json). Its counters are cumulative, so the
next record's rates cover the gap.

It prints one line on stderr (nothing with -q), or with --json the result on stdout. A state
directory that cannot be created or written (read-only, permission denied) fails with exit
code 7 before libvirt is asked anything.`,
		Example: `  hvctl metrics record
  hvctl -q metrics record --retention 7d
  hvctl metrics record --max-rows 500000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseNameOutput(f, "record"); err != nil {
				return err
			}
			if opts.Retention != "" {
				if d, err := units.ParseAge(opts.Retention); errors.Is(err, units.ErrTooLong) {
					return errs.New(errs.Usage, "--retention %q: too long, at most 292 years", opts.Retention)
				} else if err != nil || d <= 0 {
					return errs.New(errs.Usage, "--retention %q: want a positive duration such as 30d, 2w or 12h", opts.Retention)
				}
			}
			if !cmd.Flags().Changed("max-rows") {
				opts.MaxRows = -1 // the configuration's
			} else if opts.MaxRows < 0 {
				return errs.New(errs.Usage, "--max-rows %d: want 0 (no cap) or more", opts.MaxRows)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRecord(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Retention, "retention", "", "prune samples older than `DURATION` (e.g. 30d; default: config metrics.retention)")
	cmd.Flags().Int64Var(&opts.MaxRows, "max-rows", 0, "keep at most `N` samples, the newest (0: no cap; default: config metrics.max_rows)")
	_ = cmd.RegisterFlagCompletionFunc("retention", cobra.FixedCompletions([]string{"7d", "30d", "90d", "12h"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("max-rows", cobra.FixedCompletions([]string{"0\tno cap", "500000", "2000000"}, cobra.ShellCompDirectiveNoFileComp))
	f.AddOutputFlags(cmd)
	return cmd
}

func runRecord(ctx context.Context, o *RecordOptions) error {
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
	keep := stats.Retention{MaxRows: cfg.Config.Metrics.MaxRows}
	if o.MaxRows >= 0 {
		keep.MaxRows = o.MaxRows
	}
	retention := cfg.Config.Metrics.Retention
	if o.Retention != "" {
		retention = o.Retention
	}
	if keep.MaxAge, err = units.ParseAge(retention); err != nil {
		return errs.New(errs.Usage, "metrics.retention: %v", err) // validated at load; kept for safety
	}

	// The database first: a state directory hvctl cannot write fails before libvirt is asked.
	path := stats.HistoryPath(cfg.Config.Paths.State)
	db, err := stats.OpenHistory(ctx, path, false)
	if err != nil {
		return errs.Wrap(statedb.Classify(path, err), "metrics record")
	}
	defer db.Close()

	// Sampled as vmctl stats, top and the exporter sample: a VM whose QEMU does not answer
	// (hung, SIGSTOPped) makes the Sampler ask again on a fresh connection at half the
	// deadline, and comes back timed out, instead of the one call waiting out --timeout and
	// the whole record failing.
	sampler := &stats.Sampler{Open: func(ctx context.Context) (*virt.Conn, error) { return o.F.Connect(ctx, true) }}
	defer sampler.Close()
	sample, err := sampler.Sample(ctx)
	if err != nil {
		return errs.Wrap(err, "metrics record")
	}
	rows := stats.HistoryRows(sample)
	out, err := stats.RecordHistory(ctx, db, uri, sample.Time, rows, keep)
	if err != nil {
		return errs.Wrap(statedb.Classify(path, err), "metrics record")
	}
	res := model.RecordResult{Time: sample.Time.UTC(), URI: uri, Database: path, VMs: len(rows), TimedOut: stats.TimedOut(sample),
		PrunedRows: out.Pruned, Rows: out.Rows, RetentionSeconds: int64(keep.MaxAge / time.Second), MaxRows: keep.MaxRows}
	for _, name := range res.TimedOut {
		o.F.Warnf("VM %s did not answer in time (its QEMU is hung, stopped or busy with another job): not recorded this time; the next record's rates cover the gap", output.Escape(name))
	}
	if format.IsJSON() {
		return output.WriteJSON(o.F.IO.Out, format, res)
	}
	o.F.Infof("recorded %s in %s (%s kept, %d pruned)", count(int64(res.VMs), "VM"), path, count(res.Rows, "sample"), res.PrunedRows)
	return nil
}

// count is "1 VM", "3 VMs".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}
