package metricscmd

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
)

// ServeOptions of `metrics serve`.
type ServeOptions struct {
	F             *cmdutil.Factory
	Listen        string
	ScrapeTimeout time.Duration
	Hosts         cmdutil.HostFlags
}

// NewCmdServe builds `metrics serve`.
func NewCmdServe(f *cmdutil.Factory, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{F: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve /metrics and /healthz for Prometheus until interrupted",
		Long: `Serve the metrics on --listen: /metrics collects at scrape time (one bulk call for all VMs,
bounded by --scrape-timeout), /healthz answers "ok" while the server runs. The default address
is loopback on the port libvirt exporters use; put a reverse proxy with authentication in front
before listening elsewhere. Port 0 picks a free port; the address is printed on stderr.

Every scrape uses one libvirt connection, kept open. A VM whose QEMU does not answer (hung,
stopped) is reported with libvirt_domain_timed_out 1 and does not hold up the others: when a
scrape has not answered by half of --scrape-timeout, the connection is replaced and the scrape
asked again; the stuck call finishes in the background, and its connection is closed then. /metrics also carries the exporter's own go_* and process_* series. The server runs
until interrupted; --timeout does not apply (each scrape has --scrape-timeout).

With --host, each scrape asks every host named at once, each on its own kept connection, and
every series carries a host label (see hvctl metrics --help); a host that does not answer is
libvirt_up{host="NAME"} 0 in that scrape, and --strict does not apply.`,
		Annotations: map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: "none (see --scrape-timeout)"},
		Example: `  hvctl metrics serve
  hvctl metrics serve --listen 127.0.0.1:9177 --scrape-timeout 5s
  hvctl metrics serve --host all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(opts.ScrapeTimeout); err != nil {
				return err
			}
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return errs.New(errs.Usage, "--listen %q: want HOST:PORT, e.g. 127.0.0.1:9177", opts.Listen)
			}
			if opts.Hosts.Strict {
				return errs.New(errs.Usage, "--strict does not apply to serve: a host that does not answer a scrape is its libvirt_up{host=\"NAME\"} 0")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:9177", "serve on `HOST:PORT`")
	addScrapeTimeout(cmd, &opts.ScrapeTimeout)
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	return cmd
}

func runServe(ctx context.Context, o *ServeOptions) error {
	var g prometheus.Gatherer
	if o.Hosts.Enabled() {
		hg, err := newHostsGatherer(o.F, &o.Hosts, o.ScrapeTimeout)
		if err != nil {
			return err
		}
		defer hg.Close()
		// Its own go_* and process_* series, as ServerRegistry adds them to one host's.
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		g = prometheus.Gatherers{hg, own}
	} else {
		c, sampler := collector(o.F, o.ScrapeTimeout)
		defer sampler.Close()
		g = metrics.ServerRegistry(c)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return errs.New(errs.Conflict, "listen on %s: %v", o.Listen, err)
	}
	if !o.F.IO.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "serving http://%s/metrics\n", ln.Addr())
	}
	return metrics.Serve(ctx, ln, g)
}
