package net

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestNetworkDef(t *testing.T) {
	def, prefix, err := networkDef("lab", createOptions{subnet: "10.50.0.77/24", forward: "isolated", dhcpRange: "auto", bridge: "br-lab", domain: "lab.test"})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := def.Marshal()
	for _, want := range []string{`<ip address="10.50.0.1" prefix="24">`, `<range start="10.50.0.2" end="10.50.0.254">`, `<bridge name="br-lab" stp="on" delay="0">`, `<domain name="lab.test" localOnly="yes">`} {
		if !strings.Contains(x, want) {
			t.Errorf("missing %s in\n%s", want, x)
		}
	}
	if strings.Contains(x, "<forward") || prefix.String() != "10.50.0.0/24" {
		t.Errorf("an isolated network has no <forward>: %s (%s)", x, prefix)
	}
	def, _, _ = networkDef("lab", createOptions{subnet: "10.50.0.0/29", forward: "nat", dhcpRange: "10.50.0.3-10.50.0.5"})
	if x, _ := def.Marshal(); !strings.Contains(x, `<forward mode="nat">`) || !strings.Contains(x, `<range start="10.50.0.3" end="10.50.0.5">`) {
		t.Errorf("nat with a range: %s", x)
	}
	def, _, _ = networkDef("lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "none"})
	if x, _ := def.Marshal(); strings.Contains(x, "<dhcp") {
		t.Errorf("dhcp none: %s", x)
	}
	for _, c := range []struct {
		name string
		o    createOptions
		msg  string
	}{
		{"lab", createOptions{subnet: "10.50.0.0", forward: "isolated", dhcpRange: "auto"}, "want an IPv4 CIDR"},
		{"lab", createOptions{subnet: "fd00::/64", forward: "isolated", dhcpRange: "auto"}, "want an IPv4 CIDR"},
		{"lab", createOptions{subnet: "10.50.0.0/30", forward: "isolated", dhcpRange: "auto"}, "/8 to /29"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "bridge", dhcpRange: "auto"}, "want isolated, nat or route"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "10.50.1.2-10.50.1.9"}, "inside 10.50.0.0/24"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "10.50.0.1-10.50.0.9"}, "above the host's 10.50.0.1"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "10.50.0.9-10.50.0.2"}, "want START-END"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "10.50.0.9-10.50.0.255"}, "below the broadcast"},
		{"lab", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "auto", bridge: "a-very-long-bridge-name"}, "at most 15 characters"},
		{"../x", createOptions{subnet: "10.50.0.0/24", forward: "isolated", dhcpRange: "auto"}, "network"},
	} {
		_, _, err := networkDef(c.name, c.o)
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want a usage error with %q", c.o, err, c.msg)
		}
	}
}
