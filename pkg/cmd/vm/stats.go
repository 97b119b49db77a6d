package vm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/spf13/cobra"
)

// StatsOptions of `vm stats`.
type StatsOptions struct {
	F        *cmdutil.Factory
	Patterns []string
	Interval time.Duration
	Count    int
	// SampleTimeout bounds connecting and each sample (--timeout), not the whole run: an
	// endless --count 0 must not end at the first deadline.
	SampleTimeout time.Duration
	// Order sorts each report's VMs (vmctl top --batch --sort); nil keeps them by name.
	Order func(a, b model.VMStatsReport) int
	Since string // summarise the recorded history from then on (stats_since.go) instead of sampling
	Hosts cmdutil.HostFlags
	Cmd   *cobra.Command // for how a failing host is reported (--json)
}

// NewCmdStats builds `vm stats`.
func NewCmdStats(f *cmdutil.Factory, runF func(context.Context, *StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "stats [PATTERN...]",
		Short: "Show how busy VMs are: CPU, memory, disk and network rates",
		Long: `Show one line per VM: state, CPU use, vCPUs, memory, disk read/write bytes and requests per
second, network receive/transmit bytes and packets per second. Rates cover --interval between
two samples; each sample is one bulk statistics call for every VM on the host, which does not
wait for a VM whose QEMU is busy (it then reports fewer fields).

CPU% is the share of the VM's own vCPUs (100 = all of them busy); -o wide adds the share of the
host's CPUs (virt-top's %CPU), the guest-reported memory (when the balloon driver reports it),
and one line per disk and network interface. --json gives the counters and the rates, with
their units in the keys; null means not reported or not known yet (a VM that just started, a
counter that went down because the VM restarted).

With --count N, N reports follow each other, --interval apart (0: until interrupted, which
exits 130 as every interrupted command does: a service needs SuccessExitStatus=130); in a
pipe, --json prints one JSON document per line (NDJSON). --timeout bounds each sample, not the
whole command. A VM whose QEMU does not answer in time (hung, stopped, or busy with a
migration) is still reported, with timed_out true in JSON, its disk and guest memory figures
missing, and a warning on stderr; the others are not held up.

With --host, every sample asks those hosts at once, each within --host-timeout, and the
report has their VMs with a host column (host field), ordered by host then name; patterns may
be qualified HOST:PATTERN. In JSON, hosts lists the hosts that answered with their sizes, and
host_cpus and host_memory_bytes are their sums. A host that does not answer is reported on
stderr and its VMs are missing from that report; the command then ends with exit 6, or at once
with --strict.

` + sinceHelp,
		Example: `  vmctl stats
  vmctl stats 'web-*' -o wide
  vmctl stats --json --count 0 --interval 10s >> stats.ndjson
  vmctl stats --jq '.vms[] | [.name, .rates.cpu_percent_of_vcpus] | @tsv'
  vmctl stats --host all 'web-*'
  vmctl stats --since 1h web01
  vmctl stats --since 2026-12-01 --jq '.vms[] | [.name, .cpu_percent_of_vcpus.p95] | @tsv'`,
		Annotations:       map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: cmdutil.ShortDuration(cmdutil.DefaultTimeout) + " per sample"},
		ValidArgsFunction: completeVMs(f, true),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			opts.Patterns, opts.Cmd = args, cmd
			if err := cmdutil.ValidatePatterns(args); err != nil {
				return err
			}
			if opts.SampleTimeout, err = sampleTimeout(f); err != nil {
				return err
			}
			if opts.Interval <= 0 {
				return errs.New(errs.Usage, "--interval %s: want a positive duration such as 1s or 500ms", opts.Interval)
			}
			if opts.Count < 0 {
				return errs.New(errs.Usage, "--count %d: want 0 (until interrupted) or more", opts.Count)
			}
			if opts.Since != "" {
				if opts.Hosts.Enabled() {
					return errs.New(errs.Usage, "--since reads the history recorded on this machine; it does not take --host")
				}
				if err := checkSince(cmd, opts); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.Since != "" {
				return runStatsSince(cmd.Context(), opts)
			}
			if opts.Hosts.Enabled() {
				return runStatsHosts(cmd.Context(), opts)
			}
			return runStats(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Interval, "interval", time.Second, "`DURATION` between the two samples a rate is computed from")
	cmd.Flags().IntVar(&opts.Count, "count", 1, "print `N` reports, --interval apart (0: until interrupted)")
	cmd.Flags().StringVar(&opts.Since, "since", "", "summarise the history hvctl metrics record kept since `DURATION|TIME` (1h, 7d, 2006-01-02)")
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	_ = cmd.RegisterFlagCompletionFunc("since", cobra.FixedCompletions([]string{"1h\tthe last hour", "24h\tthe last day", "7d\tthe last week", "30d\tthe last 30 days"}, cobra.ShellCompDirectiveNoFileComp))
	f.AddOutputFlags(cmd)
	return cmd
}

func runStats(ctx context.Context, o *StatsOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	bounded := func() (context.Context, context.CancelFunc) {
		if o.SampleTimeout <= 0 {
			return context.WithCancel(ctx)
		}
		return virt.WithTimeout(ctx, o.SampleTimeout)
	}
	// One connection while it answers; a VM whose QEMU hangs is reported timed out, not waited
	// for (stats.Sampler asks again on a fresh connection).
	sampler := &stats.Sampler{Open: func(ctx context.Context) (*virt.Conn, error) { return o.F.Connect(ctx, true) }}
	defer sampler.Close()
	sample := func() (model.StatsSample, error) {
		sctx, cancel := bounded()
		defer cancel()
		s, err := sampler.Sample(sctx)
		if err != nil {
			return s, errs.Wrap(err, "stats")
		}
		return s, nil
	}
	prev, err := sample()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(prev.VMs))
	for _, v := range prev.VMs {
		names = append(names, v.Name)
	}
	if err := cmdutil.MissingNames("VM", o.Patterns, names); err != nil {
		return err // nothing to watch: say so now, not after the interval
	}
	return emitReports(ctx, o, format, func() (model.StatsReport, error) {
		cur, err := sample()
		if err != nil {
			return model.StatsReport{}, err
		}
		rep := stats.Rates(prev, cur)
		prev = cur
		kept := rep.VMs[:0]
		for _, v := range rep.VMs {
			if cmdutil.MatchAny(o.Patterns, v.Name) {
				warnTimedOut(o.F, v)
				kept = append(kept, v)
			}
		}
		rep.VMs = kept
		if o.Order != nil {
			slices.SortStableFunc(rep.VMs, o.Order)
		}
		return rep, nil
	})
}

// emitReports writes o.Count reports (0: until interrupted), each from next after waiting
// --interval, blank-line separated in a table; the first one interrupted ends the loop.
func emitReports(ctx context.Context, o *StatsOptions, format output.Format, next func() (model.StatsReport, error)) error {
	for n := 0; o.Count == 0 || n < o.Count; n++ {
		select {
		case <-ctx.Done():
			return errs.Wrap(ctx.Err(), "stats")
		case <-time.After(o.Interval):
		}
		rep, err := next()
		if ctx.Err() != nil {
			return errs.Wrap(ctx.Err(), "stats") // interrupted mid-sample: not a failure of libvirt
		}
		if err != nil {
			return err
		}
		if n > 0 && !format.IsJSON() && format.Kind != output.Name {
			fmt.Fprintln(o.F.IO.Out)
		}
		if err := writeStats(o.F.IO.Out, format, rep); err != nil {
			return err
		}
	}
	return nil
}

// warnTimedOut says on stderr that v's figures from QEMU are missing from this report.
func warnTimedOut(f *cmdutil.Factory, v model.VMStatsReport) {
	if !v.TimedOut {
		return
	}
	name := output.Escape(v.Name)
	if v.Host != "" {
		name = v.Host + ":" + name
	}
	f.Warnf("VM %s did not answer in time (its QEMU is hung, stopped or busy with another job): its disk and guest memory figures are missing", name)
}

// sampleTimeout is --timeout when given, else the default: the bound of one sample of a
// command that samples until interrupted.
func sampleTimeout(f *cmdutil.Factory) (time.Duration, error) {
	d := cmdutil.DefaultTimeout
	if fl := f.Global.Flags; fl != nil && fl.Changed("timeout") {
		d = f.Global.Timeout
	}
	if d <= 0 {
		return 0, errs.New(errs.Usage, "--timeout must be positive")
	}
	return d, nil
}

func writeStats(w interface{ Write([]byte) (int, error) }, f output.Format, rep model.StatsReport) error {
	switch {
	case f.IsJSON():
		return output.WriteJSON(w, f, rep)
	case f.Kind == output.Name:
		return output.List(w, f, rep.VMs, nil, func(v model.VMStatsReport) string {
			if v.Host != "" {
				return v.Host + ":" + v.Name
			}
			return v.Name
		})
	}
	wide := f.Kind == output.Wide
	header := []string{"name", "state", "cpu%vcpus", "vcpus", "memory", "disk-read/s", "disk-write/s", "read-iops", "write-iops", "net-rx/s", "net-tx/s"}
	if wide {
		header = []string{"name", "device", "state", "cpu%vcpus", "cpu%host", "vcpus", "memory", "rss", "guest-used", "guest-avail",
			"disk-read/s", "disk-write/s", "read-iops", "write-iops", "net-rx/s", "net-tx/s", "rx-pkts/s", "tx-pkts/s"}
	}
	hosted := len(rep.Hosts) > 0 // over several hosts (--host): each row leads with its host
	if hosted {
		header = append([]string{"host"}, header...)
	}
	row := func(v model.VMStatsReport, cells ...string) []string {
		if hosted {
			return append([]string{v.Host}, cells...)
		}
		return cells
	}
	var rows [][]string
	for _, v := range rep.VMs {
		r := v.Rates
		if !wide {
			rows = append(rows, row(v, output.Escape(v.Name), v.State, pct(r.CPUPercentOfVCPUs), strconv.Itoa(v.VCPUs), units.Human(v.MemoryBytes),
				bytesRate(r.DiskReadBytesPerSecond), bytesRate(r.DiskWriteBytesPerSecond), countRate(r.DiskReadRequestsPerSecond), countRate(r.DiskWriteRequestsPerSecond),
				bytesRate(r.NetRxBytesPerSecond), bytesRate(r.NetTxBytesPerSecond)))
			continue
		}
		used := "-"
		if v.MemoryAvailableBytes != nil && v.MemoryUsableBytes != nil && *v.MemoryAvailableBytes >= *v.MemoryUsableBytes {
			used = units.Human(*v.MemoryAvailableBytes - *v.MemoryUsableBytes)
		}
		rows = append(rows, row(v, output.Escape(v.Name), "-", v.State, pct(r.CPUPercentOfVCPUs), pct(r.CPUPercentOfHost), strconv.Itoa(v.VCPUs),
			units.Human(v.MemoryBytes), optBytes(v.MemoryRSSBytes), used, optBytes(v.MemoryAvailableBytes),
			bytesRate(r.DiskReadBytesPerSecond), bytesRate(r.DiskWriteBytesPerSecond), countRate(r.DiskReadRequestsPerSecond), countRate(r.DiskWriteRequestsPerSecond),
			bytesRate(r.NetRxBytesPerSecond), bytesRate(r.NetTxBytesPerSecond), countRate(r.NetRxPacketsPerSecond), countRate(r.NetTxPacketsPerSecond)))
		// A device row has a dash in the columns that are the VM's or the other kind of
		// device's, never an empty cell: awk '{print $11}' then reads DISK-READ/S on every row.
		const na = "-"
		for _, d := range r.Disks {
			rows = append(rows, row(v, output.Escape(v.Name), output.Escape(d.Name), na, na, na, na, na, na, na, na,
				bytesRate(d.ReadBytesPerSecond), bytesRate(d.WriteBytesPerSecond), countRate(d.ReadRequestsPerSecond), countRate(d.WriteRequestsPerSecond), na, na, na, na))
		}
		for _, n := range r.NICs {
			rows = append(rows, row(v, output.Escape(v.Name), output.Escape(n.Name), na, na, na, na, na, na, na, na, na, na, na, na,
				bytesRate(n.RxBytesPerSecond), bytesRate(n.TxBytesPerSecond), countRate(n.RxPacketsPerSecond), countRate(n.TxPacketsPerSecond)))
		}
	}
	return output.RenderTable(w, header, rows, f.NoHeaders)
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

func bytesRate(p *float64) string {
	if p == nil {
		return "-"
	}
	return units.Human(uint64(*p+0.5)) + "/s"
}

func countRate(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

func optBytes(p *uint64) string {
	if p == nil {
		return "-"
	}
	return units.Human(*p)
}
