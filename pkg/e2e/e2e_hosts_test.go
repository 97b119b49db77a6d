package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"libvirt.org/go/libvirt"
)

// secondHost starts scripts/second-host.sh's libvirtd (its own network, mount, UTS and PID
// namespaces, reachable over a veth pair inside this machine) and returns its URI.
func secondHost(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/second-host.sh", "start").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("second host: %v\n%s", err, stderr)
	}
	t.Cleanup(func() { _ = exec.Command("bash", "../../scripts/second-host.sh", "stop").Run() })
	return strings.TrimSpace(string(out))
}

// secondHostDaemon is the PID (in this namespace) of the second host's libvirtd.
func secondHostDaemon(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", "^/usr/sbin/libvirtd -d --listen").Output()
	pids := strings.Fields(string(out))
	if err != nil || len(pids) != 1 {
		t.Fatalf("second host's libvirtd: %v %q", err, out)
	}
	pid, _ := strconv.Atoi(pids[0])
	return pid
}

func TestListAcrossHosts(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	d, err := c2.DomainDefineXML(`<domain type='qemu'><name>t-hosts-far</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undefine(); _ = d.Free() })

	cfg := "[hosts.local]\nuri = \"" + uri + "\"\n[hosts.far]\nuri = \"" + far + "\"\n[groups]\nboth = [\"local\", \"far\"]\n"
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	var vms []struct{ Host, Name string }
	e.ok(&vms, "vmctl", "list", "--host", "both", "e2e-1", "t-hosts-*")
	var got []string
	for _, v := range vms {
		got = append(got, v.Host+":"+v.Name)
	}
	if strings.Join(got, " ") != "far:t-hosts-far local:e2e-1" {
		t.Errorf("rows across two daemons: %v", got)
	}
	e.ok(&vms, "vmctl", "list", "--host", "all", "far:*")
	if len(vms) != 1 || vms[0].Host != "far" {
		t.Errorf("far:* lists %+v", vms)
	}

	// A host whose daemon hangs is reported after its own deadline; the other host still answers.
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
	out, errOut, code := e.run("vmctl", "list", "--host", "both", "--host-timeout", "3s", "--json", "e2e-*", "t-hosts-*")
	thaw()
	if code != 6 {
		t.Fatalf("exit %d, want 6 (partial)\nstdout %s\nstderr %s", code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), &vms); err != nil || len(vms) != len(guests) || vms[0].Host != "local" {
		t.Errorf("the answering host's rows: %v %s", err, out)
	}
	var body struct {
		Error struct{ Code, Host string }
	}
	// The host's error object comes first, then the command's own (partial).
	if err := json.NewDecoder(strings.NewReader(errOut)).Decode(&body); err != nil || body.Error.Host != "far" || body.Error.Code != "timeout" {
		t.Errorf("the hung host's error record: %v %s", err, errOut)
	}
}
