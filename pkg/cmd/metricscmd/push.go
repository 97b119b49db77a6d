package metricscmd

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/hyper-nixos/hvctl/pkg/output"
	"github.com/spf13/cobra"
)

// PushOptions of `metrics push`.
type PushOptions struct {
	F             *cmdutil.Factory
	URL           string
	ScrapeTimeout time.Duration
	Hosts         cmdutil.HostFlags
	Cmd           *cobra.Command // for how a failing host is reported (--json)
}

// PushResult is what `metrics push` reports.
type PushResult struct {
	URL    string `json:"url"`
	Series int    `json:"series"`
}

// NewCmdPush builds `metrics push`.
func NewCmdPush(f *cmdutil.Factory, runF func(context.Context, *PushOptions) error) *cobra.Command {
	opts := &PushOptions{F: f}
	cmd := &cobra.Command{
		Use:   "push --url URL",
		Short: "Send one scrape to VictoriaMetrics",
		Long: `Take one scrape and send it to VictoriaMetrics's Prometheus import API
(URL/api/v1/import/prometheus when URL has no path; a URL with a path is used as it is), for
hosts that push rather than get scraped. Run it from a timer. A redirect is not followed (it
would turn the POST into a GET): the push fails (exit 1) and the hint names where it points.`,
		Example: `  hvctl metrics push --url http://127.0.0.1:8428
  hvctl metrics push --url https://vm.example.org/api/v1/import/prometheus --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTimeout(opts.ScrapeTimeout); err != nil {
				return err
			}
			if err := refuseNameOutput(f, "push"); err != nil {
				return err
			}
			target, err := metrics.PushURL(opts.URL)
			if err != nil {
				return err
			}
			opts.URL, opts.Cmd = target, cmd
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPush(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.URL, "url", "", "VictoriaMetrics `URL`, e.g. http://127.0.0.1:8428")
	_ = cmd.MarkFlagRequired("url")
	addScrapeTimeout(cmd, &opts.ScrapeTimeout)
	cmdutil.AddHostFlags(f, cmd, &opts.Hosts)
	f.AddOutputFlags(cmd)
	return cmd
}

func runPush(ctx context.Context, o *PushOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	// with --host, hostsErr names the hosts that did not answer, once the scrape is sent
	reg, done, hostsErr := gather(ctx, o.F, o.Cmd, &o.Hosts, o.ScrapeTimeout)
	if reg == nil {
		return hostsErr
	}
	defer done()
	n, err := metrics.Push(ctx, &http.Client{Timeout: 30 * time.Second}, o.URL, reg)
	if err != nil {
		return err
	}
	res := PushResult{URL: metrics.RedactURL(o.URL), Series: n}
	if err := output.Object(o.F.IO.Out, format, res, [][2]string{{"url", res.URL}, {"series", strconv.Itoa(n)}}); err != nil {
		return err
	}
	return hostsErr
}

// refuseNameOutput refuses -o name before anything is done: push and record report one result
// that has no name, and the refusal came after the push had been sent (exit 2 for a push that
// happened), or never, for record (-o name printed nothing).
func refuseNameOutput(f *cmdutil.Factory, verb string) error {
	format, err := f.Format()
	if err != nil {
		return err
	}
	if format.Kind == output.Name {
		return errs.New(errs.Usage, "-o name: %s prints no name; use -o json", verb)
	}
	return nil
}
