package vm

import (
	"cmp"
	"context"
	"slices"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
)

// runStatsHosts is stats over the hosts of --host: every sample asks all hosts at once (each
// with its own sampler, so its connection is kept, and its own --host-timeout), and each report
// merges their VMs, ordered by host then name, with a host column. A host that does not answer
// the first sample is reported and left out; one that stops answering later is reported each
// time and its VMs are missing from that report. Either way the command ends partial (exit 6),
// or at once with --strict.
func runStatsHosts(ctx context.Context, o *StatsOptions) error {
	format, err := o.F.Format()
	if err != nil {
		return err
	}
	hosts, err := o.F.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	if err := o.F.CheckHostQualifiers(o.Patterns, hosts); err != nil {
		return err
	}
	samplers := make([]*stats.Sampler, len(hosts))
	for i, h := range hosts {
		samplers[i] = &stats.Sampler{Open: func(ctx context.Context) (*virt.Conn, error) { return virt.Open(ctx, h.URI, true) }}
		defer samplers[i].Close()
	}
	// sample asks the hosts in active (nil: all) and returns their samples and failures.
	sample := func(active []bool) ([]model.StatsSample, []error) {
		samples := make([]model.StatsSample, len(hosts))
		failures := cmdutil.EachHost(ctx, &o.Hosts, hosts, func(ctx context.Context, i int, _ cmdutil.Host) error {
			if active != nil && !active[i] {
				return nil
			}
			var err error
			samples[i], err = samplers[i].Sample(ctx)
			return err
		})
		return samples, failures
	}
	isHost := cmdutil.IsHostIn(hosts)
	patterns := make([][]string, len(hosts)) // the patterns that apply on each host
	applies := make([]bool, len(hosts))
	for i, h := range hosts {
		patterns[i], applies[i] = cmdutil.PatternsForHost(o.Patterns, h.Name, isHost)
	}

	prev, failures := sample(nil)
	if ctx.Err() != nil {
		return errs.Wrap(ctx.Err(), "stats")
	}
	partial := o.F.HostsOutcome(o.Cmd, &o.Hosts, hosts, failures)
	if partial != nil && errs.KindOf(partial) != errs.Partial {
		return errs.Wrap(partial, "stats")
	}
	active := make([]bool, len(hosts))
	var names []string
	for i, h := range hosts {
		if active[i] = failures[i] == nil; active[i] {
			for _, v := range prev[i].VMs {
				names = append(names, v.Name, h.Name+":"+v.Name)
			}
		}
	}
	if partial == nil { // with a host missing, a name asked for may be there
		if err := cmdutil.MissingNames("VM", o.Patterns, names); err != nil {
			return err // nothing to watch: say so now, not after the interval
		}
	}
	err = emitReports(ctx, o, format, func() (model.StatsReport, error) {
		cur, failures := sample(active)
		if ctx.Err() != nil {
			return model.StatsReport{}, ctx.Err()
		}
		if err := o.F.HostsOutcome(o.Cmd, &o.Hosts, hosts, failures); err != nil {
			if errs.KindOf(err) != errs.Partial { // --strict, or no host answered
				return model.StatsReport{}, errs.Wrap(err, "stats")
			}
			partial = cmp.Or(partial, err)
		}
		rep := model.StatsReport{VMs: []model.VMStatsReport{}}
		for i, h := range hosts {
			if !active[i] || failures[i] != nil {
				continue // its previous sample stays: the next rates cover the longer interval
			}
			r := stats.Rates(prev[i], cur[i])
			prev[i] = cur[i]
			if r.Time.After(rep.Time) {
				rep.Time = r.Time
			}
			rep.IntervalSeconds = max(rep.IntervalSeconds, r.IntervalSeconds)
			rep.HostCPUs += r.HostCPUs
			rep.HostMemoryBytes += r.HostMemoryBytes
			rep.Hosts = append(rep.Hosts, model.StatsHost{Host: h.Name, Time: r.Time, HostCPUs: r.HostCPUs, HostMemoryBytes: r.HostMemoryBytes})
			for _, v := range r.VMs {
				if !applies[i] || !cmdutil.MatchAny(patterns[i], v.Name) {
					continue
				}
				v.Host = h.Name
				warnTimedOut(o.F, v)
				rep.VMs = append(rep.VMs, v)
			}
		}
		slices.SortStableFunc(rep.VMs, func(a, b model.VMStatsReport) int {
			return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Name, b.Name))
		})
		return rep, nil
	})
	if err != nil {
		return err
	}
	return partial
}
