package audit

import (
	"errors"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// An inactive NAT network does not need forwarding; loose reverse-path filtering (2) does not
// drop spoofed sources.
func TestForwardingAndRPFilter(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"proc/sys/net/ipv4/ip_forward": "1", "proc/sys/net/ipv4/conf/all/rp_filter": "2", "proc/sys/net/ipv4/conf/default/rp_filter": "1"})
	nat := &libvirtxml.Network{Name: "default", Forward: &libvirtxml.NetworkForward{Mode: "nat"}}
	inv := &Inventory{Root: root, Local: true, Networks: []*libvirtxml.Network{nat}, NetworkActive: map[string]bool{"default": false}}
	f := byID(t, inv, "NET-006")["NET-006"][0]
	if f.Status != "fail" || !strings.Contains(f.Detail, "ip_forward=1 though no running") || !strings.Contains(f.Detail, "rp_filter is loose") {
		t.Errorf("NET-006: %s %q", f.Status, f.Detail)
	}
	write(t, root, map[string]string{"proc/sys/net/ipv4/conf/all/rp_filter": "1"})
	inv.NetworkActive["default"] = true
	if f := byID(t, inv, "NET-006")["NET-006"][0]; f.Status != "pass" {
		t.Errorf("NET-006 with a running NAT network and strict rp_filter: %s %q", f.Status, f.Detail)
	}
}

// Guests of several VMs on one NAT network without port isolation reach each other; the
// migration address on a guest bridge is reported; filters that cannot be listed are an error.
func TestNetworkIsolationAndSeparation(t *testing.T) {
	nat := &libvirtxml.Network{Name: "default", Forward: &libvirtxml.NetworkForward{Mode: "nat"}, IPs: []libvirtxml.NetworkIP{{Address: "192.168.122.1"}}}
	isolated := &libvirtxml.Network{Name: "iso", Forward: &libvirtxml.NetworkForward{Mode: "nat"}, PortOptions: &libvirtxml.NetworkPortOptions{Isolated: "yes"}}
	nic := func(name, net string) Domain {
		return Domain{Name: name, Def: domain(t, `<domain type="kvm"><name>`+name+`</name><devices><interface type="network"><source network="`+net+`"/></interface></devices></domain>`)}
	}
	inv := &Inventory{Root: t.TempDir(), Local: true, Networks: []*libvirtxml.Network{nat, isolated},
		Domains:  []Domain{nic("a", "default"), nic("b", "default"), nic("c", "iso"), nic("d", "iso")},
		QEMUConf: conf(t, "qemu.conf", `migration_address = "192.168.122.1"`), FiltersErr: errors.New("no nwfilter")}
	f := byID(t, inv, "NET-004", "NET-007", "NET-005")
	var got []string
	for _, id := range []string{"NET-004", "NET-005", "NET-007"} {
		for _, x := range f[id] {
			got = append(got, id+" "+x.Target+" "+x.Status)
		}
	}
	if want := "NET-004 default fail,NET-004 iso pass,NET-005 network error,NET-007 host fail"; strings.Join(got, ",") != want {
		t.Errorf("got %s\nwant %s", strings.Join(got, ","), want)
	}
}
