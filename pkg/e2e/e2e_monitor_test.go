package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// statsReport is the part of `vmctl stats --json` the monitoring tests read.
type statsReport struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	HostCPUs        int     `json:"host_cpus"`
	VMs             []struct {
		Name               string  `json:"name"`
		State              string  `json:"state"`
		VCPUs              int     `json:"vcpus"`
		CPUTimeNanoseconds *uint64 `json:"cpu_time_nanoseconds"`
		MemoryBytes        uint64  `json:"memory_bytes"`
		Disks              []struct {
			Name      string `json:"name"`
			ReadBytes uint64 `json:"read_bytes"`
		} `json:"disks"`
		NICs []struct {
			Name      string `json:"name"`
			RxBytes   uint64 `json:"rx_bytes"`
			TxBytes   uint64 `json:"tx_bytes"`
			TxPackets uint64 `json:"tx_packets"`
		} `json:"nics"`
		Rates struct {
			CPUPercentOfVCPUs      *float64 `json:"cpu_percent_of_vcpus"`
			CPUPercentOfHost       *float64 `json:"cpu_percent_of_host"`
			DiskReadBytesPerSecond *float64 `json:"disk_read_bytes_per_second"`
			NetRxBytesPerSecond    *float64 `json:"net_rx_bytes_per_second"`
			NetTxBytesPerSecond    *float64 `json:"net_tx_bytes_per_second"`
		} `json:"rates"`
	} `json:"vms"`
}

// TestMonitorOnRealDaemon boots a test guest (it does DHCP, so its NIC counts traffic, and
// boots from its CD-ROM, so that disk has reads) and checks `vmctl stats` against QEMU's counters.
func TestMonitorOnRealDaemon(t *testing.T) {
	e := setup(t)
	e.act("started", "start", "e2e-1")
	t.Cleanup(func() { e.run("vmctl", "kill", "e2e-1") })
	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "ip", "--timeout", "3m")

	out, errOut, code := e.run("vmctl", "stats", "e2e-*", "--json", "--count", "2", "--interval", "1s")
	if code != 0 {
		t.Fatalf("vmctl stats: exit %d\n%s", code, errOut)
	}
	var reps []statsReport
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r statsReport
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stats NDJSON line %d: %v\n%s", len(reps)+1, err, sc.Text())
		}
		reps = append(reps, r)
	}
	if len(reps) != 2 {
		t.Fatalf("--count 2 printed %d lines:\n%s", len(reps), out)
	}
	find := func(r statsReport) int {
		for i, v := range r.VMs {
			if v.Name == "e2e-1" {
				return i
			}
		}
		t.Fatalf("e2e-1 missing from %s", out)
		return -1
	}
	a, b := reps[0].VMs[find(reps[0])], reps[1].VMs[find(reps[1])]
	if len(reps[1].VMs) != len(guests) {
		t.Errorf("stats 'e2e-*' reported %d VMs, want the %d guests (shut off ones too)", len(reps[1].VMs), len(guests))
	}
	if b.State != "running" || b.VCPUs != 1 || b.MemoryBytes != 256<<20 || b.CPUTimeNanoseconds == nil || *b.CPUTimeNanoseconds == 0 {
		t.Fatalf("e2e-1 counters: %+v", b)
	}
	var cdromRead, rx, txPkts uint64
	for _, d := range b.Disks {
		if d.Name == "sda" {
			cdromRead = d.ReadBytes
		}
	}
	for _, n := range b.NICs {
		rx, txPkts = rx+n.RxBytes, txPkts+n.TxPackets
	}
	if cdromRead == 0 || rx == 0 || txPkts == 0 {
		t.Errorf("a guest that booted from CD and did DHCP shows CD reads %d, rx bytes %d, tx packets %d", cdromRead, rx, txPkts)
	}
	// The second report's rates come from the first report's counters and its own.
	dt := reps[1].IntervalSeconds
	if dt < 0.9 || dt > 3 {
		t.Fatalf("interval %v s for --interval 1s", dt)
	}
	wantCPU := float64(*b.CPUTimeNanoseconds-*a.CPUTimeNanoseconds) / 1e9 / dt * 100
	if r := b.Rates.CPUPercentOfVCPUs; r == nil || *r <= 0 || math.Abs(*r-wantCPU) > 0.01 {
		t.Errorf("cpu_percent_of_vcpus %v, want %.3f from the counters (a running TCG guest is never idle)", r, wantCPU)
	}
	if r := b.Rates.CPUPercentOfHost; r == nil || math.Abs(*r*float64(reps[1].HostCPUs)-wantCPU) > 0.01 {
		t.Errorf("cpu_percent_of_host %v with %d host CPUs, want %.3f/%d", r, reps[1].HostCPUs, wantCPU, reps[1].HostCPUs)
	}
	var rxA uint64
	for _, n := range a.NICs {
		rxA += n.RxBytes
	}
	if r := b.Rates.NetRxBytesPerSecond; r == nil || math.Abs(*r-float64(rx-rxA)/dt) > 0.01 {
		t.Errorf("net_rx_bytes_per_second %v, want %.3f from the counters", r, float64(rx-rxA)/dt)
	}

	table, errOut, code := e.run("vmctl", "stats", "e2e-1", "-o", "wide", "--interval", "500ms")
	if code != 0 || !strings.Contains(table, "CPU%VCPUS") || !strings.Contains(table, " sda ") {
		t.Errorf("stats -o wide: exit %d\n%s%s", code, table, errOut)
	}

	e.checkMetricsComponents()
}

// syncBuffer collects a daemon's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon starts a program on loopback for this test and stops it (by its own PID) at cleanup.
func daemon(t *testing.T, env []string, prog string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prog, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(prog), out.String())
		}
	})
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// poll retries fn until it returns true or the time is up.
func poll(t *testing.T, what string, limit time.Duration, fn func() (bool, string)) {
	t.Helper()
	var last string
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		ok, msg := fn()
		if ok {
			return
		}
		last = msg
	}
	t.Fatalf("%s: not within %s; last: %s", what, limit, last)
}

func httpGet(u string) (string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s", resp.Status)
	}
	return string(b), err
}

// promValue asks a Prometheus-compatible query API (Prometheus, VictoriaMetrics) for one
// instant value.
func promValue(base, query string) (float64, string) {
	body, err := httpGet(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, fmt.Sprintf("%v %s", err, body)
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, body
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, body
	}
	return v, body
}

// checkMetricsComponents runs the Debian-packaged monitoring stack on loopback against
// `hvctl metrics` with e2e-1 running: Prometheus scrapes `metrics serve`, VictoriaMetrics
// receives `metrics push`, node_exporter serves the textfile; each is queried back for the
// guest's CPU counter. Then the guest's QEMU is frozen (SIGSTOP): a scrape ends by its deadline.
func (e *env) checkMetricsComponents() {
	t := e.t
	for _, p := range []string{"prometheus", "victoria-metrics", "prometheus-node-exporter", "promtool"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s not installed (scripts/setup-host.sh installs it): %v", p, err)
		}
	}
	hvctl := filepath.Join(e.bin, "hvctl")
	hvEnv := []string{"HVCTL_URI=" + uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME=" + e.config}
	cpuQuery := `libvirt_domain_info_cpu_time_seconds_total{domain="e2e-1"}`

	// One scrape to stdout is valid exposition with the guest's counters.
	out, errOut, code := e.run("hvctl", "metrics")
	if code != 0 || !strings.Contains(out, `libvirt_domain_block_stats_read_bytes_total{domain="e2e-1",target_device="sda"`) ||
		!strings.Contains(out, `libvirt_domain_interface_stats_receive_bytes_total{domain="e2e-1"`) || !strings.Contains(out, "\nlibvirt_up 1\n") {
		t.Fatalf("hvctl metrics: exit %d\n%s%s", code, out, errOut)
	}
	check := exec.Command("promtool", "check", "metrics")
	check.Stdin = strings.NewReader(out)
	if msg, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, msg)
	}

	// metrics serve, scraped by Prometheus every second.
	serveAddr := freePort(t)
	daemon(t, hvEnv, hvctl, "metrics", "serve", "--listen", serveAddr, "--scrape-timeout", "3s")
	poll(t, "metrics serve /healthz", 10*time.Second, func() (bool, string) {
		b, err := httpGet("http://" + serveAddr + "/healthz")
		return err == nil && b == "ok\n", fmt.Sprint(b, err)
	})
	promAddr, promDir := freePort(t), t.TempDir()
	cfg := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hvctl\n    static_configs:\n      - targets: ['%s']\n", serveAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon(t, nil, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+promAddr, "--web.console.templates=/nonexistent", "--web.console.libraries=/nonexistent")
	poll(t, "Prometheus has the guest's CPU counter from metrics serve", 60*time.Second, func() (bool, string) {
		v, body := promValue("http://"+promAddr, cpuQuery)
		return v > 0, body
	})
	if v, body := promValue("http://"+promAddr, `up{job="hvctl"}`); v != 1 {
		t.Errorf("Prometheus up{job=hvctl}: %s", body)
	}

	// metrics push into VictoriaMetrics, queried back.
	vmAddr := freePort(t)
	daemon(t, nil, "victoria-metrics", "-storageDataPath="+t.TempDir(), "-httpListenAddr="+vmAddr, "-search.latencyOffset=0s")
	poll(t, "victoria-metrics /health", 20*time.Second, func() (bool, string) {
		b, err := httpGet("http://" + vmAddr + "/health")
		return err == nil, fmt.Sprint(b, err)
	})
	var pushed struct {
		URL    string `json:"url"`
		Series int    `json:"series"`
	}
	e.ok(&pushed, "hvctl", "metrics", "push", "--url", "http://"+vmAddr)
	if pushed.Series < 20 || pushed.URL != "http://"+vmAddr+"/api/v1/import/prometheus" {
		t.Errorf("metrics push: %+v", pushed)
	}
	poll(t, "VictoriaMetrics has the pushed CPU counter", 30*time.Second, func() (bool, string) {
		_, _ = httpGet("http://" + vmAddr + "/internal/force_flush")
		v, body := promValue("http://"+vmAddr, cpuQuery)
		return v > 0, body
	})

	// metrics --textfile, served by node_exporter's textfile collector.
	textDir, nodeAddr := t.TempDir(), freePort(t)
	e.run("hvctl", "metrics", "--textfile", textDir)
	daemon(t, nil, "prometheus-node-exporter", "--web.listen-address="+nodeAddr, "--collector.disable-defaults",
		"--collector.textfile", "--collector.textfile.directory="+textDir)
	poll(t, "node_exporter serves the textfile", 20*time.Second, func() (bool, string) {
		b, err := httpGet("http://" + nodeAddr + "/metrics")
		return err == nil && strings.Contains(b, `libvirt_domain_info_cpu_time_seconds_total{domain="e2e-1"`) &&
			strings.Contains(b, "node_textfile_scrape_error 0"), fmt.Sprint(err, b)
	})

	// A frozen QEMU: the first scrape that asks its monitor ends by the deadline with
	// libvirt_up 0; later scrapes skip the busy domain (NOWAIT) and answer.
	pidText, err := os.ReadFile("/run/libvirt/qemu/e2e-1.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	for i := 0; i < 3; i++ {
		start := time.Now()
		body, err := httpGet("http://" + serveAddr + "/metrics")
		took := time.Since(start)
		t.Logf("scrape %d with QEMU stopped: %s, libvirt_up 1: %v", i+1, took.Round(time.Millisecond), strings.Contains(body, "\nlibvirt_up 1\n"))
		if err != nil || took > 5*time.Second {
			t.Errorf("scrape %d with QEMU stopped took %s (deadline 3s): %v", i+1, took, err)
		}
	}
}
