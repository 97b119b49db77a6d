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
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// Options of `metrics`.
type Options struct {
	F             *cmdutil.Factory
	Textfile      string
	ScrapeTimeout time.Duration
	Hosts         cmdutil.HostFlags
	Cmd           *cobra.Command // for how a failing host is reported
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
libvirt_domain_memory_stats_*, libvirt_pool_info_*, libvirt_up, libvirt_domain_timed_out),
plus hvctl_build_info and hvctl_image_last_verified_timestamp_seconds for the images of the
stores. Value series carry only domain, uuid and the device (target_device, vcpu); a disk's
file is on libvirt_domain_block_stats_info. Each scrape is one bulk statistics call for all VMs
that does not wait for a VM whose QEMU is busy, bounded by --scrape-timeout: a VM whose QEMU is
hung or stopped is reported with libvirt_domain_timed_out 1 and without its block and memory
series, and when libvirt itself does not answer in time, libvirt_up is 0.

Without a verb, one scrape goes to stdout, or with --textfile DIR atomically to DIR/hvctl.prom
for node_exporter's textfile collector (run it from a timer). 'serve' is a long-running
exporter, 'push' sends one scrape to VictoriaMetrics. --json (or --jq) prints the same series
as a JSON array of {name, type, labels, value} for scripts without a Prometheus parser.

With --host (here, and on serve and push), every host named is scraped at once, each through
its own connection within --scrape-timeout (or --host-timeout if shorter), and every series
gains a host label: the configured host name, as in --host and vmctl list's HOST column (not
instance, which Prometheus sets to the address it scraped: this one exporter for every host).
A host that does not answer has libvirt_up{host="NAME"} 0, so one exporter can watch several
hosts and alert per host. hvctl_build_info and the image series describe this machine and come
once, without a host label. Without a verb or with push, the scrape is written all the same,
the hosts that did not answer are reported on stderr and the command exits 6 (with --strict:
nothing is written). serve reports them through libvirt_up only, scrape after scrape.

This is 'hvctl metrics', not 'vmctl metrics': it describes the host as a whole (the daemon's
health, every VM at once) and is run by services and timers rather than about one VM.`,
		Example: `  hvctl metrics
  hvctl metrics --textfile /var/lib/prometheus/node-exporter
  hvctl metrics --jq '.[] | select(.name == "libvirt_domain_info_state") | "\(.labels.domain) \(.value)"'
  hvctl metrics serve --listen 127.0.0.1:9177
  hvctl metrics --host all --textfile /var/lib/prometheus/node-exporter
  hvctl metrics push --url http://127.0.0.1:8428`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(opts.ScrapeTimeout); err != nil {
				return err
			}
			opts.Cmd = cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMetrics(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Textfile, "textfile", "", "write `DIR`/hvctl.prom atomically instead of printing")
	addScrapeTimeout(cmd, &opts.ScrapeTimeout)
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	_ = cmd.MarkFlagDirname("textfile")
	f.AddOutputFlags(cmd)
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

// collector samples the factory's host through sampler (stats.Sampler: one connection, kept
// while it answers, replaced when a call on it gets stuck) with the metrics' groups, and reads
// the image stores' records.
func collector(f *cmdutil.Factory, timeout time.Duration) (*metrics.Collector, *stats.Sampler) {
	sampler := &stats.Sampler{Open: func(ctx context.Context) (*virt.Conn, error) { return f.Connect(ctx, true) }, Read: sample}
	return &metrics.Collector{Timeout: timeout, Version: versioncmd.Version, Commit: versioncmd.Commit, Sample: sampler.Sample,
		Images: func() []metrics.Image { return storedImages(f) }}, sampler
}

// warnSampleFailed says on stderr why a one-shot scrape has libvirt_up 0 (the exit status
// stays 0: the scrape was written, and libvirt_up is how it reports the daemon); without it a
// typo in -c or a stopped libvirtd went unnoticed at a shell. serve, scraped every few seconds,
// reports it through libvirt_up alone.
func warnSampleFailed(f *cmdutil.Factory) func(error) {
	return func(err error) { f.Warnf("no statistics from libvirt, so libvirt_up is 0: %v", err) }
}

// gather is the one scrape of metrics and metrics push: every --host at once, else this
// connection's collector. With --host, err names the hosts that did not answer (the scrape of
// the others is still there); a nil Gatherer means there is nothing to write. done releases the
// local sampler.
func gather(ctx context.Context, f *cmdutil.Factory, cmd *cobra.Command, hf *cmdutil.HostFlags, timeout time.Duration) (reg prometheus.Gatherer, done func(), err error) {
	timeout = scrapeBudget(ctx, timeout)
	if hf.Enabled() {
		reg, err = scrapeHosts(f, cmd, hf, timeout)
		return reg, func() {}, err
	}
	c, sampler := collector(f, timeout)
	c.SampleFailed = warnSampleFailed(f)
	return metrics.Registry(c), sampler.Close, nil
}

// scrapeBudget is --scrape-timeout, or what is left of the command's --timeout when that ends
// first: the scrape runs on a context of its own (a Gatherer takes none), so `hvctl metrics
// --timeout 2s` waited out the 10 s scrape timeout on a stuck libvirt. Past the deadline, the
// scrape gives up at once (libvirt_up 0, as for any scrape that libvirt did not answer in time).
func scrapeBudget(ctx context.Context, timeout time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < timeout {
			return max(left, time.Nanosecond)
		}
	}
	return timeout
}

// storedImages lists the images of this host's two stores (isoctl's isos and images) with when
// each was last verified, from their provenance records. Stores reached through libvirt on
// another host are isoctl's business: the exporter runs on the host that has the files.
func storedImages(f *cmdutil.Factory) []metrics.Image {
	if uri, err := f.URI(); err != nil || virt.IsRemote(uri) {
		return nil
	}
	l, err := f.Config()
	if err != nil {
		return nil
	}
	var out []metrics.Image
	for _, st := range []struct{ name, dir string }{{"isos", l.Config.Paths.ISOs}, {"images", l.Config.Paths.Images}} {
		for _, r := range iso.Records(st.dir) {
			t, _ := iso.LastVerified(r)
			out = append(out, metrics.Image{Store: st.name, Name: r.Name, LastVerified: t})
		}
	}
	return out
}

// sample is one scrape's statistics: every domain, then the pools.
func sample(ctx context.Context, conn *virt.Conn) (model.StatsSample, error) {
	s, err := stats.Sample(ctx, conn)
	if err != nil {
		return s, err
	}
	s.Pools, err = conn.PoolStats(ctx)
	return s, err
}

func runMetrics(ctx context.Context, o *Options) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	switch {
	case format.Kind == output.Name:
		return output.NoNameError() // a scrape has no names to hand to xargs
	case format.IsJSON() && o.Textfile != "":
		return errs.New(errs.Usage, "--textfile writes Prometheus's text format: leave out --json/--jq, or --textfile to print JSON")
	}
	if o.Textfile != "" {
		if err := metrics.CheckTextfileDir(o.Textfile); err != nil {
			return err
		}
	}
	// with --host, hostsErr names the hosts that did not answer, once the scrape is written
	reg, done, hostsErr := gather(ctx, o.F, o.Cmd, &o.Hosts, o.ScrapeTimeout)
	if reg == nil {
		return hostsErr
	}
	defer done()
	if format.IsJSON() {
		samples, err := metrics.Samples(reg)
		if err != nil {
			return err
		}
		if err := output.WriteJSON(o.F.IO.Out, format, samples); err != nil {
			return err
		}
		return hostsErr
	}
	if o.Textfile == "" {
		if _, err := metrics.WriteText(o.F.IO.Out, reg); err != nil {
			return err
		}
		return hostsErr
	}
	path, err := metrics.WriteTextfile(o.Textfile, reg)
	if err != nil {
		return err
	}
	if !o.F.IO.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "wrote %s\n", path)
	}
	return hostsErr
}
