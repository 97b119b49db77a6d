package metricscmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/iso"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/spf13/cobra"
)

// run puts cmd under a root with the global flags and runs argv.
func run(t *testing.T, f *cmdutil.Factory, cmd *cobra.Command, argv ...string) error {
	t.Helper()
	root := &cobra.Command{Use: "hvctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(cmd)
	root.SetArgs(argv)
	return root.ExecuteContext(context.Background())
}

type flagCase struct {
	argv []string
	want string
	err  errs.Kind
}

func check[T any](t *testing.T, build func(*cmdutil.Factory, func(context.Context, *T) error) *cobra.Command, show func(*T) string, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		var got *T
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		err := run(t, f, build(f, func(_ context.Context, o *T) error { got = o; return nil }), tc.argv...)
		switch {
		case tc.err != 0:
			if errs.KindOf(err) != tc.err || got != nil {
				t.Errorf("%v: %v (ran %v), want a %v error", tc.argv, err, got != nil, tc.err)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.argv, err)
		case show(got) != tc.want:
			t.Errorf("%v:\n got %s\nwant %s", tc.argv, show(got), tc.want)
		}
	}
}

func TestNewCmdMetrics(t *testing.T) {
	check(t, NewCmdMetrics, func(o *Options) string { return fmt.Sprintf("textfile=%s timeout=%s", o.Textfile, o.ScrapeTimeout) }, []flagCase{
		{argv: []string{"metrics"}, want: "textfile= timeout=10s"},
		{argv: []string{"metrics", "--textfile", "/d", "--scrape-timeout", "2s"}, want: "textfile=/d timeout=2s"},
		{argv: []string{"metrics", "--scrape-timeout", "0s"}, err: errs.Usage},
	})
}

func TestNewCmdServe(t *testing.T) {
	check(t, func(f *cmdutil.Factory, r func(context.Context, *ServeOptions) error) *cobra.Command {
		return NewCmdServe(f, r)
	},
		func(o *ServeOptions) string { return fmt.Sprintf("listen=%s timeout=%s", o.Listen, o.ScrapeTimeout) }, []flagCase{
			{argv: []string{"serve"}, want: "listen=127.0.0.1:9177 timeout=10s"},
			{argv: []string{"serve", "--listen", "[::1]:0", "--scrape-timeout", "3s"}, want: "listen=[::1]:0 timeout=3s"},
			{argv: []string{"serve", "--listen", "9177"}, err: errs.Usage},
			{argv: []string{"serve", "--listen", "127.0.0.1:99999"}, err: errs.Usage},
			{argv: []string{"serve", "--listen", "127.0.0.1:-1"}, err: errs.Usage},
			{argv: []string{"serve", "--scrape-timeout", "-1s"}, err: errs.Usage},
		})
}

func TestNewCmdPush(t *testing.T) {
	check(t, func(f *cmdutil.Factory, r func(context.Context, *PushOptions) error) *cobra.Command {
		return NewCmdPush(f, r)
	},
		func(o *PushOptions) string { return fmt.Sprintf("url=%s json=%v", o.URL, o.F.Global.JSON) }, []flagCase{
			{argv: []string{"push", "--url", "http://127.0.0.1:8428"}, want: "url=http://127.0.0.1:8428/api/v1/import/prometheus json=false"},
			{argv: []string{"push", "--url", "https://vm/x/import", "--json"}, want: "url=https://vm/x/import json=true"},
			{argv: []string{"push", "--url", "127.0.0.1:8428"}, err: errs.Usage},
			{argv: []string{"push", "--url", "http://127.0.0.1:8428", "-o", "name"}, err: errs.Usage},
		})
}

// TestTextfileOnTestDriver writes the textfile of the test driver's host, with the pools'
// sizes as libvirt gives them and the stores' images with when each was last verified.
func TestTextfileOnTestDriver(t *testing.T) {
	f, _, stderr := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	dir := t.TempDir()
	isos, images := t.TempDir(), t.TempDir()
	for _, im := range []struct {
		dir string
		rec iso.Record
	}{
		{isos, iso.Record{Name: "pulled.iso", SHA256: "x", Verified: true, VerifiedAt: "2026-01-02T03:04:05Z"}},
		{isos, iso.Record{Name: "rehashed.iso", SHA256: "x", Verified: true, VerifiedAt: "2026-01-02T03:04:05Z", CheckedAt: "2026-03-01T00:00:00Z"}},
		{images, iso.Record{Name: "insecure.qcow2", SHA256: "x", Insecure: true}},
	} {
		if err := os.WriteFile(filepath.Join(im.dir, im.rec.Name), []byte("image"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := iso.WriteRecord(im.dir, &im.rec); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[paths]\nisos = %q\nimages = %q\n", isos, images)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--config", cfg, "--textfile", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hvctl.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nlibvirt_up 1\n", "\nlibvirt_domain_info_state{domain=\"test\",uuid=\"6695eb01-f6a4-8304-79aa-97f2502e193f\"} 1\n", "libvirt_domain_info_cpu_time_seconds_total{domain=\"test\"",
		// The test driver's pool: 100 GiB, nothing allocated.
		"\nlibvirt_pool_info_active{pool=\"default-pool\"} 1\n", "\nlibvirt_pool_info_capacity_bytes{pool=\"default-pool\"} 1.073741824e+11\n",
		"\nlibvirt_pool_info_allocation_bytes{pool=\"default-pool\"} 0\n", "\nlibvirt_pool_info_available_bytes{pool=\"default-pool\"} 1.073741824e+11\n",
		// 2026-01-02T03:04:05Z and 2026-03-01T00:00:00Z as Unix times; never verified is 0.
		"\nhvctl_image_last_verified_timestamp_seconds{image=\"pulled.iso\",store=\"isos\"} 1.767323045e+09\n",
		"\nhvctl_image_last_verified_timestamp_seconds{image=\"rehashed.iso\",store=\"isos\"} 1.7723232e+09\n",
		"\nhvctl_image_last_verified_timestamp_seconds{image=\"insecure.qcow2\",store=\"images\"} 0\n",
		"\nhvctl_build_info{goversion=\""} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hvctl.prom lacks %q:\n%s", want, b)
		}
	}
	if !strings.Contains(stderr.String(), "wrote "+filepath.Join(dir, "hvctl.prom")) {
		t.Errorf("stderr: %q", stderr)
	}
}

// TestServeHasNoOverallDeadline: serve runs until interrupted (the default 30 s deadline of
// commands ended it, silently, with exit 0); each scrape has --scrape-timeout instead.
func TestServeHasNoOverallDeadline(t *testing.T) {
	f, _, _ := cmdutiltest.NewFactory(t, nil)
	if d, ok := f.EffectiveTimeout(NewCmdServe(f, nil)); ok {
		t.Errorf("metrics serve has an overall deadline of %s", d)
	}
}

// TestTextfileDirCheckedFirst: a --textfile directory that does not exist is a usage error
// (exit 2) found before libvirt is asked, here one that cannot be reached; it was exit 1 after
// the scrape, naming client_golang's temporary file.
func TestTextfileDirCheckedFirst(t *testing.T) {
	f, stdout, _ := cmdutiltest.NewFactory(t, map[string]string{"HVCTL_URI": "test:///nonexistent/host.xml"})
	missing := filepath.Join(t.TempDir(), "missing")
	err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--textfile", missing)
	if want := "--textfile " + missing + ": no such directory"; errs.KindOf(err) != errs.Usage || err == nil || err.Error() != want {
		t.Errorf("metrics --textfile into a missing directory: %v (%v), want a usage error %q", err, errs.KindOf(err), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout)
	}
}

// TestServeListenErrors: a port in use is one line and a conflict (it was "listen on A: listen
// tcp A: bind: address already in use"); an address this host does not have is a usage error.
func TestServeListenErrors(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, _, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	err = runServe(context.Background(), &ServeOptions{F: f, Listen: ln.Addr().String(), ScrapeTimeout: time.Second})
	if want := "listen on " + ln.Addr().String() + ": the port is in use"; errs.KindOf(err) != errs.Conflict || err == nil || err.Error() != want {
		t.Errorf("serve on a port in use: %v (%v), want a conflict %q", err, errs.KindOf(err), want)
	}
	for _, tc := range []struct {
		err  error
		kind errs.Kind
		want string
	}{
		{&net.OpError{Op: "listen", Net: "tcp4", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}, errs.Usage, "listen on A: this host has no such address"},
		{&net.OpError{Op: "listen", Net: "tcp4", Err: os.NewSyscallError("bind", syscall.EACCES)}, errs.Unreachable, "listen on A: permission denied"},
		{&net.OpError{Op: "listen", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nohost"}}, errs.Usage, "listen on A: cannot resolve nohost"},
	} {
		if err := listenError("A", tc.err); errs.KindOf(err) != tc.kind || err.Error() != tc.want {
			t.Errorf("%v: %v (%v), want %v %q", tc.err, err, errs.KindOf(err), tc.kind, tc.want)
		}
	}
}

// TestServeNonLoopback: --listen 0.0.0.0:PORT listens on IPv4 only (Go's "tcp" took [::] as
// well) and warns that the metrics are open to whoever reaches the host; loopback does not warn.
func TestServeNonLoopback(t *testing.T) {
	for _, tc := range []struct{ addr, network string }{{"0.0.0.0:9177", "tcp4"}, {"[::]:9177", "tcp6"}, {"127.0.0.1:9177", "tcp4"}, {"localhost:9177", "tcp"}, {":9177", "tcp"}} {
		if got := listenNetwork(tc.addr); got != tc.network {
			t.Errorf("listenNetwork(%s) = %s, want %s", tc.addr, got, tc.network)
		}
	}
	for _, tc := range []struct {
		addr string
		warn bool
	}{{"0.0.0.0:0", true}, {"127.0.0.1:0", false}} {
		f, _, stderr := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // serve starts, says where, and stops at once
		if err := runServe(ctx, &ServeOptions{F: f, Listen: tc.addr, ScrapeTimeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(stderr.String(), "warning: 0.0.0.0:"); got != tc.warn || !strings.Contains(stderr.String(), "serving http://") {
			t.Errorf("serve --listen %s: stderr %q, want a warning: %v", tc.addr, stderr, tc.warn)
		}
	}
}

// TestMetricsSaysWhyLibvirtIsDown: a scrape that gets nothing from libvirt still writes
// libvirt_up 0 and exits 0, and says why on stderr (it was silent: a typo in -c looked like a
// host without VMs).
func TestMetricsSaysWhyLibvirtIsDown(t *testing.T) {
	f, stdout, stderr := cmdutiltest.NewFactory(t, map[string]string{"HVCTL_URI": "test:///nonexistent/host.xml"})
	if err := run(t, f, NewCmdMetrics(f, nil), "metrics"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\nlibvirt_up 0\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if want := "hvctl: warning: no statistics from libvirt, so libvirt_up is 0: cannot connect to test:///nonexistent/host.xml"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q, want it to start with %q", stderr, want)
	}
}

// TestMetricsTimeoutBoundsTheScrape: --timeout bounds hvctl metrics, its scrape included. The
// scrape ran on a context of its own with --scrape-timeout alone, so a --timeout that had
// already passed still got a full scrape (and a stuck libvirt held the command 10 s for
// --timeout 2s). Past the deadline, the scrape is one libvirt did not answer in time.
func TestMetricsTimeoutBoundsTheScrape(t *testing.T) {
	f, stdout, stderr := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	root := &cobra.Command{Use: "hvctl", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().AddFlagSet(f.Global.Flags)
	root.AddCommand(NewCmdMetrics(f, nil))
	root.SetArgs([]string{"metrics"})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\nlibvirt_up 0\n") || strings.Contains(stdout.String(), "libvirt_domain_info_state") {
		t.Errorf("a scrape past the command's deadline:\n%s", stdout)
	}
	if !strings.Contains(stderr.String(), "libvirt_up is 0") {
		t.Errorf("stderr %q", stderr)
	}
	if d := scrapeBudget(context.Background(), 10*time.Second); d != 10*time.Second {
		t.Errorf("no deadline: %s, want --scrape-timeout", d)
	}
}

// --json prints the scrape's series as {name, type, labels, value}, the same series and values
// as the text format; it refuses -o name and --textfile (which writes the text format), and
// writes nothing then.
func TestMetricsJSON(t *testing.T) {
	f, stdout, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	if err := run(t, f, NewCmdMetrics(f, nil), "metrics", "--json"); err != nil {
		t.Fatal(err)
	}
	var samples []model.MetricSample
	if err := json.Unmarshal(stdout.Bytes(), &samples); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	want := map[string]model.MetricSample{
		"libvirt_up":                       {Name: "libvirt_up", Type: "gauge", Labels: map[string]string{}, Value: 1},
		"libvirt_domain_info_state":        {Name: "libvirt_domain_info_state", Type: "gauge", Labels: map[string]string{"domain": "test", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f"}, Value: 1},
		"libvirt_pool_info_capacity_bytes": {Name: "libvirt_pool_info_capacity_bytes", Type: "gauge", Labels: map[string]string{"pool": "default-pool"}, Value: 107374182400},
	}
	var counters int
	for _, s := range samples {
		if w, ok := want[s.Name]; ok {
			if !reflect.DeepEqual(s, w) {
				t.Errorf("%s: %+v, want %+v", s.Name, s, w)
			}
			delete(want, s.Name)
		}
		if s.Name == "libvirt_domain_info_cpu_time_seconds_total" && s.Type == "counter" && s.Value > 0 {
			counters++
		}
	}
	if len(want) > 0 || counters != 1 {
		t.Errorf("missing %v, cpu counters %d, in %s", want, counters, stdout)
	}
	for _, argv := range [][]string{{"metrics", "-o", "name"}, {"metrics", "--json", "--textfile", t.TempDir()}} {
		f, stdout, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		if err := run(t, f, NewCmdMetrics(f, nil), argv...); errs.KindOf(err) != errs.Usage || stdout.Len() > 0 {
			t.Errorf("%v: %v, stdout %q", argv, err, stdout)
		}
	}
}
