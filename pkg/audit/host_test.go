package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// byID runs the controls over inv and returns the findings of each ID.
func byID(t *testing.T, inv *Inventory, ids ...string) map[string][]model.Finding {
	out := map[string][]model.Finding{}
	found := Run(inv, only(ids...), nil)
	actionable(t, found)
	for _, f := range found {
		out[f.ID] = append(out[f.ID], f)
	}
	return out
}

// One missing IOMMU is one finding (HOST-007); the kernel parameter is advised only for the
// IOMMU the firmware has.
func TestIOMMUReportedOnce(t *testing.T) {
	none := t.TempDir()
	f := byID(t, &Inventory{Root: none, Local: true}, "HOST-007", "HOST-008")
	if f["HOST-007"][0].Status != "fail" || f["HOST-008"][0].Status != "skipped" {
		t.Errorf("no IOMMU in firmware: %+v", f)
	}
	for table, param := range map[string]string{"DMAR": "intel_iommu=on", "IVRS": "amd_iommu=on"} {
		root := t.TempDir()
		write(t, root, map[string]string{"sys/firmware/acpi/tables/" + table: ""})
		f := byID(t, &Inventory{Root: root, Local: true}, "HOST-007", "HOST-008")
		h8 := f["HOST-008"][0]
		if f["HOST-007"][0].Status != "pass" || h8.Status != "fail" || !strings.Contains(h8.Remediation, param) {
			t.Errorf("%s: %+v", table, f)
		}
		if other := map[string]string{"DMAR": "amd_iommu", "IVRS": "intel_iommu"}[table]; strings.Contains(h8.Remediation, other) {
			t.Errorf("%s: advises %s: %s", table, other, h8.Remediation)
		}
	}
}

// procTCP is /proc/net/tcp with LISTEN sockets: "0500000A:170D" is 10.0.0.5:5901, by inode.
func procTCP(socks map[string]string) string {
	out := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for addr, inode := range socks {
		out += "   0: " + addr + " 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 " + inode + "\n"
	}
	return out
}

// A listener on 5900–5999 is a display only when a QEMU process owns it; QEMU-owned
// websocket (5700+) and migration (49152+) listeners count too, each with its VM and process.
func TestListenersOwnedByQEMU(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"proc/net/tcp": procTCP(map[string]string{
			"0500000A:170D": "111", // 10.0.0.5:5901, owned by a VNC server outside libvirt
			"0500000A:170E": "222", // 10.0.0.5:5902, QEMU of vm1
			"0500000A:1644": "333", // 10.0.0.5:5700, QEMU websocket
			"0500000A:C000": "444", // 10.0.0.5:49152, QEMU incoming migration
			"0100007F:170F": "555", // 127.0.0.1:5903, QEMU on loopback
		}),
		"proc/100/comm": "Xvnc\n", "proc/200/comm": "qemu-system-x86\n", "run/libvirt/qemu/vm1.pid": "200",
	})
	for pid, inodes := range map[string][]string{"100": {"111"}, "200": {"222", "333", "444", "555"}} {
		for i, inode := range inodes {
			fd := filepath.Join(root, "proc", pid, "fd", string(rune('3'+i)))
			_ = os.MkdirAll(filepath.Dir(fd), 0o755)
			if err := os.Symlink("socket:["+inode+"]", fd); err != nil {
				t.Fatal(err)
			}
		}
	}
	inv := &Inventory{Root: root, Local: true, Domains: []Domain{{Name: "vm1", Def: &libvirtxml.Domain{Name: "vm1"}, Live: &libvirtxml.Domain{Name: "vm1"}}}}
	var got []string
	for _, f := range byID(t, inv, "HOST-024")["HOST-024"] {
		got = append(got, f.Status+" "+f.Target+" "+f.Location.VM+" "+f.Location.Process)
	}
	want := "fail 10.0.0.5:49152 vm1 pid 200 (qemu-system-x86)\nfail 10.0.0.5:5700 vm1 pid 200 (qemu-system-x86)\nfail 10.0.0.5:5902 vm1 pid 200 (qemu-system-x86)"
	if strings.Join(got, "\n") != want {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// Port 16509 is libvirt's TCP only when libvirt (or systemd's socket unit) holds it, or no
// process says who does; another program on the port is not an open libvirt API.
func TestLibvirtTCPListenerOwner(t *testing.T) {
	for _, tc := range []struct {
		comm string // of the process holding the socket
		want string
	}{
		{"libvirtd", "fail"}, {"virtproxyd", "fail"}, {"systemd", "fail"}, {"python3", "pass"},
	} {
		root := t.TempDir()
		write(t, root, map[string]string{
			"proc/net/tcp": procTCP(map[string]string{"00000000:407D": "111"}), // 0.0.0.0:16509
		})
		write(t, root, map[string]string{"proc/100/comm": tc.comm + "\n"})
		fd := filepath.Join(root, "proc/100/fd/3")
		_ = os.MkdirAll(filepath.Dir(fd), 0o755)
		if err := os.Symlink("socket:[111]", fd); err != nil {
			t.Fatal(err)
		}
		inv := &Inventory{Root: root, Local: true, RemoteConf: conf(t, "libvirtd.conf", "")}
		got := byID(t, inv, "HOST-024", "DAEMON-001")
		if s := got["HOST-024"][0].Status; s != tc.want {
			t.Errorf("%q on 0.0.0.0:16509: HOST-024 %s, want %s", tc.comm, s, tc.want)
		}
		if d := got["DAEMON-001"][0]; (tc.want == "fail") != strings.Contains(d.Detail, "a socket listens on 0.0.0.0:16509") {
			t.Errorf("%q on 0.0.0.0:16509: DAEMON-001 %s %q", tc.comm, d.Status, d.Detail)
		}
	}
}

// ptrace scope and perf_event_paranoid are hardening sysctls too.
func TestHardeningSysctls(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"proc/sys/kernel/yama/ptrace_scope": "0", "proc/sys/kernel/perf_event_paranoid": "1", "proc/sys/kernel/kptr_restrict": "2"})
	f := byID(t, &Inventory{Root: root, Local: true}, "HOST-021")["HOST-021"][0]
	if f.Status != "fail" || f.Detail != "kernel.yama.ptrace_scope=0 (want 1, 2 or 3), kernel.perf_event_paranoid=1 (want 2 or 3)" {
		t.Errorf("HOST-021: %s %q", f.Status, f.Detail)
	}
	write(t, root, map[string]string{"proc/sys/kernel/yama/ptrace_scope": "1", "proc/sys/kernel/perf_event_paranoid": "3"})
	if f := byID(t, &Inventory{Root: root, Local: true}, "HOST-021")["HOST-021"][0]; f.Status != "pass" {
		t.Errorf("HOST-021: %s %q", f.Status, f.Detail)
	}
}

// The host firewall is judged on its input path, outside libvirt's own tables and chains.
func TestHostFirewall(t *testing.T) {
	cases := []struct {
		fw     *Firewall
		status string
	}{
		{&Firewall{Source: "nft list ruleset", Rules: "table ip libvirt_network {\n\tchain guest_input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n"}, "fail"},
		{&Firewall{Source: "nft list ruleset", Rules: "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established accept\n\t}\n}\n"}, "pass"},
		{&Firewall{Source: "nft list ruleset", Rules: "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 16509 drop\n\t}\n}\n"}, "pass"},
		{&Firewall{Source: "iptables-save", Rules: "*filter\n:INPUT ACCEPT [0:0]\n:LIBVIRT_INP - [0:0]\n-A INPUT -j LIBVIRT_INP\nCOMMIT\n"}, "fail"},
		{&Firewall{Source: "iptables-save", Rules: "*filter\n:INPUT DROP [0:0]\nCOMMIT\n"}, "pass"},
		{&Firewall{Err: errors.New("iptables-save: permission denied")}, "error"},
		{nil, "skipped"},
	}
	for i, c := range cases {
		f := byID(t, &Inventory{Root: t.TempDir(), Local: true, Firewall: c.fw}, "HOST-022")["HOST-022"][0]
		if f.Status != c.status {
			t.Errorf("case %d: %s %s, want %s", i, f.Status, f.Detail, c.status)
		}
	}
}

// Members of the libvirt group (listed or by primary group) and of unix_sock_group are
// root-equivalent; the confidential-guest capability is read from the kvm module.
func TestGroupMembersAndConfidentialGuests(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"etc/group":                          "root:x:0:\nlibvirt:x:120:alice\nvirtops:x:130:carol\n",
		"etc/passwd":                         "bob:x:1001:120::/home/bob:/bin/sh\n",
		"sys/module/kvm_amd/parameters/sev":  "Y",
		"dev/sev":                            "",
		"sys/module/kvm_amd/parameters/nest": "",
	})
	inv := &Inventory{Root: root, Local: true, RemoteConf: conf(t, "libvirtd.conf", `unix_sock_group = "virtops"`)}
	inv.DriverConf = inv.RemoteConf
	f := byID(t, inv, "HOST-025", "HOST-009", "VM-031")
	if g := f["HOST-025"][0]; g.Status != "fail" || !strings.Contains(g.Detail, "alice, bob, carol") {
		t.Errorf("HOST-025: %+v", g)
	}
	if g := f["HOST-009"][0]; g.Status != "pass" || g.Detail != "the host offers sev" {
		t.Errorf("HOST-009: %+v", g)
	}
	inv.Domains = []Domain{{Name: "plain", Def: domain(t, `<domain type="kvm"><name>plain</name></domain>`)}}
	if g := byID(t, inv, "VM-031")["VM-031"][0]; g.Status != "fail" || g.Severity != "info" {
		t.Errorf("VM-031: %+v", g)
	}
}

// libvirt's DAC base label says how the next QEMU starts, with no VM running; portgroups that
// trust guest RX filters count as the network's own attribute does.
func TestBaseLabelAndPortgroups(t *testing.T) {
	caps := &libvirtxml.Caps{Host: libvirtxml.CapsHost{SecModel: []libvirtxml.CapsHostSecModel{{Name: "dac",
		Labels: []libvirtxml.CapsHostSecModelLabel{{Type: "kvm", Value: "+0:+0"}, {Type: "qemu", Value: "+0:+0"}}}}}}
	inv := &Inventory{Root: t.TempDir(), Local: true, Caps: caps, QEMUConf: conf(t, "qemu.conf", "\nuser = \"root\"\n"),
		Networks: []*libvirtxml.Network{{Name: "n", PortGroups: []libvirtxml.NetworkPortGroup{{Name: "a"}, {Name: "trusting", TrustGuestRxFilters: "yes"}}}}}
	f := byID(t, inv, "HOST-013", "NET-003")
	if x := f["HOST-013"][0]; x.Status != "fail" || x.Location.Line != 2 || !strings.Contains(x.Detail, "base label for kvm domains is +0:+0") {
		t.Errorf("HOST-013: %+v %+v", x, x.Location)
	}
	if x := f["NET-003"][0]; x.Status != "fail" || x.Location.Device != "portgroup trusting" {
		t.Errorf("NET-003: %+v", x)
	}
	caps.Host.SecModel[0].Labels = []libvirtxml.CapsHostSecModelLabel{{Type: "kvm", Value: "+64055:+994"}}
	if x := byID(t, inv, "HOST-013")["HOST-013"][0]; x.Status != "skipped" {
		t.Errorf("unprivileged base label, no running VM: %+v", x)
	}
}
