package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// TestMigrateBetweenHosts moves a running test guest live to a second libvirtd (its own
// namespaces, shared image directory) and back with vmctl migrate, after the preflight has
// refused it for what the target lacked; then checks that a --timeout and a Ctrl-C abort the
// move and leave the guest running where it was.
func TestMigrateBetweenHosts(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	cfg := `[hosts.local]
uri = "` + uri + `"
peer_uri = "qemu+unix:///system?socket=/tmp/hvctl-h2/host1/libvirt-sock"
migration_uri = "tcp://10.213.0.1"
[hosts.far]
uri = "` + far + `"
migration_uri = "tcp://10.213.0.2"
`
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const vm = "e2e-1"
	e.act("started", "start", vm)

	// The target has neither the guest's network nor its pool yet.
	_, errOut, code := e.run("vmctl", "migrate", vm, "--to", "far")
	if code != 3 || !strings.Contains(errOut, "network "+netName+" does not exist there") || !strings.Contains(errOut, "storage pool "+poolName+" does not exist there") {
		t.Fatalf("preflight against a bare target: exit %d, %s", code, errOut)
	}
	if e.state(vm) != "running" {
		t.Fatalf("a refused move touched the guest: %s", e.state(vm))
	}
	farNetwork(t, c2)
	farPool(t, c2)
	// The data disk has the default cache mode: refused unless the user vouches for the storage.
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far")
	if code != 4 || !strings.Contains(errOut, "disk vdb uses cache mode the default") {
		t.Fatalf("cache preflight: exit %d, %s", code, errOut)
	}

	var res struct {
		Name, To, Mode string
		Persistent     bool
		SourceKept     bool   `json:"source_kept"`
		DataBytes      uint64 `json:"data_bytes"`
	}
	e.ok(&res, "vmctl", "migrate", vm, "--to", "far", "--unsafe")
	if res.To != "far" || res.Mode != "live" || !res.Persistent || res.SourceKept || res.DataBytes == 0 {
		t.Errorf("summary: %+v", res)
	}
	if st := farState(t, c2, vm); st != libvirt.DOMAIN_RUNNING {
		t.Fatalf("on far the guest is %v, want running", st)
	}
	if d, err := e.conn.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		t.Fatalf("%s is still defined on the source", vm)
	}

	// And back, driven by the other daemon (-c far).
	e.ok(&res, "vmctl", "-c", "far", "migrate", vm, "--to", "local", "--unsafe")
	if e.state(vm) != "running" {
		t.Fatalf("back home the guest is %s", e.state(vm))
	}

	// A move capped at 1 MiB/s cannot finish 256 MiB in 4 s: the deadline aborts it.
	_, errOut, code = e.run("vmctl", "migrate", vm, "--to", "far", "--unsafe", "--bandwidth", "1", "--timeout", "4s")
	if code != 5 || !strings.Contains(errOut, "aborted; it still runs on the source") {
		t.Errorf("--timeout: exit %d, %s", code, errOut)
	}
	e.checkStayed(c2, vm)

	// Ctrl-C does the same.
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "migrate", vm, "--to", "far", "--unsafe", "--bandwidth", "1")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the migration job to start", 30*time.Second, func() (bool, string) {
		d, err := e.conn.LookupDomainByName(vm)
		if err != nil {
			return false, err.Error()
		}
		defer d.Free()
		ji, err := d.GetJobInfo()
		return err == nil && ji.Type != libvirt.DOMAIN_JOB_NONE, "no job"
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if code := exitCode(err); code != 130 || !strings.Contains(stderr.String(), "it still runs on the source") {
		t.Errorf("Ctrl-C: exit %d, %s", code, stderr.String())
	}
	e.checkStayed(c2, vm)
}

// checkStayed checks that an aborted move left vm running here and nothing of it on far.
func (e *env) checkStayed(c2 *libvirt.Connect, vm string) {
	e.t.Helper()
	if st := e.state(vm); st != "running" {
		e.t.Errorf("after the abort the guest is %s here", st)
	}
	if d, err := c2.LookupDomainByName(vm); err == nil {
		_ = d.Free()
		e.t.Errorf("after the abort %s is left on the target", vm)
	}
}

func farState(t *testing.T, c *libvirt.Connect, name string) libvirt.DomainState {
	t.Helper()
	d, err := c.LookupDomainByName(name)
	if err != nil {
		t.Fatalf("%s on far: %v", name, err)
	}
	defer d.Free()
	st, _, err := d.GetState()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// farNetwork defines the e2e network on the second host: isolated like ours, in its own
// network namespace (so the same bridge name does not clash).
func farNetwork(t *testing.T, c *libvirt.Connect) {
	t.Helper()
	n := libvirtxml.Network{
		Name:   netName,
		Bridge: &libvirtxml.NetworkBridge{Name: bridge, STP: "off"},
		IPs: []libvirtxml.NetworkIP{{Address: subnet + "1", Netmask: "255.255.255.0",
			DHCP: &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: subnet + "100", End: subnet + "200"}}}}},
	}
	x, err := n.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	net, err := c.NetworkCreateXML(x)
	if err != nil {
		t.Fatalf("network on far: %v", err)
	}
	_ = net.Free()
}

// farPool makes the e2e pool's directory (shared with this host) a pool there too.
func farPool(t *testing.T, c *libvirt.Connect) {
	t.Helper()
	p := libvirtxml.StoragePool{Type: "dir", Name: poolName, Target: &libvirtxml.StoragePoolTarget{Path: poolDir}}
	x, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := c.StoragePoolCreateXML(x, 0)
	if err != nil {
		t.Fatalf("pool on far: %v", err)
	}
	_ = pool.Free()
}
