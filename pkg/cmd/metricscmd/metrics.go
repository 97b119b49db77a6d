// Package metricscmd implements `hvctl metrics`: Prometheus exposition of every VM of a host,
// for node_exporter's textfile collector (a timer), as an exporter (serve), or pushed to
// VictoriaMetrics (push). It lives under hvctl rather than vmctl because it describes the host
// as a whole — the daemon's health and, later, its pools — and is run by services and timers,
// not typed about one VM.
package metricscmd

import (
	"context"
	"fmt"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/spf13/cobra"
)

// Options of `metrics`.
type Options struct {
	F             *cmdutil.Factory
	Textfile      string
	ScrapeTimeout time.Duration
}

// NewCmdMetrics builds `metrics` and its verbs.
func NewCmdMetrics(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Export every VM's statistics in Prometheus's format",
		Long: `Export the statistics of every VM of the host in Prometheus's text format, under the metric
names of the libvirt exporters dashboards already use (libvirt_domain_info_*,
libvirt_domain_block_stats_*, libvirt_domain_interface_stats_*, libvirt_domain_vcpu_*,
libvirt_domain_memory_stats_*, libvirt_up). Value series carry only domain, uuid and the device
(target_device, vcpu); a disk's file is on libvirt_domain_block_stats_info. Each scrape is one
bulk statistics call for all VMs that does not wait for a VM whose QEMU is busy, bounded by
--scrape-timeout: when libvirt does not answer in time, libvirt_up is 0.

Without a verb, one scrape goes to stdout, or with --textfile DIR atomically to DIR/hvctl.prom
for node_exporter's textfile collector (run it from a timer). 'serve' is a long-running
exporter, 'push' sends one scrape to VictoriaMetrics.

This is 'hvctl metrics', not 'vmctl metrics': it describes the host as a whole (the daemon's
health, every VM at once) and is run by services and timers rather than about one VM.`,
		Example: `  hvctl metrics
  hvctl metrics --textfile /var/lib/prometheus/node-exporter
  hvctl metrics serve --listen 127.0.0.1:9177
  hvctl metrics push --url http://127.0.0.1:8428`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(opts.ScrapeTimeout); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMetrics(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Textfile, "textfile", "", "write `DIR`/hvctl.prom atomically instead of printing")
	addScrapeTimeout(cmd, &opts.ScrapeTimeout)
	_ = cmd.MarkFlagDirname("textfile")
	cmd.AddCommand(NewCmdServe(f, nil), NewCmdPush(f, nil), NewCmdRecord(f, nil))
	return cmd
}

func addScrapeTimeout(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "scrape-timeout", 10*time.Second, "give up on libvirt after `DURATION` per scrape (libvirt_up is then 0)")
}

func checkTimeout(d time.Duration) error {
	if d <= 0 {
		return errs.New(errs.Usage, "--scrape-timeout %s: want a positive duration such as 10s", d)
	}
	return nil
}

// collector samples the factory's host, one connection per scrape: a restarted daemon is
// picked up at the next scrape.
func collector(f *cmdutil.Factory, timeout time.Duration) *metrics.Collector {
	return &metrics.Collector{
		Timeout: timeout,
		Version: versioncmd.Version,
		Commit:  versioncmd.Commit,
		Sample: func(ctx context.Context) (model.StatsSample, error) {
			conn, err := f.Connect(ctx, true)
			if err != nil {
				return model.StatsSample{}, err
			}
			defer conn.Close()
			s, err := stats.Sample(ctx, conn)
			if err != nil {
				return s, err
			}
			s.Pools, err = conn.PoolStats(ctx)
			return s, err
		},
	}
}

func runMetrics(_ context.Context, o *Options) error {
	reg := metrics.Registry(collector(o.F, o.ScrapeTimeout))
	if o.Textfile == "" {
		_, err := metrics.WriteText(o.F.IO.Out, reg)
		return err
	}
	path, err := metrics.WriteTextfile(o.Textfile, reg)
	if err != nil {
		return err
	}
	if !o.F.IO.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "wrote %s\n", path)
	}
	return nil
}
