package netcmd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/app"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/virt"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
	"libvirt.org/go/libvirtxml"
)

// netctl runs one invocation in-process against test:///default, whose state lives as long
// as some connection to it does (the test holds one).
func netctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Prog = "netctl"
	code := app.Run(append([]string{"netctl"}, args...), f)
	return out.String(), errOut.String(), code
}

func TestNetworkFlow(t *testing.T) {
	c, err := virt.Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	must := func(want int, wantOut string, args ...string) string {
		t.Helper()
		out, errOut, code := netctl(t, args...)
		if code != want || !strings.Contains(out+errOut, wantOut) {
			t.Fatalf("netctl %v: exit %d (want %d)\n%s%s\nwant %q", args, code, want, out, errOut, wantOut)
		}
		return out
	}
	must(0, `"forward":"isolated"`, "create", "lab", "--subnet", "198.51.100.0/24", "--bridge", "hvbr-lab0", "--autostart", "--json")
	must(0, "lab       active   yes", "list")
	// Conflicts: the name, the bridge, an overlapping subnet.
	must(4, "network lab exists", "create", "lab", "--subnet", "203.0.113.0/24")
	must(4, "bridge hvbr-lab0 belongs to network lab", "create", "lab2", "--subnet", "203.0.113.0/24", "--bridge", "hvbr-lab0")
	must(4, "198.51.100.128/25 overlaps network lab (198.51.100.0/24)", "create", "lab2", "--subnet", "198.51.100.128/25")
	// Stop and start say what they did.
	must(0, "lab    stopped   ok", "stop", "lab")
	must(0, "lab    none     ok", "stop", "lab")
	must(0, "lab    started   ok", "start", "lab")
	// autostart reads as vmctl's: on|off, then names or globs; the old order warns.
	must(0, "lab    autostart_off   ok", "autostart", "off", "l*")
	must(0, "lab    none     ok", "autostart", "off", "lab") // already off: nothing to do, as for a VM
	must(0, "false", "list", "lab", "--jq", ".[0].autostart")
	must(0, "deprecated: write 'autostart on lab'", "autostart", "lab", "on")
	must(0, "true", "list", "lab", "--jq", ".[0].autostart")
	// A plain name that matches nothing is not found (a glob that matches nothing is empty).
	must(3, "network nope not found", "list", "lab", "nope")
	if out := must(0, "", "list", "nope-*", "-o", "name"); out != "" {
		t.Errorf("a glob matching nothing listed %q", out)
	}
	must(3, "no network matches nope-*", "leases", "nope-*")
	// Globs and several names, as vmctl's lifecycle verbs take them.
	must(0, "lab    stopped   ok", "stop", "la?")
	must(0, "lab    started   ok", "start", "la*", "lab")
	// --all is destructive for stop: no terminal and no --yes is exit 2, nothing stopped.
	must(2, "would stop networks: default, lab;", "stop", "--all")
	must(0, "true", "list", "lab", "--jq", ".[0].active")
	// Cutting off running VMs with --force is confirmed too.
	must(2, "would stop networks: default (cutting off running VMs test);", "stop", "default", "--force")
	// Several at once: one result each, exit 6 when some fail.
	out := must(6, "stop failed for 1 of 2 targets", "stop", "lab", "nope")
	if !strings.Contains(out, "nope   -         error: network nope not found") {
		t.Errorf("bulk stop:\n%s", out)
	}
	// A failed target did nothing: its action is empty.
	must(6, `{"name":"nope","ok":false,"action":"","error":"network nope not found","code":"not_found"}`, "start", "lab", "nope", "--json")
	// Fixed addresses: in the subnet, not the host's, one per MAC and address.
	must(0, `{"network":"lab","action":"reserved","mac":"52:54:00:12:34:56","ip":"198.51.100.10","name":"web01"}`,
		"reserve", "lab", "--mac", "52-54-00-12-34-56", "--ip", "198.51.100.10", "--name", "web01", "--json")
	must(0, `"reservations":[{"mac":"52:54:00:12:34:56","ip":"198.51.100.10","name":"web01"}]`, "show", "lab", "--json")
	must(4, "lab already reserves 198.51.100.10 for 52:54:00:12:34:56", "reserve", "lab", "--mac", "52:54:00:aa:bb:cc", "--ip", "198.51.100.10")
	must(2, "not in the subnet of lab", "reserve", "lab", "--mac", "52:54:00:aa:bb:cc", "--ip", "10.9.9.9")
	must(2, "the host's own address", "reserve", "lab", "--mac", "52:54:00:aa:bb:cc", "--ip", "198.51.100.1")
	must(2, "multicast", "reserve", "lab", "--mac", "01:54:00:aa:bb:cc", "--ip", "198.51.100.11")
	// The subnet's network and broadcast addresses are nobody's: dnsmasq would never hand them out.
	must(2, "198.51.100.255 is the network or broadcast address of lab (198.51.100.0/24)", "reserve", "lab", "--mac", "52:54:00:aa:bb:cc", "--ip", "198.51.100.255")
	must(2, "198.51.100.0 is the network or broadcast address of lab", "reserve", "lab", "--mac", "52:54:00:aa:bb:cc", "--ip", "198.51.100.0")
	must(0, "198.51.100.10 no longer reserved", "unreserve", "lab", "--ip", "198.51.100.10")
	must(0, "lab\n", "show", "lab", "-o", "name")
	must(0, `"reservations":[]`, "show", "lab", "--json")
	must(3, "lab has no reservation for 52:54:00:12:34:56", "unreserve", "lab", "--mac", "52:54:00:12:34:56")
	// --all and a glob without a terminal and --yes are refused naming the matched networks,
	// as one name is: --all exited 0 having said and done nothing, a glob named itself.
	must(2, "not confirmed: refusing to delete without confirmation (use --yes)\nhint: would delete networks: default, lab;", "delete", "--all")
	must(2, "hint: would delete networks: lab;", "delete", "la*")
	must(0, "true", "list", "lab", "--jq", ".[0].active")
	must(0, "lab    deleted   ok", "delete", "lab", "--yes")
	must(3, "network lab not found", "show", "lab")
	// The running VM "test" is on default: --force and a warning to delete it.
	must(4, "running VMs use default: test", "delete", "default", "--yes")
	// The way back after a forced delete is a network of that name; a restart alone fails.
	must(4, "stay cut off and they cannot start again until a network named default exists and runs", "delete", "default", "--yes")
	must(0, "warning: deleting default under running VMs: test", "delete", "default", "--yes", "--force")
	if out := must(0, "", "list", "-o", "name"); out != "" {
		t.Errorf("networks left: %q", out)
	}
}

// A network with a second IPv4 subnet serves DHCP on one only: libvirt puts every reservation
// there, and dnsmasq would ignore an address of the other subnet.
func TestReserveInTheDHCPSubnet(t *testing.T) {
	c, err := virt.Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	def := &libvirtxml.Network{Name: "two", IPs: []libvirtxml.NetworkIP{
		{Address: "198.51.100.1", Prefix: 24, DHCP: &libvirtxml.NetworkDHCP{Ranges: []libvirtxml.NetworkDHCPRange{{Start: "198.51.100.2", End: "198.51.100.99"}}}},
		{Address: "203.0.113.1", Prefix: 24},
	}}
	if err := c.DefineNetwork(context.Background(), def, false, false); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := netctl(t, "reserve", "two", "--mac", "52:54:00:aa:bb:01", "--ip", "203.0.113.5"); code != 2 ||
		!strings.Contains(errOut, "203.0.113.5 is not in 198.51.100.0/24, the subnet two serves DHCP on") {
		t.Errorf("a reservation outside the DHCP subnet: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := netctl(t, "reserve", "two", "--mac", "52:54:00:aa:bb:01", "--ip", "198.51.100.5"); code != 0 {
		t.Errorf("a reservation in the DHCP subnet: exit %d\n%s%s", code, out, errOut)
	}
}

// On a terminal, delete lists the matched networks (not the glob) and acts only on "y".
func TestDeleteAsksOnTerminal(t *testing.T) {
	c, err := virt.Open(context.Background(), "test:///default", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, errOut, code := netctl(t, "create", "lab-a", "--subnet", "198.51.100.0/24"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := netctl(t, "create", "lab-b", "--subnet", "203.0.113.0/24"); code != 0 {
		t.Fatal(errOut)
	}
	answer := func(reply string, args ...string) (string, string, int) {
		f, out, errOut := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		f.Prog = "netctl"
		f.IO.SetTTY(true, false, true)
		f.IO.In = strings.NewReader(reply)
		code := app.Run(append([]string{"netctl"}, args...), f)
		return out.String(), errOut.String(), code
	}
	_, errOut, code := answer("n\n", "delete", "lab-*")
	if code != 2 || !strings.Contains(errOut, "lab-a\n") || !strings.Contains(errOut, "lab-b\n") || strings.Contains(errOut, "lab-*\n") {
		t.Errorf("answered n: exit %d\n%s", code, errOut)
	}
	if out, _, _ := netctl(t, "list", "lab-*", "-o", "name"); out != "lab-a\nlab-b\n" {
		t.Errorf("refused delete removed networks: %q", out)
	}
	if out, errOut, code := answer("y\n", "delete", "lab-*"); code != 0 || !strings.Contains(out, "lab-a   deleted   ok") {
		t.Errorf("answered y: exit %d\n%s%s", code, out, errOut)
	}
}

// Shut-off VMs whose definitions name a network do not stop its delete or stop (they use
// nothing now), but the question and a warning name them, in table and JSON output alike: they
// will not start until the network is back.
func TestStopAndDeleteNameShutOffUsers(t *testing.T) {
	c := virttest.Open(t)
	if _, errOut, code := netctl(t, "create", "lab-off", "--subnet", "198.51.100.0/24"); code != 0 {
		t.Fatal(errOut)
	}
	nic := `<devices><interface type='network'><source network='lab-off'/></interface></devices>`
	for _, n := range []string{"web01", "db01"} {
		virttest.Define(t, c, `<domain type='test'><name>`+n+`</name><memory>65536</memory><os><type>hvm</type></os>`+nic+`</domain>`)
	}
	// Without a terminal and --yes, the refusal's hint names them (stop connects to ask).
	_, errOut, code := netctl(t, "stop", "--all")
	if code != 2 || !strings.Contains(errOut, "lab-off (db01, web01 (shut off) name it and will not start until it is started again)") {
		t.Errorf("stop --all without --yes: exit %d\n%s", code, errOut)
	}
	out, errOut, code := netctl(t, "stop", "lab-off", "--json")
	if code != 0 || !strings.Contains(out, `"action":"stopped"`) ||
		!strings.Contains(errOut, "netctl: warning: db01, web01 (shut off) name lab-off and will not start until it is started again\n") {
		t.Errorf("stop: exit %d\n%s%s", code, out, errOut)
	}
	// Stopped already: nothing done, nothing to warn of.
	if _, errOut, code := netctl(t, "stop", "lab-off"); code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("stop again: exit %d\n%s", code, errOut)
	}
	// On a terminal, the question names them.
	f, _, errBuf := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Prog = "netctl"
	f.IO.SetTTY(true, false, true)
	f.IO.In = strings.NewReader("n\n")
	if code := app.Run([]string{"netctl", "delete", "lab-off"}, f); code != 2 ||
		!strings.Contains(errBuf.String(), "Delete networks: lab-off (db01, web01 (shut off) name it and will not start until it exists again)? [y/N]") {
		t.Errorf("delete on a terminal: exit %d\n%s", code, errBuf)
	}
	out, errOut, code = netctl(t, "delete", "lab-off", "--yes")
	if code != 0 || !strings.Contains(out, "lab-off   deleted   ok") ||
		!strings.Contains(errOut, "netctl: warning: db01, web01 (shut off) name lab-off and will not start until it exists again\n") {
		t.Errorf("delete: exit %d\n%s%s", code, out, errOut)
	}
}
