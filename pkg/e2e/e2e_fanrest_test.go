package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"libvirt.org/go/libvirt"
)

// netctl list/leases, isoctl list/verify and auditctl run --host against this machine's libvirt
// and a second libvirtd in its own namespaces: each host answers for itself (its networks, its
// leases, its store read through its own libvirt pool, its own audit), and a host that hangs is
// reported while the other still answers.
func TestFanOutNetISOAuditAcrossHosts(t *testing.T) {
	e := setup(t)
	far := secondHost(t)
	c2, err := libvirt.NewConnect(far)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	// On the far host: an isolated network (never started), a VM, and a pool serving the ISO
	// store (a directory both hosts see, as /var/lib/libvirt/images is shared).
	n, err := c2.NetworkDefineXML(`<network><name>t-fanrest-net</name><bridge name='hvbr-tfr0'/>
<ip address='10.213.78.1' netmask='255.255.255.0'/></network>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Undefine(); _ = n.Free() })
	d, err := c2.DomainDefineXML(`<domain type='qemu'><name>t-fanrest-far</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Undefine(); _ = d.Free() })

	store := "/var/lib/libvirt/images/t-fanrest-isos"
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// import registers the store with this host's libvirt: a pool named after its path.
		if p, err := e.conn.LookupStoragePoolByTargetPath(store); err == nil {
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
		_ = os.RemoveAll(store)
	})
	src := filepath.Join(t.TempDir(), "media.iso")
	if err := os.WriteFile(src, []byte(strings.Repeat("hvctl", 100000)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = []string{"HVCTL_PATHS_ISOS=" + store, "HVCTL_PATHS_IMAGES=" + store + "-images", "XDG_CACHE_HOME=" + t.TempDir()}
	t.Cleanup(func() { _ = os.RemoveAll(store + "-images") })
	e.ok(nil, "isoctl", "import", src)
	pool, err := c2.StoragePoolCreateXML(`<pool type='dir'><name>t-fanrest-isos</name><target><path>`+store+`</path></target></pool>`, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Destroy(); _ = pool.Free() })

	cfg := "[hosts.local]\nuri = \"" + uri + "\"\n[hosts.far]\nuri = \"" + far + "\"\n[groups]\nboth = [\"local\", \"far\"]\n"
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// Networks: each host's own.
	var nets []struct{ Host, Name string }
	e.ok(&nets, "netctl", "list", "--host", "both", netName, "t-fanrest-*")
	if got := hostNames(nets); got != "far:t-fanrest-net local:"+netName {
		t.Errorf("netctl list: %s", got)
	}
	// Leases: a running guest's on this host, matched to the VM here; the far host has none.
	e.act("started", "start", "e2e-1")
	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "ip", "--timeout", "3m")
	var leases []struct{ Host, Network, VM, Address string }
	e.ok(&leases, "netctl", "leases", "--host", "both")
	// Other tenants of a shared machine may have guests on networks of their own: only the
	// far host's leases and this test's network's count.
	leases = slices.DeleteFunc(leases, func(l struct{ Host, Network, VM, Address string }) bool {
		return l.Host == "local" && l.Network != netName
	})
	if len(leases) == 0 || slices.ContainsFunc(leases, func(l struct{ Host, Network, VM, Address string }) bool {
		return l.Host != "local" || l.VM != "e2e-1"
	}) {
		t.Errorf("netctl leases: %+v", leases)
	}

	// The ISO store: this host's read as files, the far host's through its pool.
	var images []struct {
		Host, Name string
		Verified   bool
	}
	e.ok(&images, "isoctl", "list", "--host", "both")
	if len(images) != 2 || images[0].Host != "far" || images[1].Host != "local" || images[0].Name != "media.iso" || images[1].Name != "media.iso" {
		t.Errorf("isoctl list: %+v", images)
	}
	var checks []struct {
		Host, Name string
		OK         bool
	}
	e.ok(&checks, "isoctl", "verify", "--all", "--host", "both")
	if len(checks) != 2 || !checks[0].OK || !checks[1].OK {
		t.Errorf("isoctl verify: %+v", checks)
	}
	f, err := os.OpenFile(filepath.Join(store, "media.iso"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteAt([]byte("X"), 1000)
	f.Close()
	out, errOut, code := e.run("isoctl", "verify", "--all", "--host", "both", "--json")
	if code != 8 || json.Unmarshal([]byte(out), &checks) != nil || len(checks) != 2 || checks[0].OK || checks[1].OK {
		t.Errorf("a changed image on both hosts: exit %d\n%s\n%s", code, out, errOut)
	}

	// The audit: the far host's own VMs; what reads a host's files is judged here only.
	out, errOut, code = e.run("auditctl", "run", "--host", "both", "--only", "host,vm", "--all", "--json")
	var reports []struct {
		Host     string
		Findings []struct{ ID, Status, Target, Detail, Host string }
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil || len(reports) != 2 || reports[0].Host != "far" || reports[1].Host != "local" {
		t.Fatalf("auditctl run: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	for _, r := range reports {
		for _, x := range r.Findings {
			remote := strings.HasPrefix(x.Detail, "not applicable on a remote host")
			if r.Host == "far" && x.ID == "HOST-010" && (!remote || x.Status != "skipped") || r.Host == "local" && remote {
				t.Errorf("%s: %s %s %s: %s", r.Host, x.ID, x.Target, x.Status, x.Detail)
			}
			if x.Host != r.Host || strings.HasPrefix(x.ID, "VM-") && x.Target != "vm" && (r.Host == "far") != (x.Target == "t-fanrest-far") {
				t.Errorf("%s's report has %s %s of host %q", r.Host, x.ID, x.Target, x.Host)
			}
		}
	}

	// A far daemon that hangs: reported after its own deadline; this host still answers.
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
	out, errOut, code = e.run("auditctl", "run", "--host", "both", "--host-timeout", "3s", "--only", "HOST-026", "--json")
	if code != 6 || json.Unmarshal([]byte(out), &reports) != nil || len(reports) != 1 || reports[0].Host != "local" || !strings.Contains(errOut, `"host":"far"`) {
		t.Errorf("auditctl with far hung: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = e.run("netctl", "list", "--host", "both", "--host-timeout", "3s", "--json", netName)
	thaw()
	if code != 6 || json.Unmarshal([]byte(out), &nets) != nil || hostNames(nets) != "local:"+netName {
		t.Errorf("netctl list with far hung: exit %d\n%s\n%s", code, out, errOut)
	}
}

func hostNames(rows []struct{ Host, Name string }) string {
	var got []string
	for _, r := range rows {
		got = append(got, r.Host+":"+r.Name)
	}
	return strings.Join(got, " ")
}
