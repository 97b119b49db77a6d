// Package e2e drives the hvctl binary against a real libvirtd with QEMU (TCG) and tiny guests
// built from Debian packages (testdata/guest). scripts/test.sh sets it up and runs it; these
// tests need root, libvirtd and the guest ISO, and fail (not skip) when HVCTL_E2E=1 says they
// should have them.
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

const (
	uri      = "qemu:///system"
	netName  = "hvctl-e2e"
	bridge   = "hvbr-e2e0"
	poolName = "hvctl-e2e"
	poolDir  = "/var/lib/libvirt/images/hvctl-e2e"
	subnet   = "10.213.77."
)

var guests = []string{"e2e-1", "e2e-2", "e2e-3"}

type env struct {
	t      *testing.T
	bin    string // directory holding hvctl and its links
	conn   *libvirt.Connect
	iso    string
	config string
	env    []string // extra environment for the commands
}

func setup(t *testing.T) *env {
	if os.Getenv("HVCTL_E2E") != "1" {
		t.Skip("end-to-end tests need root, libvirtd and the test guest: run scripts/test.sh, which sets them up (HVCTL_E2E=1)")
	}
	iso := os.Getenv("HVCTL_GUEST_ISO")
	if _, err := os.Stat(iso); err != nil {
		t.Fatalf("HVCTL_GUEST_ISO=%q: %v (scripts/test.sh builds it)", iso, err)
	}
	e := &env{t: t, iso: iso, bin: t.TempDir(), config: t.TempDir()}
	build := exec.Command("go", "build", "-o", filepath.Join(e.bin, "hvctl"), "../../cmd/hvctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, l := range []string{"vmctl", "isoctl", "netctl", "auditctl"} {
		if err := os.Symlink("hvctl", filepath.Join(e.bin, l)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if e.conn, err = libvirt.NewConnect(uri); err != nil {
		t.Fatalf("connect %s: %v", uri, err)
	}
	t.Cleanup(func() { _, _ = e.conn.Close() })
	e.cleanup()
	t.Cleanup(e.cleanup)
	e.defineNetwork()
	e.definePool()
	for i, g := range guests {
		e.defineGuest(g, i)
	}
	return e
}

// cleanup removes everything the tests define, whatever state a failed run left.
func (e *env) cleanup() {
	for _, g := range append(guests, "e2e-prof", "e2e-broken", "e2e-clone") {
		if d, err := e.conn.LookupDomainByName(g); err == nil {
			_ = d.Destroy()
			_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM | libvirt.DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
			_ = d.Free()
		}
	}
	if p, err := e.conn.LookupStoragePoolByName(poolName); err == nil {
		if vols, err := p.ListAllStorageVolumes(0); err == nil {
			for _, v := range vols {
				_ = v.Delete(0)
				_ = v.Free()
			}
		}
		_ = p.Destroy()
		_ = p.Undefine()
		_ = p.Free()
	}
	_ = os.RemoveAll(poolDir)
	for _, name := range []string{netName, netName + "-x"} {
		if n, err := e.conn.LookupNetworkByName(name); err == nil {
			_ = n.Destroy()
			_ = n.Undefine()
			_ = n.Free()
		}
	}
}

func (e *env) defineNetwork() {
	// Isolated: no <forward>, so guests reach nothing but the host's bridge address.
	// dnsmasq's no-ping saves the 3 s it waits before offering a new address.
	n := libvirtxml.Network{
		Name:   netName,
		Bridge: &libvirtxml.NetworkBridge{Name: bridge, STP: "off"},
		IPs: []libvirtxml.NetworkIP{{
			Address: subnet + "1", Netmask: "255.255.255.0",
			DHCP: &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: subnet + "100", End: subnet + "200"}}},
		}},
		DnsmasqOptions: &libvirtxml.NetworkDnsmasqOptions{Option: []libvirtxml.NetworkDnsmasqOption{{Value: "no-ping"}}},
	}
	x, err := n.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	net, err := e.conn.NetworkDefineXML(x)
	if err != nil {
		e.t.Fatalf("define network: %v", err)
	}
	defer func() { _ = net.Free() }()
	if err := net.Create(); err != nil {
		e.t.Fatalf("start network: %v", err)
	}
}

func (e *env) definePool() {
	p := libvirtxml.StoragePool{Type: "dir", Name: poolName, Target: &libvirtxml.StoragePoolTarget{Path: poolDir}}
	x, err := p.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	pool, err := e.conn.StoragePoolDefineXML(x, 0)
	if err != nil {
		e.t.Fatalf("define pool: %v", err)
	}
	defer func() { _ = pool.Free() }()
	if err := pool.Build(0); err != nil {
		e.t.Fatalf("build pool: %v", err)
	}
	if err := pool.Create(0); err != nil {
		e.t.Fatalf("start pool: %v", err)
	}
	for _, g := range guests {
		v := libvirtxml.StorageVolume{
			Name: g + "-data.qcow2", Capacity: &libvirtxml.StorageVolumeSize{Unit: "MiB", Value: 1},
			Target: &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "qcow2"}},
		}
		vx, err := v.Marshal()
		if err != nil {
			e.t.Fatal(err)
		}
		vol, err := pool.StorageVolCreateXML(vx, 0)
		if err != nil {
			e.t.Fatalf("create volume: %v", err)
		}
		_ = vol.Free()
	}
}

func guestDomain(name, iso string, index int) libvirtxml.Domain {
	return libvirtxml.Domain{
		Type:   "qemu", // nested KVM crashes guests on these hosts: TCG
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 256, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "q35", Type: "hvm"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "cdrom"}},
		},
		Features: &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		SysInfo: []libvirtxml.DomainSysInfo{{FWCfg: &libvirtxml.DomainSysInfoFWCfg{
			Entry: []libvirtxml.DomainSysInfoEntry{{Name: "opt/hvctl/hostname", Value: name}},
		}}},
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{
				{
					Device: "cdrom", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
					Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: iso}},
					Target:   &libvirtxml.DomainDiskTarget{Dev: "sda", Bus: "sata"},
					ReadOnly: &libvirtxml.DomainDiskReadOnly{},
				},
				{
					Device: "disk", Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
					Source: &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: poolName, Volume: name + "-data.qcow2"}},
					Target: &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"},
				},
			},
			Interfaces: []libvirtxml.DomainInterface{{
				// A fresh MAC per run: an old lease for a reused MAC would answer too early.
				MAC:    &libvirtxml.DomainInterfaceMAC{Address: fmt.Sprintf("52:54:00:e2:%02x:%02x", time.Now().Unix()%256, index)},
				Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: netName}},
				Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
			}},
			Serials:  []libvirtxml.DomainSerial{{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}}},
			Consoles: []libvirtxml.DomainConsole{{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}, Target: &libvirtxml.DomainConsoleTarget{Type: "serial"}}},
			Channels: []libvirtxml.DomainChannel{{
				Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{}},
				Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"}},
			}},
		},
	}
}

func (e *env) defineGuest(name string, index int) {
	def := guestDomain(name, e.iso, index)
	x, err := def.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.conn.DomainDefineXML(x)
	if err != nil {
		e.t.Fatalf("define %s: %v", name, err)
	}
	_ = d.Free()
}

// run executes a command from the bin directory and returns stdout, stderr and the exit code.
func (e *env) run(prog string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, prog), args...)
	cmd.Env = append(append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config), e.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s %v: %v", prog, args, err)
	}
	e.t.Logf("%s %s → %d in %s", prog, strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond))
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and decodes its JSON into v.
func (e *env) ok(v any, prog string, args ...string) {
	e.t.Helper()
	out, errOut, code := e.run(prog, append(args, "--json")...)
	if code != 0 {
		e.t.Fatalf("%s %v: exit %d\nstdout: %s\nstderr: %s", prog, args, code, out, errOut)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			e.t.Fatalf("%s %v: bad JSON: %v\n%s", prog, args, err, out)
		}
	}
}

type result struct {
	Name, Action, Error, Code string
	OK                        bool
}

func (e *env) act(want string, args ...string) {
	e.t.Helper()
	var rs []result
	e.ok(&rs, "vmctl", args...)
	if len(rs) == 0 {
		e.t.Fatalf("vmctl %v: no results", args)
	}
	for _, r := range rs {
		if !r.OK || r.Action != want {
			e.t.Fatalf("vmctl %v: %s: action %q ok %v error %q, want %q", args, r.Name, r.Action, r.OK, r.Error, want)
		}
	}
}

func (e *env) state(name string) string {
	e.t.Helper()
	var v struct{ State string }
	e.ok(&v, "vmctl", "show", name)
	return v.State
}

type address struct{ Address, Source, Family, Interface string }

func TestLifecycle(t *testing.T) {
	e := setup(t)

	var v struct {
		Driver     string `json:"driver"`
		Daemon     string `json:"daemon_version"`
		Hypervisor string `json:"hypervisor_version"`
		Error      string `json:"connect_error"`
	}
	e.ok(&v, "hvctl", "version")
	if v.Driver != "QEMU" || v.Daemon == "" || v.Hypervisor == "" || v.Error != "" {
		t.Errorf("version: %+v", v)
	}

	e.act("started", "start", "e2e-1")
	e.act("none", "start", "e2e-1")

	var waited []struct {
		Name      string
		OK        bool
		Addresses []address
	}
	e.ok(&waited, "vmctl", "wait", "e2e-1", "--for", "ip", "--timeout", "3m")
	if len(waited) != 1 || len(waited[0].Addresses) == 0 || !strings.HasPrefix(waited[0].Addresses[0].Address, subnet) || waited[0].Addresses[0].Source != "lease" {
		t.Fatalf("wait --for ip: %+v", waited)
	}
	ip := waited[0].Addresses[0].Address

	// netctl on the real daemon: the lease names its VM; the network it runs on is not
	// stopped under it; a second isolated network gets its bridge and goes again.
	var leases []struct{ Network, VM, Address, MAC string }
	e.ok(&leases, "netctl", "leases", netName)
	if len(leases) != 1 || leases[0].VM != "e2e-1" || leases[0].Address != ip {
		t.Errorf("netctl leases: %+v, want e2e-1 at %s", leases, ip)
	}
	if _, errOut, code := e.run("netctl", "stop", netName); code != 4 || !strings.Contains(errOut, "running VMs use "+netName+": e2e-1") {
		t.Errorf("netctl stop under a running VM: exit %d %s", code, errOut)
	}
	var made struct {
		Active          bool
		Forward, Bridge string
	}
	e.ok(&made, "netctl", "create", netName+"-x", "--subnet", "10.213.78.0/24", "--bridge", "hvbr-e2e1")
	if ifc, err := net.InterfaceByName("hvbr-e2e1"); err != nil || !made.Active || made.Forward != "isolated" {
		t.Errorf("netctl create: %+v, bridge %v %v", made, ifc, err)
	} else if addrs, _ := ifc.Addrs(); len(addrs) == 0 || !strings.HasPrefix(addrs[0].String(), "10.213.78.1/24") {
		t.Errorf("bridge addresses: %v", addrs)
	}
	if _, errOut, code := e.run("netctl", "create", netName+"-y", "--subnet", "10.213.77.128/25"); code != 4 || !strings.Contains(errOut, "overlaps network "+netName) {
		t.Errorf("overlapping subnet: exit %d %s", code, errOut)
	}
	// A subnet of this host's own uplink is refused before libvirt is asked.
	if p, ok := hostPrefix(); ok {
		if _, errOut, code := e.run("netctl", "create", netName+"-y", "--subnet", p); code != 4 || !strings.Contains(errOut, "on this host's") {
			t.Errorf("host's own subnet %s: exit %d %s", p, code, errOut)
		}
	}
	// A fixed address, live and in the persistent definition.
	e.ok(nil, "netctl", "reserve", netName+"-x", "--mac", "52:54:00:e2:ff:01", "--ip", "10.213.78.10", "--name", "fixed")
	for _, flags := range []int{0, int(libvirt.NETWORK_XML_INACTIVE)} {
		if nw, err := e.conn.LookupNetworkByName(netName + "-x"); err != nil {
			t.Error(err)
		} else {
			x, _ := nw.GetXMLDesc(libvirt.NetworkXMLFlags(flags))
			_ = nw.Free()
			if !strings.Contains(x, `<host mac="52:54:00:e2:ff:01" name="fixed" ip="10.213.78.10"`) && !strings.Contains(x, `<host mac='52:54:00:e2:ff:01' name='fixed' ip='10.213.78.10'`) {
				t.Errorf("reservation not in the network XML (flags %d):\n%s", flags, x)
			}
		}
	}
	e.ok(nil, "netctl", "unreserve", netName+"-x", "--mac", "52:54:00:e2:ff:01")
	e.ok(nil, "netctl", "delete", netName+"-x", "--yes")

	// auditctl on the real host, with a guest running: its QEMU process is read from /proc.
	out, errOut, code := e.run("auditctl", "run", "--group", "host,vm", "--all", "--jq", ".findings")
	var findings []struct{ ID, Status, Target, Severity string }
	if err := json.Unmarshal([]byte(out), &findings); err != nil || code != 9 {
		t.Fatalf("auditctl run: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	status := map[string]string{}
	for _, f := range findings {
		status[f.ID+" "+f.Target] = f.Status
	}
	for key, want := range map[string]string{
		"VM-001 e2e-1":   "fail", // TCG: the tests' guests have no KVM
		"HOST-013 e2e-1": "pass", // QEMU runs as libvirt-qemu, not root
		"HOST-014 e2e-1": "pass", // in seccomp filter mode
		"HOST-015 e2e-1": "pass", // in a mount namespace of its own
		"VM-002 e2e-1":   "pass",
		"VM-007 e2e-1":   "pass",
	} {
		if status[key] != want {
			t.Errorf("auditctl %s: %q, want %q", key, status[key], want)
		}
	}
	if _, err := net.InterfaceByName("hvbr-e2e1"); err == nil {
		t.Error("the deleted network's bridge is still there")
	}

	var list []struct {
		Name, State string
		IPv4        []string
		VCPUs       int
		MemoryBytes uint64 `json:"memory_bytes"`
		Uptime      *int64 `json:"uptime_seconds"`
	}
	e.ok(&list, "vmctl", "list")
	byName := map[string]int{}
	for i, v := range list {
		byName[v.Name] = i
	}
	if v := list[byName["e2e-1"]]; v.State != "running" || len(v.IPv4) != 1 || v.IPv4[0] != ip || v.MemoryBytes != 256<<20 || v.VCPUs != 1 {
		t.Errorf("list e2e-1: %+v, want running with %s", v, ip)
	}
	if v := list[byName["e2e-2"]]; v.State != "shut_off" || len(v.IPv4) != 0 || v.Uptime != nil {
		t.Errorf("list e2e-2: %+v", v)
	}
	// Uptime comes from the QEMU process: it started during this test.
	if u := list[byName["e2e-1"]].Uptime; u == nil || *u < 0 || *u > 600 {
		t.Errorf("uptime of e2e-1: %v", u)
	}

	var show struct {
		State      string
		DomainType string `json:"domain_type"`
		Disks      []struct {
			Target, Device string
			Capacity       *uint64 `json:"capacity_bytes"`
		}
		NICs []struct{ Addresses []address } `json:"nics"`
	}
	e.ok(&show, "vmctl", "show", "e2e-1")
	if show.DomainType != "qemu" || len(show.Disks) != 2 || show.Disks[1].Target != "vdb" || show.Disks[1].Capacity == nil || *show.Disks[1].Capacity != 1<<20 {
		t.Errorf("show: %+v", show)
	}
	if len(show.NICs) != 1 || len(show.NICs[0].Addresses) == 0 || show.NICs[0].Addresses[0].Address != ip {
		t.Errorf("show nics: %+v, want %s", show.NICs, ip)
	}

	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "agent", "--timeout", "2m")
	var agentAddrs []address
	e.ok(&agentAddrs, "vmctl", "ip", "e2e-1", "--source", "agent")
	found := false
	for _, a := range agentAddrs {
		found = found || a.Address == ip && a.Source == "agent" && a.Interface == "eth0"
	}
	if !found {
		t.Errorf("ip --source agent: %+v, want eth0 %s", agentAddrs, ip)
	}
	// The host's neighbour table, once the host has spoken to the guest: one UDP datagram to
	// the discard port of this test guest on its isolated network makes the kernel resolve it.
	// (libvirt 9.0's own reader fails on this kernel, "wrong nlmsg len"; vmctl falls back to
	// /proc/net/arp on a local host.)
	if u, err := net.Dial("udp", net.JoinHostPort(ip, "9")); err == nil {
		_, _ = u.Write([]byte("hvctl"))
		u.Close()
	}
	var arpAddrs []address
	for i := 0; i < 20 && len(arpAddrs) == 0; i++ {
		time.Sleep(100 * time.Millisecond)
		e.ok(&arpAddrs, "vmctl", "ip", "e2e-1", "--source", "arp")
	}
	if len(arpAddrs) != 1 || arpAddrs[0].Address != ip || arpAddrs[0].Source != "arp" {
		arp, _ := os.ReadFile("/proc/net/arp")
		t.Errorf("ip --source arp: %+v, want %s\n%s", arpAddrs, ip, arp)
	}

	// The console, through a real pseudo-terminal.
	exp := exec.Command("expect", "-f", "../../testdata/guest/console.exp", filepath.Join(e.bin, "vmctl"), "e2e-1")
	exp.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent")
	if out, err := exp.CombinedOutput(); err != nil {
		t.Errorf("console: %v\n%s", err, out)
	}
	// Without a terminal it refuses.
	if _, errOut, code := e.run("vmctl", "console", "e2e-1"); code != 2 || !strings.Contains(errOut, "needs a terminal") {
		t.Errorf("console without a terminal: exit %d, %s", code, errOut)
	}

	e.act("paused", "pause", "e2e-1")
	if s := e.state("e2e-1"); s != "paused" {
		t.Errorf("state after pause: %s", s)
	}
	e.act("resumed", "resume", "e2e-1")
	e.act("none", "resume", "e2e-1")

	e.act("rebooted", "reboot", "e2e-1")
	e.ok(nil, "vmctl", "wait", "e2e-1", "--for", "agent", "--timeout", "2m")

	e.act("stopped", "stop", "e2e-1")
	if s := e.state("e2e-1"); s != "shut_off" {
		t.Errorf("state after stop: %s", s)
	}
	e.act("none", "stop", "e2e-1")
	e.act("restarted", "restart", "e2e-1")
	e.act("destroyed", "kill", "e2e-1")

	// A guest that cannot power off in time: exit 5 without --force, destroyed with it.
	e.act("started", "start", "e2e-2")
	if _, errOut, code := e.run("vmctl", "stop", "e2e-2", "--timeout", "1s"); code != 5 || !strings.Contains(errOut, "did not power off within 1s") {
		t.Errorf("stop --timeout 1s: exit %d, %s", code, errOut)
	}
	if s := e.state("e2e-2"); s != "running" {
		t.Errorf("after timed-out stop: %s", s)
	}
	e.act("destroyed", "stop", "e2e-2", "--timeout", "1s", "--force")

	// Bulk: three guests at once, by glob.
	e.act("started", "start", "e2e-*", "-j", "3")
	var all []struct {
		Name      string
		OK        bool
		Addresses []address
	}
	e.ok(&all, "vmctl", "wait", "e2e-*", "--for", "ip", "--timeout", "4m")
	if len(all) != 3 {
		t.Fatalf("wait e2e-*: %+v", all)
	}
	// Media change on a running guest (e2e-2, not used afterwards): a new ISO from the store shows up in its drive.
	isoDir := t.TempDir()
	isoStore := "/var/lib/libvirt/images/hvctl-e2e-isos"
	t.Cleanup(func() { _ = os.RemoveAll(isoStore) })
	medium := filepath.Join(isoDir, "medium.iso")
	e.env = []string{"HVCTL_PATHS_ISOS=" + isoStore}
	if _, errOut, code := e.run("isoctl", "seed", medium, "--hostname", "medium-host"); code != 0 {
		t.Fatalf("seed: exit %d\n%s", code, errOut)
	}
	// The store's pool is registered on the test driver, not on the host's libvirtd.
	e.ok(nil, "isoctl", "-c", "test:///default", "import", medium)
	if out, errOut, code := e.run("isoctl", "attach", "e2e-2", "medium.iso"); code != 0 {
		t.Fatalf("attach: exit %d\n%s%s", code, out, errOut)
	}
	run := exec.Command("expect", "-f", "../../testdata/guest/run.exp", filepath.Join(e.bin, "vmctl"), "e2e-2",
		// The first read after a media change reports it (unit attention); the retry reads.
		"mkdir -p /m; mount -t iso9660 -o ro /dev/sr0 /m 2>/dev/null || mount -t iso9660 -o ro /dev/sr0 /m; grep -o medium-host /m/meta-data; umount /m", "medium-host")
	run.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent")
	if out, err := run.CombinedOutput(); err != nil {
		t.Errorf("the guest does not see the new medium: %v\n%s", err, out)
	}
	if _, errOut, code := e.run("isoctl", "eject", "e2e-2"); code != 0 {
		t.Errorf("eject: exit %d %s", code, errOut)
	}
	e.env = nil

	e.act("stopped", "stop", "e2e-*", "-j", "3", "--timeout", "2m")

	// Deleting: storage only when asked, and never the install ISO.
	e.act("deleted", "delete", "e2e-1", "--yes")
	if _, err := os.Stat(filepath.Join(poolDir, "e2e-1-data.qcow2")); err != nil {
		t.Errorf("delete without --remove-storage removed the disk: %v", err)
	}
	out, errOut, code = e.run("vmctl", "delete", "e2e-3", "--yes", "--remove-storage")
	if code != 0 || !strings.Contains(errOut, "removed "+poolDir+"/e2e-3-data.qcow2") || !strings.Contains(errOut, "kept "+e.iso+" (install media)") {
		t.Errorf("delete --remove-storage: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(poolDir, "e2e-3-data.qcow2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume of e2e-3 still there: %v", err)
	}
	if _, err := os.Stat(e.iso); err != nil {
		t.Errorf("the ISO went with the VM: %v", err)
	}
	if _, _, code := e.run("vmctl", "show", "e2e-3"); code != 3 {
		t.Errorf("show after delete: exit %d, want 3", code)
	}
}

// A daemon that dies under a running command: the command ends with exit 7 and says so, instead
// of hanging; the next command, with the daemon gone, fails the same way at once.
func TestDaemonDies(t *testing.T) {
	e := setup(t)
	t.Cleanup(func() {
		// Bring libvirtd back for whatever runs next, as scripts/setup-host.sh would.
		if out, err := exec.Command("bash", "../../scripts/setup-host.sh").CombinedOutput(); err != nil {
			t.Errorf("restarting libvirtd: %v\n%s", err, out)
		}
	})
	cmd := exec.Command(filepath.Join(e.bin, "vmctl"), "wait", "e2e-2", "--for", "running", "--timeout", "5m")
	cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent", "XDG_CONFIG_HOME="+e.config)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let it connect and start waiting
	if out, err := exec.Command("pkill", "-x", "libvirtd").CombinedOutput(); err != nil {
		t.Fatalf("pkill libvirtd: %v %s", err, out)
	}
	err := cmd.Wait()
	t.Logf("wait, daemon killed under it: %v: %s", err, strings.TrimSpace(stderr.String()))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 || !strings.Contains(stderr.String(), "lost connection to "+uri) {
		t.Errorf("wait while the daemon died: %v\n%s", err, stderr.String())
	}
	_, errOut, code := e.run("vmctl", "list")
	if code != 7 || !strings.Contains(errOut, "cannot connect to "+uri) || !strings.Contains(errOut, "hint: ") {
		t.Errorf("list without a daemon: exit %d\n%s", code, errOut)
	}
}

// A VM from a profile: an overlay on the guest's qcow2 disk (format read from libvirt), a
// cloud-init seed the guest reads its hostname from, and the always-present console and agent.
func TestCreateFromProfile(t *testing.T) {
	e := setup(t)
	baseDisk := filepath.Join(filepath.Dir(e.iso), "guest-disk.qcow2")
	data, err := os.ReadFile(baseDisk)
	if err != nil {
		t.Fatalf("guest disk: %v (testdata/guest/build.sh makes it)", err)
	}
	// The base arrives as a sysadmin's would: a catalogue entry (here from the configuration)
	// whose file is a glob resolved in the publisher's checksum list, pulled into the image
	// store, and named in the profile by the entry's name, not the file's.
	sum := sha256.Sum256(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/SHA256SUMS":
			fmt.Fprintf(w, "%064d  e2e-guest-1.9.qcow2\n%x  e2e-guest-1.10.qcow2\n", 0, sum)
		case "/e2e-guest-1.10.qcow2":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	store := "/var/lib/libvirt/images/hvctl-e2e-images"
	t.Cleanup(func() {
		if p, err := e.conn.LookupStoragePoolByTargetPath(store); err == nil { // named after its path
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
		_ = os.RemoveAll(store)
	})
	cfg := fmt.Sprintf("[[images]]\nname = \"e2e-guest\"\ndescription = \"the tiny guest's disk\"\nurl = \"%s/{file}\"\nfile = \"e2e-guest-*.qcow2\"\nchecksum_url = \"%s/SHA256SUMS\"\nchecksum_format = \"gnu\"\n", srv.URL, srv.URL)
	if err := os.MkdirAll(filepath.Join(e.config, "hvctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.config, "hvctl", "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = []string{"HVCTL_PATHS_IMAGES=" + store}
	var pulled struct{ Name, Catalog string }
	e.ok(&pulled, "isoctl", "pull", "e2e-guest")
	base := filepath.Join(store, "e2e-guest-1.10.qcow2")
	if pulled.Name != "e2e-guest-1.10.qcow2" || pulled.Catalog != "e2e-guest" {
		t.Fatalf("pulled %+v", pulled)
	}
	dir := t.TempDir()
	prof := filepath.Join(dir, "prof.toml")
	body := `name = "e2e-prof"
domain_type = "qemu"
vcpus = %d
max_vcpus = 2
memory = "256MiB"

[disk]
base_image = "e2e-guest"
size = %q

[[network]]
network = %q

[cloud_init]
hostname = "seeded-host"
user = "ops"
`
	writeProfile := func(vcpus int, size string) {
		if err := os.WriteFile(prof, []byte(fmt.Sprintf(body, vcpus, size, netName)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeProfile(1, "64MiB")
	e.env = append(e.env, "HVCTL_VM_DEFAULTS_POOL="+poolName, "HVCTL_PATHS_PROFILES="+dir)

	var created struct {
		Name       string
		DomainType string `json:"domain_type"`
		Volumes    []string
		Started    bool
		Addresses  []address
	}
	e.ok(&created, "vmctl", "create", "prof", "--start", "--wait", "ip", "--timeout", "4m")
	if created.DomainType != "qemu" || !created.Started || len(created.Volumes) != 2 || len(created.Addresses) == 0 ||
		!strings.HasPrefix(created.Addresses[0].Address, subnet) {
		t.Fatalf("create: %+v", created)
	}
	overlay, seedVol := filepath.Join(poolDir, "e2e-prof.qcow2"), filepath.Join(poolDir, "e2e-prof-cidata.iso")
	if created.Volumes[0] != overlay || created.Volumes[1] != seedVol {
		t.Errorf("volumes: %v", created.Volumes)
	}
	// The overlay names its base and the base's real format; the seed is private.
	ov, err := e.conn.LookupStorageVolByPath(overlay)
	if err != nil {
		t.Fatal(err)
	}
	ox, _ := ov.GetXMLDesc(0)
	_ = ov.Free()
	var vol libvirtxml.StorageVolume
	if err := vol.Unmarshal(ox); err != nil || vol.BackingStore == nil || vol.BackingStore.Path != base ||
		vol.BackingStore.Format == nil || vol.BackingStore.Format.Type != "qcow2" || vol.Capacity.Value != 64<<20 {
		t.Errorf("overlay: %v %+v", err, vol)
	}
	if st, err := os.Stat(seedVol); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("seed volume mode: %v %v", st.Mode(), err)
	}

	// No drift right after create, whatever libvirt added to the definition; a hand edit is
	// drift (exit 1 with --exit-code) until apply puts the profile back.
	if out, errOut, code := e.run("vmctl", "diff", "prof", "--exit-code"); code != 0 {
		t.Errorf("fresh VM drifts: exit %d\n%s%s", code, out, errOut)
	}
	dom, err := e.conn.LookupDomainByName("e2e-prof")
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.SetVcpusFlags(2, libvirt.DOMAIN_VCPU_CONFIG); err != nil {
		t.Fatal(err)
	}
	if out, _, code := e.run("vmctl", "diff", "prof", "--exit-code"); code != 10 || !strings.Contains(out, "vcpus") {
		t.Errorf("hand edit not seen: exit %d\n%s", code, out)
	}
	e.ok(nil, "vmctl", "apply", "prof")
	if out, errOut, code := e.run("vmctl", "diff", "prof", "--exit-code"); code != 0 {
		t.Errorf("drift after apply: exit %d\n%s%s", code, out, errOut)
	}

	// The guest took its hostname from the seed.
	exp := exec.Command("expect", "-f", "../../testdata/guest/console.exp", filepath.Join(e.bin, "vmctl"), "e2e-prof", "seeded-host")
	exp.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent")
	if out, err := exp.CombinedOutput(); err != nil {
		t.Errorf("console shows no seeded hostname: %v\n%s", err, out)
	}
	e.ok(nil, "vmctl", "wait", "e2e-prof", "--for", "agent", "--timeout", "2m")

	// Snapshots with memory: write a file, snapshot, change it, revert, read the old content.
	inGuest := func(command, expected string) {
		t.Helper()
		cmd := exec.Command("expect", "-f", "../../testdata/guest/run.exp", filepath.Join(e.bin, "vmctl"), "e2e-prof", command, expected)
		cmd.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in the guest, %q did not print %q: %v\n%s", command, expected, err, out)
		}
	}
	inGuest("echo before-snapshot > /marker; cat /marker", "before-snapshot")
	e.ok(nil, "vmctl", "snapshot", "create", "e2e-prof", "s1")
	inGuest("echo after-snapshot > /marker; cat /marker", "after-snapshot")
	e.ok(nil, "vmctl", "snapshot", "create", "e2e-prof", "s2")
	var snaps []struct {
		Name, Parent string
		Memory       bool
		Current      bool
		StateBytes   *uint64 `json:"state_bytes"`
	}
	e.ok(&snaps, "vmctl", "snapshot", "list", "e2e-prof")
	if len(snaps) != 2 || snaps[1].Parent != "s1" || !snaps[1].Memory || !snaps[1].Current {
		t.Errorf("snapshot list: %+v", snaps)
	}
	// The saved memory of a 256 MiB guest is tens of MiB, read from the qcow2 snapshot table.
	if len(snaps) == 2 && (snaps[1].StateBytes == nil || *snaps[1].StateBytes < 8<<20) {
		t.Errorf("snapshot state size: %v", snaps[1].StateBytes)
	}
	if _, errOut, code := e.run("vmctl", "snapshot", "revert", "e2e-prof", "s1", "--yes"); code != 0 {
		t.Fatalf("revert: exit %d: %s", code, errOut)
	}
	inGuest("cat /marker", "before-snapshot")
	e.ok(nil, "vmctl", "snapshot", "prune", "e2e-prof", "--keep-last", "1", "--yes")
	e.ok(&snaps, "vmctl", "snapshot", "list", "e2e-prof")
	if len(snaps) != 1 || snaps[0].Name != "s2" {
		t.Errorf("after prune --keep-last 1: %+v", snaps)
	}

	// A second vCPU within max_vcpus: apply plugs it into the running guest, no restart.
	writeProfile(2, "64MiB")
	var drift []struct {
		Key     string
		Restart bool
	}
	e.ok(&drift, "vmctl", "diff", "prof")
	if len(drift) != 1 || drift[0].Key != "vcpus" || drift[0].Restart {
		t.Errorf("vCPU drift: %+v", drift)
	}
	e.ok(nil, "vmctl", "apply", "prof")
	if n, err := dom.GetVcpusFlags(libvirt.DOMAIN_VCPU_LIVE); err != nil || n != 2 {
		t.Errorf("running guest has %d vCPUs (%v), want 2", n, err)
	}
	// Such a VM cannot be restored from a memory snapshot (QEMU starts without the plugged
	// CPU): the snapshot is refused up front instead of failing at revert time.
	if _, errOut, code := e.run("vmctl", "snapshot", "create", "e2e-prof", "s3"); code != 4 || !strings.Contains(errOut, "plugged in since it started") {
		t.Errorf("snapshot after a hot-plug: exit %d %s", code, errOut)
	}

	// A larger disk: apply grows it through QEMU while the guest runs.
	writeProfile(2, "96MiB")
	e.ok(&drift, "vmctl", "diff", "prof")
	if len(drift) != 1 || drift[0].Key != "disk.vda.size" || drift[0].Restart {
		t.Errorf("disk drift: %+v", drift)
	}
	e.ok(nil, "vmctl", "apply", "prof")
	if info, err := dom.GetBlockInfo("vda", 0); err != nil || info.Capacity != 96<<20 {
		t.Errorf("running guest's disk after apply: %+v %v", info, err)
	}
	_ = dom.Free()

	// A linked clone: overlays on the source's volumes, a new seed with its own hostname.
	var cloned struct {
		Volumes []string
		Started bool
	}
	e.ok(&cloned, "vmctl", "clone", "e2e-prof", "e2e-clone", "--linked", "--stop-source", "--start")
	if !cloned.Started || len(cloned.Volumes) != 2 || cloned.Volumes[0] != filepath.Join(poolDir, "e2e-clone.qcow2") {
		t.Fatalf("clone: %+v", cloned)
	}
	e.ok(nil, "vmctl", "wait", "e2e-clone", "--for", "ip", "--timeout", "3m")
	cexp := exec.Command("expect", "-f", "../../testdata/guest/console.exp", filepath.Join(e.bin, "vmctl"), "e2e-clone")
	cexp.Env = append(os.Environ(), "HVCTL_URI="+uri, "HVCTL_SYSTEM_CONFIG=/nonexistent")
	if out, err := cexp.CombinedOutput(); err != nil {
		t.Errorf("the clone did not take its own hostname from its seed: %v\n%s", err, out)
	}
	e.act("deleted", "delete", "e2e-clone", "--yes", "--force", "--remove-storage")
	if _, err := os.Stat(overlay); err != nil {
		t.Errorf("deleting the linked clone took the source's disk: %v", err)
	}
	// The source is stopped now (--stop-source): apply grows the volume itself.
	writeProfile(2, "1GiB")
	e.ok(nil, "vmctl", "apply", "prof")
	if v, err := e.conn.LookupStorageVolByPath(overlay); err != nil {
		t.Error(err)
	} else {
		if info, err := v.GetInfo(); err != nil || info.Capacity != 1<<30 {
			t.Errorf("stopped VM's volume after apply: %+v %v", info, err)
		}
		_ = v.Free()
	}

	// Creating it again is a conflict that touches nothing.
	if _, errOut, code := e.run("vmctl", "create", "prof"); code != 4 || !strings.Contains(errOut, "exists") {
		t.Errorf("second create: exit %d %s", code, errOut)
	}

	// Delete with storage: the overlay and the seed go, the base image stays.
	e.act("deleted", "delete", "e2e-prof", "--yes", "--force", "--remove-storage")
	for _, p := range []string{overlay, seedVol} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived delete --remove-storage: %v", p, err)
		}
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("base image deleted: %v", err)
	}

	// A create that fails after making volumes (the network does not exist, so start fails)
	// leaves no volume and no definition behind.
	if _, errOut, code := e.run("vmctl", "create", "prof", "--name", "e2e-broken", "--set", "network=[{network=\"nope\"}]", "--start"); code == 0 {
		t.Errorf("create on a missing network succeeded: %s", errOut)
	}
	for _, p := range []string{"e2e-broken.qcow2", "e2e-broken-cidata.iso"} {
		if _, err := os.Stat(filepath.Join(poolDir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("orphan %s after a failed create: %v", p, err)
		}
	}
	if _, _, code := e.run("vmctl", "show", "e2e-broken"); code != 3 {
		t.Errorf("failed create left a definition (show exit %d)", code)
	}
}

// A pull into a store filled through libvirt (as for a remote host): verified in a local
// staging directory, then uploaded by stream into the store's pool with its record.
func TestPullThroughLibvirt(t *testing.T) {
	e := setup(t)
	data := bytes.Repeat([]byte("hvctl"), 300000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "img.iso", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	store := "/var/lib/libvirt/images/hvctl-e2e-upload"
	t.Cleanup(func() {
		if p, err := e.conn.LookupStoragePoolByTargetPath(store); err == nil { // named after its path
			_ = p.Destroy()
			_ = p.Undefine()
			_ = p.Free()
		}
		_ = os.RemoveAll(store)
	})
	sum := sha256.Sum256(data)
	e.env = []string{"HVCTL_PATHS_ISOS=" + store, "XDG_CACHE_HOME=" + t.TempDir()}
	var rec struct {
		Verified bool
		SHA256   string
	}
	e.ok(&rec, "isoctl", "pull", srv.URL+"/img.iso", "--sha256", hex.EncodeToString(sum[:]), "--via-libvirt")
	got, err := os.ReadFile(filepath.Join(store, "img.iso"))
	if err != nil || !bytes.Equal(got, data) || !rec.Verified {
		t.Fatalf("uploaded image: %v, %d bytes, %+v", err, len(got), rec)
	}
	e.ok(nil, "isoctl", "verify", "img.iso")
	// The pool knows it as a volume.
	if v, err := e.conn.LookupStorageVolByPath(filepath.Join(store, "img.iso")); err != nil {
		t.Errorf("not a volume: %v", err)
	} else {
		_ = v.Free()
	}
	// The store read through libvirt only, as from another host: list, verify, rm.
	e.env = append(e.env, "HVCTL_STORE_VIA_LIBVIRT=1")
	var listed []struct {
		Name     string
		Verified bool
		Store    string
	}
	e.ok(&listed, "isoctl", "list")
	if len(listed) != 1 || listed[0].Name != "img.iso" || !listed[0].Verified {
		t.Errorf("remote list: %+v", listed)
	}
	e.ok(nil, "isoctl", "verify", "img.iso")
	// Flip a byte at rest: the streamed hash finds it.
	f, err := os.OpenFile(filepath.Join(store, "img.iso"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteAt([]byte("X"), 1000)
	f.Close()
	if _, errOut, code := e.run("isoctl", "verify", "img.iso"); code != 8 {
		t.Errorf("remote verify of a changed image: exit %d %s", code, errOut)
	}
	if _, errOut, code := e.run("isoctl", "rm", "img.iso", "--yes"); code != 0 {
		t.Errorf("rm: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(store, "img.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("remote rm left the image: %v", err)
	}
	e.env = e.env[:len(e.env)-1]
	e.ok(nil, "isoctl", "pull", srv.URL+"/img.iso", "--sha256", hex.EncodeToString(sum[:]), "--via-libvirt")

	// Again: the store has it already, nothing is uploaded twice.
	if _, errOut, code := e.run("isoctl", "pull", srv.URL+"/img.iso", "--sha256", hex.EncodeToString(sum[:]), "--via-libvirt"); code != 4 {
		t.Errorf("second pull: exit %d %s", code, errOut)
	}
}

// hostPrefix is the IPv4 subnet of this host's first ordinary interface (not loopback, not
// a bridge of these tests), as CIDR.
func hostPrefix() (string, bool) {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "hvbr") || strings.HasPrefix(ifc.Name, "virbr") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ones, _ := ipn.Mask.Size()
				if ones >= 8 && ones <= 29 {
					return ipn.String(), true
				}
			}
		}
	}
	return "", false
}
