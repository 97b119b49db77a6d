package metricscmd

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/spf13/cobra"
)

// ServeOptions of `metrics serve`.
type ServeOptions struct {
	F             *cmdutil.Factory
	Listen        string
	ScrapeTimeout time.Duration
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
until interrupted; --timeout does not apply (each scrape has --scrape-timeout).`,
		Annotations: map[string]string{cmdutil.AnnTimeout: "none", cmdutil.AnnTimeoutHelp: "none (see --scrape-timeout)"},
		Example: `  hvctl metrics serve
  hvctl metrics serve --listen 127.0.0.1:9177 --scrape-timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(opts.ScrapeTimeout); err != nil {
				return err
			}
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return errs.New(errs.Usage, "--listen %q: want HOST:PORT, e.g. 127.0.0.1:9177", opts.Listen)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:9177", "serve on `HOST:PORT`")
	addScrapeTimeout(cmd, &opts.ScrapeTimeout)
	return cmd
}

func runServe(ctx context.Context, o *ServeOptions) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return errs.New(errs.Conflict, "listen on %s: %v", o.Listen, err)
	}
	if !o.F.IO.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "serving http://%s/metrics\n", ln.Addr())
	}
	c, sampler := collector(o.F, o.ScrapeTimeout)
	defer sampler.Close()
	return metrics.Serve(ctx, ln, metrics.ServerRegistry(c))
}
