package metricscmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/metrics"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
)

// hostsConfig: h1 is the test driver's default host (domain "test"), h2 a test driver host of
// its own (domain web01), down a loopback port nothing listens on; the group pair = h1, h2.
func hostsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	h2 := filepath.Join(dir, "h2.xml")
	node := `<node><domain type='test'><name>web01</name><memory>65536</memory><os><type>hvm</type></os></domain></node>`
	if err := os.WriteFile(h2, []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.toml")
	toml := "[hosts.h1]\nuri = \"test:///default\"\n[hosts.h2]\nuri = \"test://" + h2 + "\"\n[hosts.down]\nuri = \"qemu+tcp://127.0.0.1:1/system\"\n[groups]\npair = [\"h1\", \"h2\"]\n"
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkExposition parses text as Prometheus does.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Fatalf("not a valid exposition: %v\n%s", err, text)
	}
}

func TestMetricsHosts(t *testing.T) {
	cfg := hostsConfig(t)
	f, out, stderr := cmdutiltest.NewFactory(t, nil)
	err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--config", cfg, "--host", "all")
	if errs.KindOf(err) != errs.Partial || !strings.Contains(stderr.String(), "host down: ") {
		t.Fatalf("%v (%v), stderr %q", err, errs.KindOf(err), stderr)
	}
	text := out.String()
	checkExposition(t, text)
	for _, want := range []string{
		"\nlibvirt_up{host=\"h1\"} 1\n", "\nlibvirt_up{host=\"h2\"} 1\n", "\nlibvirt_up{host=\"down\"} 0\n",
		"\nlibvirt_domains{host=\"h2\"} 1\n",
		"\nlibvirt_domain_info_state{domain=\"test\",host=\"h1\",uuid=\"6695eb01-f6a4-8304-79aa-97f2502e193f\"} 1\n",
		"\nlibvirt_domain_info_state{domain=\"web01\",host=\"h2\",uuid=\"",
		"\nlibvirt_pool_info_active{host=\"h1\",pool=\"default-pool\"} 1\n",
		"\nhvctl_scrape_duration_seconds{host=\"down\"} ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, text)
		}
	}
	// This machine's own series come once, unlabelled.
	if n := strings.Count(text, "\nhvctl_build_info{"); n != 1 || strings.Contains(text, "hvctl_build_info{host=") {
		t.Errorf("hvctl_build_info %d times:\n%s", n, text)
	}
	// Series of one metric in label order: hosts by name.
	if i, j := strings.Index(text, "libvirt_up{host=\"down\"}"), strings.Index(text, "libvirt_up{host=\"h1\"}"); i < 0 || j < i {
		t.Errorf("libvirt_up series out of order:\n%s", text)
	}

	// --textfile with --strict: a host that does not answer, and nothing is written.
	dir := t.TempDir()
	f, _, _ = cmdutiltest.NewFactory(t, nil)
	err = run(t, f, NewCmdMetrics(f, nil), "metrics", "--config", cfg, "--host", "all", "--strict", "--textfile", dir)
	if errs.KindOf(err) != errs.Unreachable || !strings.Contains(err.Error(), "host down") {
		t.Errorf("--strict: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, metrics.TextfileName)); !os.IsNotExist(err) {
		t.Errorf("--strict wrote the textfile: %v", err)
	}
	f, _, _ = cmdutiltest.NewFactory(t, nil)
	if err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--config", cfg, "--host", "pair", "--textfile", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, metrics.TextfileName))
	if err != nil || !strings.Contains(string(b), "libvirt_up{host=\"h2\"} 1") {
		t.Errorf("textfile: %v\n%s", err, b)
	}
}

// What serve answers each scrape: every host's series with its label, a host that does not
// answer as libvirt_up 0, the others not held up by it.
func TestServeHostsGatherer(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	f.Global.ConfigFile = hostsConfig(t)
	hf := &cmdutil.HostFlags{Hosts: []string{"all"}, Parallel: 8, Timeout: time.Minute}
	g, err := newHostsGatherer(f, hf, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for range 2 { // the connections are kept between scrapes
		var b strings.Builder
		if _, err := metrics.WriteText(&b, g); err != nil {
			t.Fatal(err)
		}
		checkExposition(t, b.String())
		for _, want := range []string{"libvirt_up{host=\"down\"} 0", "libvirt_up{host=\"h1\"} 1", "libvirt_up{host=\"h2\"} 1"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("lacks %s:\n%s", want, b.String())
			}
		}
	}
	check(t, func(f *cmdutil.Factory, r func(context.Context, *ServeOptions) error) *cobra.Command {
		return NewCmdServe(f, r)
	},
		func(o *ServeOptions) string { return strings.Join(o.Hosts.Hosts, ",") }, []flagCase{
			{argv: []string{"serve", "--host", "all"}, want: "all"},
			{argv: []string{"serve", "--host", "all", "--strict"}, err: errs.Usage},
		})
}
