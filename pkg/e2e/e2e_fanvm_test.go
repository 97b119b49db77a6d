package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

// show, stats, events and metrics --host against this machine's libvirt and a second libvirtd
// in its own namespaces: each answers from the host that has the VM, the events of both come in
// one stream, and when the far daemon hangs, its loss is a record of its own while the local
// host keeps streaming, metrics says libvirt_up{host="far"} 0, and it comes back on its own.
func TestFanOutShowStatsEventsMetricsAcrossHosts(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	d, err := c2.DomainDefineXML(`<domain type='qemu'><name>t-fanvm-far</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Destroy(); _ = d.Undefine(); _ = d.Free() })
	cfg := "[hosts.local]\nuri = \"" + uri + "\"\n[hosts.far]\nuri = \"" + far + "\"\n[groups]\nboth = [\"local\", \"far\"]\n"
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	var shown struct{ Host, Name string }
	e.ok(&shown, "vmctl", "show", "--host", "both", "t-fanvm-far")
	if shown.Host != "far" || shown.Name != "t-fanvm-far" {
		t.Errorf("show t-fanvm-far: %+v", shown)
	}
	e.ok(&shown, "vmctl", "show", "--host", "both", "e2e-1")
	if shown.Host != "local" {
		t.Errorf("show e2e-1: %+v", shown)
	}

	// One stream of both hosts' events, from before the far VM starts.
	events := exec.Command(filepath.Join(e.bin, "vmctl"), "events", "--host", "both", "--json", "--type", "started,defined", "t-fanvm-*")
	events.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	stdout, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	events.Stderr = &stderr
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Process.Kill(); _ = events.Wait() })
	type record struct {
		Seq                    uint64
		Host, Kind, Name, Type string
	}
	records := make(chan record, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				records <- r
			}
		}
		close(records)
	}()
	var seq uint64
	await := func(what string, match func(record) bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case r, ok := <-records:
				if !ok {
					t.Fatalf("the stream ended before %s; stderr:\n%s", what, stderr.String())
				}
				if r.Seq != seq+1 {
					t.Errorf("seq %d after %d: one stream numbers its records in order", r.Seq, seq)
				}
				seq = r.Seq
				if match(r) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s within 60 s; stderr:\n%s", what, stderr.String())
			}
		}
	}
	time.Sleep(2 * time.Second) // both subscriptions in place
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	await("started on far", func(r record) bool { return r.Host == "far" && r.Name == "t-fanvm-far" && r.Type == "started" })

	var st struct {
		VMs   []struct{ Host, Name, State string }
		Hosts []struct{ Host string }
	}
	e.ok(&st, "vmctl", "stats", "--host", "both", "--interval", "200ms", "t-fanvm-far", "e2e-*")
	if len(st.VMs) != len(guests)+1 || st.VMs[0].Host != "far" || st.VMs[0].State != "running" || st.VMs[1].Host != "local" || len(st.Hosts) != 2 {
		t.Errorf("stats across hosts: %+v", st)
	}
	out, errOut, code := e.run("hvctl", "metrics", "--host", "both")
	if code != 0 || !strings.Contains(out, `libvirt_up{host="far"} 1`) || !strings.Contains(out, `libvirt_up{host="local"} 1`) ||
		!strings.Contains(out, `libvirt_domain_info_state{domain="t-fanvm-far",host="far",uuid="`) {
		t.Errorf("metrics: exit %d\n%s\n%s", code, out, errOut)
	}

	// The far daemon hangs: its loss is reported in the stream while local still streams.
	pid := secondHostDaemon(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			thawed = true
		}
	}
	t.Cleanup(thaw)
	out, errOut, code = e.run("hvctl", "metrics", "--host", "both", "--scrape-timeout", "3s")
	if code != 6 || !strings.Contains(out, `libvirt_up{host="far"} 0`) || !strings.Contains(out, `libvirt_up{host="local"} 1`) || !strings.Contains(errOut, "host far: ") {
		t.Errorf("metrics with far hung: exit %d\n%s\n%s", code, out, errOut)
	}
	await("far's disconnection", func(r record) bool { return r.Host == "far" && r.Kind == "host" && r.Type == "disconnected" })
	local, err := e.conn.DomainDefineXML(`<domain type='qemu'><name>t-fanvm-local</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Undefine(); _ = local.Free() })
	await("defined on local while far is down", func(r record) bool { return r.Host == "local" && r.Name == "t-fanvm-local" && r.Type == "defined" })
	thaw()
	await("far's resync", func(r record) bool { return r.Host == "far" && r.Kind == "host" && r.Type == "resync" })
}
