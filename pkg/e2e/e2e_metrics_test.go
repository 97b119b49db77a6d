package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// metricValue finds one series' value in an exposition; ok is false when it is absent.
func metricValue(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// stopQEMU SIGSTOPs a running guest's QEMU; the returned function (also run at cleanup, so a
// failed test never leaves it stopped) sends SIGCONT.
func stopQEMU(t *testing.T, vm string) (cont func()) {
	t.Helper()
	b, err := os.ReadFile("/run/libvirt/qemu/" + vm + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	cont = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(cont)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return cont
}

// checkHungReported: the scrape has libvirt up, e2e-1 timed out with its disk counters absent
// (not 0) and its disk still listed, and the shut-off guests not timed out.
func checkHungReported(t *testing.T, what, out string) {
	t.Helper()
	if v, ok := metricValue(out, "libvirt_up"); !ok || v != 1 {
		t.Errorf("%s: libvirt_up %v (present %v), want 1: a hung domain is no reason to give up the host", what, v, ok)
	}
	if v, ok := metricValue(out, `libvirt_domain_timed_out{domain="e2e-1",uuid="`+uuidOf(t, out, "e2e-1")+`"}`); !ok || v != 1 {
		t.Errorf("%s: e2e-1 with its QEMU stopped: libvirt_domain_timed_out %v (present %v), want 1", what, v, ok)
	}
	if !regexp.MustCompile(`\nlibvirt_domain_timed_out\{domain="e2e-2",uuid="[^"]+"\} 0\n`).MatchString(out) {
		t.Errorf("%s: the shut-off e2e-2 is not reported with libvirt_domain_timed_out 0", what)
	}
	// libvirt 9.0 gives a shut-off domain the daemon's own CPU time when asked for its cpu group.
	if strings.Contains(out, `libvirt_domain_info_cpu_time_seconds_total{domain="e2e-2"`) {
		t.Errorf("%s: the shut-off e2e-2 has a CPU time series", what)
	}
	if strings.Contains(out, `libvirt_domain_block_stats_read_bytes_total{domain="e2e-1"`) {
		t.Errorf("%s: a hung domain's disk counters are exported (as zeros, a false reset)", what)
	}
	if !strings.Contains(out, `libvirt_domain_block_stats_info{domain="e2e-1"`) || !strings.Contains(out, `libvirt_domain_info_cpu_time_seconds_total{domain="e2e-1"`) {
		t.Errorf("%s: what libvirt knows without QEMU (disks, CPU time) is missing for e2e-1", what)
	}
}

var uuidRE = regexp.MustCompile(`libvirt_domain_info_state\{domain="([^"]+)",uuid="([^"]+)"\}`)

func uuidOf(t *testing.T, out, vm string) string {
	t.Helper()
	for _, m := range uuidRE.FindAllStringSubmatch(out, -1) {
		if m[1] == vm {
			return m[2]
		}
	}
	t.Fatalf("%s not in the exposition", vm)
	return ""
}

// startServe runs `hvctl metrics serve` and returns its address and process.
func (e *env) startServe(timeout string) (string, *exec.Cmd) {
	t := e.t
	addr := freePort(t)
	cmd := exec.Command(filepath.Join(e.bin, "hvctl"), "metrics", "serve", "--listen", addr, "--scrape-timeout", timeout)
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("metrics serve output:\n%s", out)
		}
	})
	poll(t, "metrics serve /healthz", 10*time.Second, func() (bool, string) {
		b, err := httpGet("http://" + addr + "/healthz")
		return err == nil, fmt.Sprint(b, err)
	})
	return addr, cmd
}

// scrapeTimed scrapes serve once and says how long it took.
func scrapeTimed(t *testing.T, addr string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, out)
	}
	return out, time.Since(start)
}

// TestMetricsHungDomain stops a running guest's QEMU (SIGSTOP; SIGCONT at cleanup whatever
// happens). libvirt's call that first asks that QEMU's monitor never returns; every way of
// scraping must still answer by its deadline, for every domain, with the hung one marked
// libvirt_domain_timed_out 1 (or timed_out in vmctl stats) instead of missing or all-zero. Each
// mode is checked on a fresh stop, so each meets the never-returning call itself.
func TestMetricsHungDomain(t *testing.T) {
	e := setup(t)
	e.act("started", "start", "e2e-1")
	t.Cleanup(func() { e.run("vmctl", "kill", "e2e-1") })
	const timeout = 4 * time.Second
	slack := 2 * time.Second
	addr, _ := e.startServe(timeout.String())
	poll(t, "a scrape with e2e-1 answering", 60*time.Second, func() (bool, string) {
		out, _ := httpGet("http://" + addr + "/metrics")
		return strings.Contains(out, `libvirt_domain_block_stats_read_bytes_total{domain="e2e-1"`), out
	})
	base, _ := httpGet("http://" + addr + "/metrics")
	if v, _ := metricValue(base, `libvirt_domain_timed_out{domain="e2e-1",uuid="`+uuidOf(t, base, "e2e-1")+`"}`); v != 0 {
		t.Fatalf("e2e-1 timed out while running normally:\n%s", base)
	}
	goroutines, _ := metricValue(base, "go_goroutines")
	fds, _ := metricValue(base, "process_open_fds")
	// The test pool's size as libvirt itself gives it (capacity is the filesystem's and does
	// not move; allocation does, on a shared machine, so within 1%).
	pool, err := e.conn.LookupStoragePoolByName(poolName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := pool.GetInfo()
	_ = pool.Free()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := metricValue(base, `libvirt_pool_info_capacity_bytes{pool="`+poolName+`"}`); v != float64(info.Capacity) {
		t.Errorf("libvirt_pool_info_capacity_bytes %v, libvirt says %d", v, info.Capacity)
	}
	if v, _ := metricValue(base, `libvirt_pool_info_allocation_bytes{pool="`+poolName+`"}`); v < 0.99*float64(info.Allocation) || v > 1.01*float64(info.Allocation) {
		t.Errorf("libvirt_pool_info_allocation_bytes %v, libvirt says %d", v, info.Allocation)
	}

	// serve: the first scrape meets the stuck call and still answers by its deadline; the
	// next 20 find the domain's job held and answer at once, leaving nothing more behind.
	cont := stopQEMU(t, "e2e-1")
	out, took := scrapeTimed(t, addr)
	t.Logf("serve, first scrape with QEMU stopped: %s", took.Round(time.Millisecond))
	if took > timeout+slack {
		t.Errorf("serve: the first scrape with QEMU stopped took %s (--scrape-timeout %s)", took, timeout)
	}
	checkHungReported(t, "serve", out)
	for i := 0; i < 20; i++ {
		out, took = scrapeTimed(t, addr)
		if took > timeout/2 {
			t.Errorf("serve: scrape %d with QEMU still stopped took %s", i+2, took)
		}
	}
	checkHungReported(t, "serve, 21st scrape", out)
	if g, _ := metricValue(out, "go_goroutines"); g > goroutines+6 {
		t.Errorf("serve: 21 scrapes of a hung domain: %v goroutines, %v before", g, goroutines)
	}
	if f, _ := metricValue(out, "process_open_fds"); f > fds+2 {
		t.Errorf("serve: 21 scrapes of a hung domain: %v open descriptors, %v before", f, fds)
	}
	cont()
	// The stuck call returns once QEMU runs again: the domain answers again.
	poll(t, "e2e-1 answers again after SIGCONT", 30*time.Second, func() (bool, string) {
		out, _ := httpGet("http://" + addr + "/metrics")
		return strings.Contains(out, `libvirt_domain_block_stats_read_bytes_total{domain="e2e-1"`), out
	})

	// textfile, then push, then vmctl stats, each with the QEMU stopped afresh.
	textDir := t.TempDir()
	cont = stopQEMU(t, "e2e-1")
	start := time.Now()
	_, errOut, code := e.run("hvctl", "metrics", "--textfile", textDir, "--scrape-timeout", timeout.String())
	if took := time.Since(start); code != 0 || took > timeout+slack {
		t.Errorf("metrics --textfile with QEMU stopped: exit %d in %s\n%s", code, took, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(textDir, "hvctl.prom"))
	checkHungReported(t, "textfile", string(b))
	cont()

	var pushed string
	vm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		pushed = string(body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer vm.Close()
	waitAnswering(t, e)
	cont = stopQEMU(t, "e2e-1")
	start = time.Now()
	_, errOut, code = e.run("hvctl", "metrics", "push", "--url", vm.URL, "--scrape-timeout", timeout.String())
	if took := time.Since(start); code != 0 || took > timeout+slack {
		t.Errorf("metrics push with QEMU stopped: exit %d in %s\n%s", code, took, errOut)
	}
	checkHungReported(t, "push", "\n"+pushed)
	cont()

	waitAnswering(t, e)
	cont = stopQEMU(t, "e2e-1")
	start = time.Now()
	statsOut, errOut, code := e.run("vmctl", "stats", "e2e-*", "--json", "--interval", "500ms", "--timeout", timeout.String())
	if took := time.Since(start); code != 0 || took > 2*timeout+slack {
		t.Errorf("vmctl stats with QEMU stopped: exit %d in %s (two samples, %s each)\n%s", code, took, timeout, errOut)
	}
	var rep struct {
		VMs []struct {
			Name     string `json:"name"`
			TimedOut bool   `json:"timed_out"`
			Disks    []struct {
				CountersMissing bool `json:"counters_missing"`
			} `json:"disks"`
		} `json:"vms"`
	}
	if err := json.Unmarshal([]byte(statsOut), &rep); err != nil {
		t.Fatalf("vmctl stats --json: %v\n%s", err, statsOut)
	}
	for _, v := range rep.VMs {
		want := v.Name == "e2e-1"
		if v.TimedOut != want || (want && (len(v.Disks) == 0 || !v.Disks[0].CountersMissing)) {
			t.Errorf("vmctl stats: %s timed_out %v, disks %+v; want timed out only for the stopped e2e-1", v.Name, v.TimedOut, v.Disks)
		}
	}
	if !strings.Contains(errOut, "VM e2e-1 did not answer in time") {
		t.Errorf("vmctl stats says nothing of the hung VM on stderr: %q", errOut)
	}
	cont()

	// metrics record (a timer's job) samples as stats does: by half of --timeout it has
	// recorded the others and left the hung VM out, saying so, rather than failing the record.
	state := t.TempDir()
	e.env = append(e.env, "HVCTL_PATHS_STATE="+state)
	waitAnswering(t, e)
	cont = stopQEMU(t, "e2e-1")
	start = time.Now()
	recOut, errOut, code := e.run("hvctl", "metrics", "record", "--json", "--timeout", timeout.String())
	if took := time.Since(start); code != 0 || took > timeout+slack {
		t.Errorf("metrics record with QEMU stopped: exit %d in %s\n%s", code, took, errOut)
	}
	var rec struct {
		TimedOut []string `json:"timed_out"`
	}
	if err := json.Unmarshal([]byte(recOut), &rec); err != nil || len(rec.TimedOut) != 1 || rec.TimedOut[0] != "e2e-1" {
		t.Errorf("metrics record --json: timed_out %q (%v); want [e2e-1]\n%s", rec.TimedOut, err, recOut)
	}
	if !strings.Contains(errOut, "VM e2e-1 did not answer in time") {
		t.Errorf("metrics record says nothing of the hung VM on stderr: %q", errOut)
	}
	cont()
	waitAnswering(t, e)
}

// waitAnswering waits until e2e-1's QEMU answers libvirt again (the call a previous stop left
// waiting has returned and released the domain's job).
func waitAnswering(t *testing.T, e *env) {
	t.Helper()
	poll(t, "e2e-1 answers again", 30*time.Second, func() (bool, string) {
		out, _, _ := e.run("hvctl", "metrics", "--scrape-timeout", "3s")
		return strings.Contains(out, `libvirt_domain_block_stats_read_bytes_total{domain="e2e-1"`), ""
	})
}

// TestMetricsServeFrozenDaemon freezes libvirtd itself (SIGSTOP; SIGCONT at cleanup) under a
// running `metrics serve`: 50 scrapes time out (libvirt_up 0, each by its deadline), and what
// they leave behind is bounded — one connection's stuck calls and one connect, not 50 — and
// serve answers again once the daemon does, with its goroutines and descriptors back near
// where they were.
func TestMetricsServeFrozenDaemon(t *testing.T) {
	e := setup(t)
	const timeout = 300 * time.Millisecond
	addr, serve := e.startServe(timeout.String())
	base, _ := scrapeTimed(t, addr)
	if v, _ := metricValue(base, "libvirt_up"); v != 1 {
		t.Fatalf("serve before the freeze:\n%s", base)
	}
	goroutines, _ := metricValue(base, "go_goroutines")
	fds, _ := metricValue(base, "process_open_fds")
	fdLinks := func() (links []string, sockets int) {
		dir := fmt.Sprintf("/proc/%d/fd", serve.Process.Pid)
		ents, _ := os.ReadDir(dir)
		for _, d := range ents {
			if l, err := os.Readlink(filepath.Join(dir, d.Name())); err == nil {
				links = append(links, l)
				if strings.HasPrefix(l, "socket:") {
					sockets++
				}
			}
		}
		return links, sockets
	}
	sockets := func() int { _, n := fdLinks(); return n }
	socketsBefore := sockets()

	thaw := freeze(t)
	var worst time.Duration
	var at10 [3]float64
	var out string
	for i := 0; i < 50; i++ {
		var took time.Duration
		out, took = scrapeTimed(t, addr)
		worst = max(worst, took)
		if v, _ := metricValue(out, "libvirt_up"); v != 0 {
			t.Fatalf("scrape %d with libvirtd frozen: libvirt_up %v", i+1, v)
		}
		if i == 9 {
			g, _ := metricValue(out, "go_goroutines")
			f, _ := metricValue(out, "process_open_fds")
			at10 = [3]float64{g, f, float64(sockets())}
		}
	}
	if worst > timeout+time.Second {
		t.Errorf("the slowest of 50 scrapes with libvirtd frozen took %s (--scrape-timeout %s)", worst, timeout)
	}
	g, _ := metricValue(out, "go_goroutines")
	f, _ := metricValue(out, "process_open_fds")
	during := sockets()
	t.Logf("before: %v goroutines, %v fds, %d sockets; after 10 timed-out scrapes: %v; after 50: %v, %v, %d", goroutines, fds, socketsBefore, at10, g, f, during)
	// Bounded: the 40 scrapes after the 10th add nothing (they wait for the one connect), and
	// what there is is one retired connection with its stuck call and one connect in flight.
	if g > at10[0]+2 || f > at10[1]+1 || float64(during) > at10[2] {
		t.Errorf("scrapes 11-50 added goroutines/descriptors/sockets: %v → %v, %v → %v, %v → %d", at10[0], g, at10[1], f, at10[2], during)
	}
	if g > goroutines+12 || f > fds+8 || during > socketsBefore+2 {
		t.Errorf("50 timed-out scrapes left %v goroutines (%v before), %v descriptors (%v before), %d sockets (%d before)",
			g, goroutines, f, fds, during, socketsBefore)
	}
	thaw()
	poll(t, "serve answers again after the daemon does", 60*time.Second, func() (bool, string) {
		out, _ := httpGet("http://" + addr + "/metrics")
		v, _ := metricValue(out, "libvirt_up")
		return v == 1, out
	})
	// The stuck call returns once the daemon runs again, and its connection is closed then.
	poll(t, "what the timed-out scrapes left is released", 30*time.Second, func() (bool, string) {
		out, _ := httpGet("http://" + addr + "/metrics")
		g, _ := metricValue(out, "go_goroutines")
		links, n := fdLinks()
		return g <= goroutines+3 && n <= socketsBefore,
			fmt.Sprintf("%v goroutines (%v before), %d sockets (%d before); descriptors %v", g, goroutines, n, socketsBefore, links)
	})
}
