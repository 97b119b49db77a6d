package metricscmd

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmd/versioncmd"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/cobra"
)

// hostLabel is the label that tells the hosts' series apart with --host: the configured host
// name, as in --host, vmctl list's HOST column and the events' host field. Not "instance":
// Prometheus sets that to the address it scraped, which is this one exporter for every host.
var hostLabel = "host"

// machineMetrics describe the machine hvctl runs on, not a libvirt host: exported once,
// without a host label.
var machineMetrics = []string{"hvctl_build_info", "hvctl_image_last_verified_timestamp_seconds"}

// hostsGatherer scrapes every host of --host at once, each through its own collector and
// sampler (connection kept while it answers) within --scrape-timeout (or --host-timeout if
// shorter), and merges their series, each with a host label. A host that does not answer has
// libvirt_up{host="…"} 0, as one libvirt that does not answer has libvirt_up 0.
type hostsGatherer struct {
	hf         *cmdutil.HostFlags
	hosts      []cmdutil.Host
	collectors []*metrics.Collector
	samplers   []*stats.Sampler
}

func newHostsGatherer(f *cmdutil.Factory, hf *cmdutil.HostFlags, scrapeTimeout time.Duration) (*hostsGatherer, error) {
	hosts, err := f.ResolveHosts(hf)
	if err != nil {
		return nil, err
	}
	g := &hostsGatherer{hf: hf, hosts: hosts}
	for i, h := range hosts {
		s := &stats.Sampler{Open: func(ctx context.Context) (*virt.Conn, error) { return virt.Open(ctx, h.URI, true) }, Read: sample}
		c := &metrics.Collector{Timeout: min(scrapeTimeout, hf.Timeout), Version: versioncmd.Version, Commit: versioncmd.Commit}
		if i == 0 { // the stores are this machine's: once
			c.Images = func() []metrics.Image { return storedImages(f) }
		}
		g.samplers, g.collectors = append(g.samplers, s), append(g.collectors, c)
	}
	return g, nil
}

func (g *hostsGatherer) Close() {
	for _, s := range g.samplers {
		s.Close()
	}
}

// Gather is one scrape of every host, for serve.
func (g *hostsGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, _ := g.scrape()
	return mfs, nil
}

// scrape takes one scrape of every host and returns the merged families and each host's
// failure (nil: it answered).
func (g *hostsGatherer) scrape() ([]*dto.MetricFamily, []error) {
	per := make([][]*dto.MetricFamily, len(g.hosts))
	failures := cmdutil.EachHost(context.Background(), g.hf, g.hosts, func(_ context.Context, i int, _ cmdutil.Host) error {
		var sampleErr error
		c := *g.collectors[i]
		c.Sample = func(ctx context.Context) (model.StatsSample, error) {
			s, err := g.samplers[i].Sample(ctx)
			sampleErr = err
			return s, err
		}
		per[i], _ = c.Gather() // a host that does not answer is its libvirt_up 0
		return sampleErr
	})
	return mergeHosts(g.hosts, per), failures
}

// mergeHosts joins the hosts' families by name, each series with its host label (in its
// sorted place among the label names, as Prometheus orders them), the series of a family in
// label order; machineMetrics come from the first host alone, unlabelled.
func mergeHosts(hosts []cmdutil.Host, per [][]*dto.MetricFamily) []*dto.MetricFamily {
	byName := map[string]*dto.MetricFamily{}
	var out []*dto.MetricFamily
	for i, mfs := range per {
		host := hosts[i].Name
		for _, mf := range mfs {
			machine := slices.Contains(machineMetrics, mf.GetName())
			if machine && i > 0 {
				continue
			}
			merged := byName[mf.GetName()]
			if merged == nil {
				merged = &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
				byName[mf.GetName()] = merged
				out = append(out, merged)
			}
			for _, m := range mf.Metric {
				if !machine {
					// A new slice: the collector may share label pairs between series.
					at := slices.IndexFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() > hostLabel })
					if at < 0 {
						at = len(m.Label)
					}
					labels := make([]*dto.LabelPair, 0, len(m.Label)+1)
					labels = append(labels, m.Label[:at]...)
					labels = append(labels, &dto.LabelPair{Name: &hostLabel, Value: &host})
					m.Label = append(labels, m.Label[at:]...)
				}
				merged.Metric = append(merged.Metric, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, mf := range out {
		slices.SortStableFunc(mf.Metric, func(a, b *dto.Metric) int {
			for i := range min(len(a.Label), len(b.Label)) {
				if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
					return c
				}
			}
			return len(a.Label) - len(b.Label)
		})
	}
	return out
}

// scrapeHosts is one scrape of the hosts of --host for a command that writes it once (stdout,
// --textfile, push): the merged scrape to write, and the command's error once it is written
// (hosts that did not answer are reported: exit 6, or the failure itself when none answered).
// A nil scrape means there is nothing to write: the error says why (--strict and a host that
// did not answer, or bad --host values).
func scrapeHosts(f *cmdutil.Factory, cmd *cobra.Command, hf *cmdutil.HostFlags, scrapeTimeout time.Duration) (prometheus.Gatherer, error) {
	g, err := newHostsGatherer(f, hf, scrapeTimeout)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	mfs, failures := g.scrape()
	outcome := f.HostsOutcome(cmd, hf, g.hosts, failures)
	if outcome != nil && hf.Strict {
		return nil, outcome
	}
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil }), outcome
}
