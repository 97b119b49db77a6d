package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func u64(v uint64) *uint64 { return &v }

// fixedSample is a host with a running VM (a disk, a NIC, two vCPUs, guest memory stats) and a
// shut-off one.
func fixedSample(context.Context) (model.StatsSample, error) {
	return model.StatsSample{Time: time.Now(), HostCPUs: 4, HostMemoryBytes: 8 << 30, VMs: []model.VMStats{
		{Name: "web", UUID: "u-web", State: "running", VCPUs: 2, MaxVCPUs: 4, CPUTimeNanoseconds: u64(12_500_000_000),
			MemoryBytes: 1 << 30, MaxMemoryBytes: 2 << 30, MemoryRSSBytes: u64(300 << 20), MemoryUsableBytes: u64(700 << 20), MemoryAvailableBytes: u64(1000 << 20),
			VCPU:  []model.VCPUStats{{Index: 0, State: "running", StateCode: 1, TimeNanoseconds: 4e9, WaitNanoseconds: u64(1e9)}, {Index: 1, State: "running", StateCode: 1, TimeNanoseconds: 5e9}},
			Disks: []model.DiskStats{{Name: "vda", Path: "/img/web.qcow2", ReadBytes: 4096, ReadRequests: 2, WriteBytes: 8192, WriteRequests: 3, CapacityBytes: 1 << 30}},
			NICs:  []model.NICStats{{Name: "vnet0", RxBytes: 1500, RxPackets: 3, TxBytes: 700, TxPackets: 2}}},
		{Name: "db", UUID: "u-db", State: "shut_off", VCPUs: 1, MaxVCPUs: 1, MaxMemoryBytes: 1 << 30},
		{Name: "hung", UUID: "u-hung", State: "running", VCPUs: 1, MaxVCPUs: 1, CPUTimeNanoseconds: u64(2e9), MemoryBytes: 1 << 28, MaxMemoryBytes: 1 << 28, TimedOut: true,
			Disks: []model.DiskStats{{Name: "vda", Path: "/img/hung.qcow2", CountersMissing: true}}},
	}, Pools: []model.PoolStats{{Name: "images", Active: true, CapacityBytes: 100 << 30, AllocationBytes: 40 << 30, AvailableBytes: 60 << 30}, {Name: "old"}}}, nil
}

func scrape(t *testing.T, c *Collector) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := WriteText(&b, Registry(c)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExposition pins the names, labels and values dashboards rely on.
func TestExposition(t *testing.T) {
	out := scrape(t, &Collector{Sample: fixedSample, Version: "1.2.3", Commit: "abc"})
	for _, line := range []string{
		`libvirt_up 1`,
		`libvirt_domains 3`,
		`libvirt_domain_timed_out{domain="web",uuid="u-web"} 0`,
		`libvirt_domain_timed_out{domain="db",uuid="u-db"} 0`,
		`libvirt_domain_timed_out{domain="hung",uuid="u-hung"} 1`,
		`libvirt_domain_info_cpu_time_seconds_total{domain="hung",uuid="u-hung"} 2`,
		`libvirt_domain_block_stats_info{domain="hung",source_file="/img/hung.qcow2",target_device="vda",uuid="u-hung"} 1`,
		`hvctl_build_info{goversion="` + runtime.Version() + `",revision="abc",version="1.2.3"} 1`,
		`libvirt_domain_info_state{domain="web",uuid="u-web"} 1`,
		`libvirt_domain_info_state{domain="db",uuid="u-db"} 5`,
		`libvirt_domain_info_cpu_time_seconds_total{domain="web",uuid="u-web"} 12.5`,
		`libvirt_domain_info_virtual_cpus{domain="web",uuid="u-web"} 2`,
		`libvirt_domain_info_maximum_memory_bytes{domain="web",uuid="u-web"} 2.147483648e+09`,
		`libvirt_domain_info_memory_usage_bytes{domain="web",uuid="u-web"} 1.073741824e+09`,
		`libvirt_domain_vcpu_maximum{domain="web",uuid="u-web"} 4`,
		`libvirt_domain_vcpu_time_seconds_total{domain="web",uuid="u-web",vcpu="1"} 5`,
		`libvirt_domain_vcpu_wait_seconds_total{domain="web",uuid="u-web",vcpu="0"} 1`,
		`libvirt_domain_memory_stats_rss_bytes{domain="web",uuid="u-web"} 3.145728e+08`,
		`libvirt_domain_memory_stats_usable_bytes{domain="web",uuid="u-web"} 7.340032e+08`,
		`libvirt_domain_block_stats_info{domain="web",source_file="/img/web.qcow2",target_device="vda",uuid="u-web"} 1`,
		`libvirt_domain_block_stats_read_bytes_total{domain="web",target_device="vda",uuid="u-web"} 4096`,
		`libvirt_domain_block_stats_write_requests_total{domain="web",target_device="vda",uuid="u-web"} 3`,
		`libvirt_domain_block_stats_capacity_bytes{domain="web",target_device="vda",uuid="u-web"} 1.073741824e+09`,
		`libvirt_domain_interface_stats_receive_bytes_total{domain="web",target_device="vnet0",uuid="u-web"} 1500`,
		`libvirt_domain_interface_stats_transmit_packets_total{domain="web",target_device="vnet0",uuid="u-web"} 2`,
		`libvirt_pool_info_active{pool="images"} 1`,
		`libvirt_pool_info_active{pool="old"} 0`,
		`libvirt_pool_info_capacity_bytes{pool="images"} 1.073741824e+11`,
		`libvirt_pool_info_available_bytes{pool="images"} 6.442450944e+10`,
	} {
		if !strings.Contains(out, "\n"+line+"\n") {
			t.Errorf("missing %s", line)
		}
	}
	// Live counters of a shut-off VM would be lies; a guest value not reported is absent, not 0.
	// A timed-out domain's missing disk counters are absent, not 0 (which reads as a reset).
	for _, absent := range []string{`_total{domain="hung",target_device="vda"`, `libvirt_domain_block_stats_capacity_bytes{domain="hung"`, `libvirt_domain_vcpu_current{domain="db"`, `libvirt_domain_memory_stats_unused_bytes`, `vcpu="1"} 0`, `libvirt_pool_info_capacity_bytes{pool="old"}`} {
		if strings.Contains(out, absent) {
			t.Errorf("unexpected %s", absent)
		}
	}
	// Value series carry only domain, uuid and a device; descriptive labels are on _info series.
	labelSet := regexp.MustCompile(`^(\w+)\{(.*)\} `)
	for _, line := range strings.Split(out, "\n") {
		m := labelSet.FindStringSubmatch(line)
		if m == nil || strings.HasSuffix(m[1], "_info") {
			continue
		}
		for _, kv := range strings.Split(m[2], ",") {
			switch k, _, _ := strings.Cut(kv, "="); k {
			case "domain", "uuid", "target_device", "vcpu", "pool":
			default:
				t.Errorf("value series %s has label %s", m[1], k)
			}
		}
	}
	promtool(t, out)
}

// promtool validates the exposition with Prometheus's own linter. CI installs it (the
// prometheus package); when HVCTL_E2E=1 says this is CI, a missing promtool fails the test.
func promtool(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("HVCTL_E2E") == "1" {
			t.Fatalf("promtool not found (scripts/setup-host.sh installs the prometheus package): %v", err)
		}
		t.Skip("promtool not installed; CI (HVCTL_E2E=1) runs this check")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestScrapeDeadline: a libvirt that does not answer costs a scrape its deadline, not more, and
// is reported as libvirt_up 0.
func TestScrapeDeadline(t *testing.T) {
	hung := func(ctx context.Context) (model.StatsSample, error) {
		<-ctx.Done()
		return model.StatsSample{}, ctx.Err()
	}
	start := time.Now()
	out := scrape(t, &Collector{Sample: hung, Timeout: 200 * time.Millisecond})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("scrape took %s with a 200ms deadline", d)
	}
	if !strings.Contains(out, "\nlibvirt_up 0\n") || strings.Contains(out, "libvirt_domain_") {
		t.Errorf("hung libvirt:\n%s", out)
	}
}

func TestTextfileIsAtomicAndReadable(t *testing.T) {
	dir := t.TempDir()
	path, err := WriteTextfile(dir, Registry(&Collector{Sample: fixedSample}))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "hvctl.prom" || path != filepath.Join(dir, "hvctl.prom") {
		t.Fatalf("textfile dir holds %v, want hvctl.prom alone (no temporary file left)", entries)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("hvctl.prom mode %v: node_exporter runs as another user and must read it", st.Mode())
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte("\nlibvirt_up 1\n")) {
		t.Errorf("hvctl.prom:\n%s", b)
	}
	if _, err := WriteTextfile(filepath.Join(dir, "missing"), Registry(&Collector{Sample: fixedSample})); err == nil {
		t.Errorf("writing into a missing directory succeeded")
	}

	// Nothing is in the directory while the scrape runs (it may take the whole
	// --scrape-timeout): client_golang's temporary hvctl.promNNNN was there already, and a
	// recorder killed then left it behind for good.
	var during []string
	watching := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			during = append(during, e.Name())
		}
		return Registry(&Collector{Sample: fixedSample}).Gather()
	})
	if _, err := WriteTextfile(dir, watching); err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || during[0] != TextfileName {
		t.Errorf("during the scrape the directory held %v, want the last hvctl.prom alone", during)
	}
}

func TestServeAndPush(t *testing.T) {
	reg := Registry(&Collector{Sample: fixedSample})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, reg) }()
	get := func(path string) string {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if h := get("/healthz"); h != "ok\n" {
		t.Errorf("/healthz: %q", h)
	}
	if m := get("/metrics"); !strings.Contains(m, "libvirt_domain_info_state{domain=\"web\",uuid=\"u-web\"} 1") {
		t.Errorf("/metrics:\n%s", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}

	var gotPath, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	target, err := PushURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Push(context.Background(), srv.Client(), target, reg)
	if err != nil || gotPath != ImportPath || !strings.Contains(gotBody, "libvirt_up 1") || n < 20 {
		t.Errorf("push: %d series, %v, path %q", n, err, gotPath)
	}
	for _, bad := range []string{"", "127.0.0.1:8428", "ftp://x/", "http://"} {
		if _, err := PushURL(bad); err == nil {
			t.Errorf("PushURL(%q) accepted", bad)
		}
	}
	if u, _ := PushURL("http://vm:8428/custom/path"); u != "http://vm:8428/custom/path" {
		t.Errorf("a URL with a path is used as given: %s", u)
	}
}

// TestLabelValueNotUTF8: an image whose file name is not UTF-8 is exported with U+FFFD for the
// bad byte; it used to panic the scrape (client_golang's MustNewConstMetric), which took
// `metrics serve` down with it.
func TestLabelValueNotUTF8(t *testing.T) {
	c := &Collector{Sample: fixedSample, Images: func() []Image { return []Image{{Store: "isos", Name: "a\xffb.iso"}} }}
	out := scrape(t, c)
	if !strings.Contains(out, `hvctl_image_last_verified_timestamp_seconds{image="a`+"\uFFFD"+`b.iso",store="isos"} 0`) || !strings.Contains(out, "\nlibvirt_up 1\n") {
		t.Errorf("scrape with a non-UTF-8 image name:\n%s", out)
	}
}

// TestServerRegistryMerges: the exporter's own go_*/process_* families join the collector's
// in name order, each once.
func TestServerRegistryMerges(t *testing.T) {
	mfs, err := ServerRegistry(&Collector{Sample: fixedSample}).Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted or repeated: %v", names)
	}
	for _, want := range []string{"go_goroutines", "libvirt_up", "libvirt_domain_info_state"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s in %v", want, names)
		}
	}
}

// TestPushErrors: a server that does not answer within the deadline is a timeout (exit 5, it
// was exit 1), and a refused connection or a failing server is one line naming the target once,
// without net/http's repeated method and URL.
func TestPushErrors(t *testing.T) {
	reg := Registry(&Collector{Sample: fixedSample})
	hang := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	defer hung.Close()
	defer close(hang)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := Push(ctx, hung.Client(), hung.URL+ImportPath, reg)
	if errs.KindOf(err) != errs.Timeout {
		t.Errorf("push to a server that does not answer: %v (%v), want a timeout", err, errs.KindOf(err))
	}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := Push(context.Background(), client, hung.URL+ImportPath, reg); errs.KindOf(err) != errs.Timeout {
		t.Errorf("push past the client's timeout: %v (%v), want a timeout", err, errs.KindOf(err))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + ImportPath
	ln.Close()
	_, err = Push(context.Background(), http.DefaultClient, refused, reg)
	if want := "push to " + refused + ": connection refused"; err == nil || err.Error() != want {
		t.Errorf("push to a closed port: %v, want %q", err, want)
	}

	// A password in the URL is sent, never shown: push runs from timers, whose stderr is logged.
	withPassword := strings.Replace(refused, "http://", "http://vm:s3cret@", 1)
	_, err = Push(context.Background(), http.DefaultClient, withPassword, reg)
	if want := "push to " + strings.Replace(refused, "http://", "http://vm:xxxxx@", 1) + ": connection refused"; err == nil || err.Error() != want {
		t.Errorf("push with a password: %v, want %q", err, want)
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "cannot parse line 3\nstack:\n"+strings.Repeat("x", 1000))
	}))
	defer failing.Close()
	_, err = Push(context.Background(), failing.Client(), failing.URL+ImportPath, reg)
	if want := "push to " + failing.URL + ImportPath + ": 500 Internal Server Error: cannot parse line 3"; err == nil || err.Error() != want {
		t.Errorf("push to a failing server: %v, want %q", err, want)
	}

	// A redirect is not followed: net/http re-sent the POST as a GET on 301/302/303, a login
	// page or an http-to-https proxy answered it with 200, and the push said its series were
	// sent when nothing had been imported. On 307/308 it re-sent the body, ten times over.
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect} {
		var posts, gets int
		redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets++
				_, _ = io.WriteString(w, "<html>sign in</html>")
				return
			}
			posts++
			http.Redirect(w, r, "/login", code)
		}))
		_, err = Push(context.Background(), redirecting.Client(), redirecting.URL+ImportPath, reg)
		redirecting.Close()
		want := fmt.Sprintf("push to %s%s: %d %s: redirected, so not imported (push does not follow redirects)", redirecting.URL, ImportPath, code, http.StatusText(code))
		if errs.KindOf(err) != errs.Failure || err == nil || err.Error() != want || errs.HintOf(err) != "give --url "+redirecting.URL+"/login, where it redirects to" || posts != 1 || gets != 0 {
			t.Errorf("push answered %d: %v (hint %q), %d POSTs and %d GETs; want %q, one POST", code, err, errs.HintOf(err), posts, gets, want)
		}
	}
}

// TestTextfileErrors: a --textfile that is missing or no directory is a usage error naming the
// flag; a directory that may not be written is exit 7 and names hvctl.prom, not the temporary
// file client_golang opened beside it.
func TestTextfileErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	taken := t.TempDir()
	if err := os.Mkdir(filepath.Join(taken, TextfileName), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(dir, "missing"), "--textfile " + filepath.Join(dir, "missing") + ": no such directory"},
		{file, "--textfile " + file + ": not a directory (hvctl writes hvctl.prom in it)"},
		{taken, "--textfile " + taken + ": hvctl.prom is a directory"},
	} {
		err := CheckTextfileDir(tc.dir)
		if errs.KindOf(err) != errs.Usage || err.Error() != tc.want {
			t.Errorf("CheckTextfileDir(%s): %v (%v), want a usage error %q", tc.dir, err, errs.KindOf(err), tc.want)
		}
	}
	if err := CheckTextfileDir(dir); err != nil {
		t.Errorf("CheckTextfileDir of a directory: %v", err)
	}

	path := filepath.Join(dir, TextfileName)
	for _, tc := range []struct {
		errno syscall.Errno
		kind  errs.Kind
	}{{syscall.EROFS, errs.Unreachable}, {syscall.EACCES, errs.Unreachable}, {syscall.ENOSPC, errs.Failure}} {
		err := textfileError(path, &os.PathError{Op: "open", Path: path + "12345", Err: tc.errno})
		if want := "write " + path + ": " + tc.errno.Error(); errs.KindOf(err) != tc.kind || err.Error() != want {
			t.Errorf("%v: %v (%v), want %v %q", tc.errno, err, errs.KindOf(err), tc.kind, want)
		}
	}
}
