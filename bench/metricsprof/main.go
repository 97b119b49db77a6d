// Command metricsprof shows where the time of an `hvctl metrics` scrape goes, for
// bench/metrics.sh: `rpc` times libvirt's bulk statistics call with different groups and
// domain filters (what the daemon costs), `scrape` runs the exporter's own path (stats.Sampler,
// metrics.Collector, the server's registry and its text encoding) and splits each scrape into
// the libvirt sample, the collection (Gather) and the encoding, with optional CPU and
// allocation profiles. Not a test; it needs a running libvirtd.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/stats"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/prometheus/common/expfmt"
	"libvirt.org/go/libvirt"
)

func main() {
	uri := flag.String("uri", "qemu:///system", "libvirt `URI`")
	n := flag.Int("n", 21, "`N` rounds")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of `scrape` to `FILE`")
	memprofile := flag.String("memprofile", "", "write an allocation profile of `scrape` to `FILE`")
	only := flag.String("only", "", "`rpc`: time only the variants whose name matches `REGEXP`")
	exporter := flag.String("exporter", "", "`rpc`: also time a GET of `URL` (another exporter's /metrics), in the same rounds")
	flag.Parse()
	var err error
	switch flag.Arg(0) {
	case "rpc":
		err = rpc(*uri, *n, *only, *exporter)
	case "scrape":
		err = scrape(*uri, *n, *cpuprofile, *memprofile)
	default:
		err = fmt.Errorf("usage: metricsprof [flags] rpc|scrape")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "metricsprof:", err)
		os.Exit(1)
	}
}

// median of the durations, in milliseconds.
func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}

const allGroups = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL | libvirt.DOMAIN_STATS_BALLOON |
	libvirt.DOMAIN_STATS_VCPU | libvirt.DOMAIN_STATS_INTERFACE | libvirt.DOMAIN_STATS_BLOCK

func rpc(uri string, n int, only, exporter string) error {
	match, err := regexp.Compile(only)
	if err != nil {
		return err
	}
	// Connections for the pooled variants; the first is everything else's.
	var conns []*libvirt.Connect
	for range 4 {
		c, err := libvirt.NewConnectReadOnly(uri)
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	conn := conns[0]
	pooled := func(k, perConn int) func() (int, error) {
		return func() (int, error) {
			return rawPooledActive(conns[:k], perConn, allGroups, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
		}
	}
	nowait := libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
	active, inactive := libvirt.CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE
	stat := func(groups libvirt.DomainStatsTypes, flags libvirt.ConnectGetAllDomainStatsFlags) func() (int, error) {
		return func() (int, error) {
			return rawAllDomainStats(conn, groups, flags)
		}
	}
	list := func(flags libvirt.ConnectListAllDomainsFlags) func() (int, error) {
		return func() (int, error) {
			ds, err := conn.ListAllDomains(flags)
			for _, d := range ds {
				_ = d.Free()
			}
			return len(ds), err
		}
	}
	type variant struct {
		name string
		fn   func() (int, error)
	}
	variants := []variant{
		{"all domains, the metrics' 6 groups, NOWAIT", stat(allGroups, nowait)},
		{"all domains, state", stat(libvirt.DOMAIN_STATS_STATE, 0)},
		{"running, the metrics' 6 groups, NOWAIT", stat(allGroups, active|nowait)},
		{"running, the metrics' 6 groups, NOWAIT, 2 calls at once", func() (int, error) { return rawChunkedActive(conn, 2, allGroups, nowait) }},
		{"running, the metrics' 6 groups, NOWAIT, 4 calls at once", func() (int, error) { return rawChunkedActive(conn, 4, allGroups, nowait) }},
		{"running, the metrics' 6 groups, NOWAIT, 1 connection, up to 5 calls at once", pooled(1, 5)},
		{"running, the metrics' 6 groups, NOWAIT, 2 connections, up to 5 calls at once each", pooled(2, 5)},
		{"running, the metrics' 6 groups, NOWAIT, 3 connections, up to 5 calls at once each", pooled(3, 5)},
		{"running, the metrics' 6 groups, NOWAIT, 4 connections, up to 5 calls at once each", pooled(4, 5)},
		{"running, the metrics' 6 groups, NOWAIT, 4 connections, up to 2 calls at once each", pooled(4, 2)},
		{"running, state+interface", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_INTERFACE, active|nowait)},
		{"running, state+cpu+interface", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_CPU_TOTAL|libvirt.DOMAIN_STATS_INTERFACE, active|nowait)},
		{"running, state+cpu+vcpu+interface", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_CPU_TOTAL|libvirt.DOMAIN_STATS_VCPU|libvirt.DOMAIN_STATS_INTERFACE, active|nowait)},
		{"running, state", stat(libvirt.DOMAIN_STATS_STATE, active|nowait)},
		{"running, cpu", stat(libvirt.DOMAIN_STATS_CPU_TOTAL, active|nowait)},
		{"running, balloon", stat(libvirt.DOMAIN_STATS_BALLOON, active|nowait)},
		{"running, vcpu", stat(libvirt.DOMAIN_STATS_VCPU, active|nowait)},
		{"running, interface", stat(libvirt.DOMAIN_STATS_INTERFACE, active|nowait)},
		{"running, block", stat(libvirt.DOMAIN_STATS_BLOCK, active|nowait)},
		{"inactive, the metrics' 6 groups", stat(allGroups, inactive)},
		{"inactive, state", stat(libvirt.DOMAIN_STATS_STATE, inactive)},
		{"inactive, state+balloon+vcpu", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_BALLOON|libvirt.DOMAIN_STATS_VCPU, inactive)},
		{"inactive, state+balloon", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_BALLOON, inactive)},
		{"inactive, state+vcpu", stat(libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_VCPU, inactive)},
		{"inactive, cpu", stat(libvirt.DOMAIN_STATS_CPU_TOTAL, inactive)},
		{"inactive, balloon", stat(libvirt.DOMAIN_STATS_BALLOON, inactive)},
		{"inactive, vcpu", stat(libvirt.DOMAIN_STATS_VCPU, inactive)},
		{"inactive, interface", stat(libvirt.DOMAIN_STATS_INTERFACE, inactive)},
		{"inactive, block", stat(libvirt.DOMAIN_STATS_BLOCK, inactive)},
		{"list all domains", list(0)},
		{"list running domains", list(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)},
		{"node info", func() (int, error) { _, err := conn.GetNodeInfo(); return 1, err }},
	}
	if exporter != "" {
		variants = append(variants, variant{"GET " + exporter, func() (int, error) {
			resp, err := http.Get(exporter)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return 0, err
		}})
	}
	variants = slices.DeleteFunc(variants, func(v variant) bool {
		return !match.MatchString(v.name)
	})
	times := make([][]time.Duration, len(variants))
	counts := make([]int, len(variants))
	// Interleaved rounds, so load from elsewhere hits every variant alike; round 0 warms up.
	for r := 0; r <= n; r++ {
		for i, v := range variants {
			start := time.Now()
			c, err := v.fn()
			if err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			if r > 0 {
				times[i] = append(times[i], time.Since(start))
			}
			counts[i] = c
		}
	}
	fmt.Printf("| libvirt call (median of %d) | domains | ms |\n|---|---|---|\n", n)
	for i, v := range variants {
		fmt.Printf("| %s | %d | %.2f |\n", v.name, counts[i], median(times[i]))
	}
	return nil
}

// scrape runs metrics serve's path n times: the sample (libvirt and decoding), then Gather
// (the collector's series, sorted and checked by the registry), then the text encoding.
func scrape(uri string, n int, cpuprofile, memprofile string) error {
	sampler := &stats.Sampler{
		Open: func(ctx context.Context) (*virt.Conn, error) { return virt.Open(ctx, uri, true) },
		Read: func(ctx context.Context, c *virt.Conn) (model.StatsSample, error) {
			s, err := stats.Sample(ctx, c)
			if err != nil {
				return s, err
			}
			s.Pools, err = c.PoolStats(ctx)
			return s, err
		},
	}
	defer sampler.Close()
	var sampleTime time.Duration
	col := &metrics.Collector{Timeout: 10 * time.Second, Version: "bench", Sample: func(ctx context.Context) (model.StatsSample, error) {
		start := time.Now()
		s, err := sampler.Sample(ctx)
		sampleTime = time.Since(start)
		return s, err
	}}
	reg := metrics.ServerRegistry(col)
	if _, err := reg.Gather(); err != nil { // connects
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if memprofile != "" {
		runtime.MemProfileRate = 4096 // finer than the default; it slows allocation, so not with -cpuprofile alone
	}
	var total, sample, gather, encode []time.Duration
	var series int
	for r := 0; r < n; r++ {
		start := time.Now()
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		gathered := time.Now()
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		series = 0
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				return err
			}
			series += len(mf.GetMetric())
		}
		end := time.Now()
		total = append(total, end.Sub(start))
		sample = append(sample, sampleTime)
		gather = append(gather, gathered.Sub(start)-sampleTime)
		encode = append(encode, end.Sub(gathered))
	}
	if memprofile != "" {
		f, err := os.Create(memprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	fmt.Printf("%d series; median of %d scrapes, ms: total %.2f = libvirt sample %.2f + collection %.2f + encoding %.2f\n",
		series, n, median(total), median(sample), median(gather), median(encode))
	return nil
}
