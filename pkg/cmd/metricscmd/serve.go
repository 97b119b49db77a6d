package metricscmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
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
			if _, port, err := net.SplitHostPort(opts.Listen); err != nil {
				return errs.New(errs.Usage, "--listen %q: want HOST:PORT, e.g. 127.0.0.1:9177", opts.Listen)
			} else if _, err := net.LookupPort("tcp", port); err != nil {
				return errs.New(errs.Usage, "--listen %q: port %q is neither a number from 0 to 65535 nor a service name", opts.Listen, port)
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
	ln, err := net.Listen(listenNetwork(o.Listen), o.Listen)
	if err != nil {
		return listenError(o.Listen, err)
	}
	if !o.F.IO.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "serving http://%s/metrics\n", ln.Addr())
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		o.F.Warnf("%s is not loopback: anyone who reaches this host on that port reads every VM's name and statistics; put a reverse proxy with authentication in front, or listen on 127.0.0.1", ln.Addr())
	}
	return metrics.Serve(ctx, ln, g)
}

// listenNetwork is "tcp4" for an IPv4 address and "tcp6" for an IPv6 one: Go's "tcp" listens
// on 0.0.0.0 as on [::], IPv6 included, which is more than --listen 0.0.0.0:9177 asked for. A
// host name keeps "tcp" (its first address).
func listenNetwork(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			return "tcp4"
		}
		return "tcp6"
	}
	return "tcp"
}

// listenError says in one line why --listen failed, without net's nested "listen tcp ADDR:
// bind:": a port in use is a conflict (exit 4), an address this host does not have or a name
// that does not resolve a usage error (2), a port hvctl may not bind (below 1024 without the
// capability) exit 7.
func listenError(addr string, err error) error {
	var errno syscall.Errno
	var dns *net.DNSError
	switch {
	case errors.As(err, &errno) && errno == syscall.EADDRINUSE:
		return errs.New(errs.Conflict, "listen on %s: the port is in use", addr).
			WithHint("another exporter (or another 'hvctl metrics serve') has it: stop it, or choose another --listen")
	case errors.As(err, &errno) && errno == syscall.EADDRNOTAVAIL:
		return errs.New(errs.Usage, "listen on %s: this host has no such address", addr)
	case errors.As(err, &errno) && (errno == syscall.EACCES || errno == syscall.EPERM):
		return &errs.Error{Kind: errs.Unreachable, Msg: fmt.Sprintf("listen on %s: permission denied", addr), Err: err}
	case errors.As(err, &dns):
		return errs.New(errs.Usage, "listen on %s: cannot resolve %s", addr, dns.Name)
	case errors.As(err, &errno):
		return &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("listen on %s: %v", addr, errno), Err: err}
	}
	return &errs.Error{Kind: errs.Failure, Msg: fmt.Sprintf("listen on %s: %v", addr, err), Err: err}
}
