package netcmd

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestNetworkDef(t *testing.T) {
	def, prefix, err := networkDef(&CreateOptions{Name: "lab", Subnet: "10.50.0.77/24", Forward: "isolated", DHCPRange: "auto", Bridge: "br-lab", Domain: "lab.test"})
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
	def, _, _ = networkDef(&CreateOptions{Name: "lab", Subnet: "10.50.0.0/29", Forward: "nat", DHCPRange: "10.50.0.3-10.50.0.5"})
	if x, _ := def.Marshal(); !strings.Contains(x, `<forward mode="nat">`) || !strings.Contains(x, `<range start="10.50.0.3" end="10.50.0.5">`) {
		t.Errorf("nat with a range: %s", x)
	}
	def, _, _ = networkDef(&CreateOptions{Name: "lab", Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "none"})
	if x, _ := def.Marshal(); strings.Contains(x, "<dhcp") {
		t.Errorf("dhcp none: %s", x)
	}
	for _, c := range []struct {
		name string
		o    CreateOptions
		msg  string
	}{
		{"lab", CreateOptions{Subnet: "10.50.0.0", Forward: "isolated", DHCPRange: "auto"}, "want an IPv4 CIDR"},
		{"lab", CreateOptions{Subnet: "fd00::/64", Forward: "isolated", DHCPRange: "auto"}, "want an IPv4 CIDR"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/30", Forward: "isolated", DHCPRange: "auto"}, "/8 to /29"},
		{"lab", CreateOptions{Subnet: "127.5.0.0/16", Forward: "isolated", DHCPRange: "auto"}, "loopback, multicast or reserved"},
		{"lab", CreateOptions{Subnet: "224.1.0.0/16", Forward: "isolated", DHCPRange: "auto"}, "loopback, multicast or reserved"},
		{"lab", CreateOptions{Subnet: "0.0.0.0/8", Forward: "isolated", DHCPRange: "auto"}, "loopback, multicast or reserved"},
		{"lab", CreateOptions{Subnet: "240.0.0.0/8", Forward: "isolated", DHCPRange: "auto"}, "loopback, multicast or reserved"},
		{"lab", CreateOptions{Subnet: "255.255.255.0/24", Forward: "isolated", DHCPRange: "auto"}, "loopback, multicast or reserved"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "bridge", DHCPRange: "auto"}, "want isolated, nat or route"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "10.50.1.2-10.50.1.9"}, "inside 10.50.0.0/24"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "10.50.0.1-10.50.0.9"}, "above the host's 10.50.0.1"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "10.50.0.9-10.50.0.2"}, "want START-END"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "10.50.0.9-10.50.0.255"}, "below the broadcast"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", Bridge: "a-very-long-bridge-name"}, "at most 15 characters"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", Domain: "my lab"}, "want a DNS name"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", Domain: "lab..test"}, "want a DNS name"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", Domain: "-lab.test"}, "want a DNS name"},
		{"lab", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", Domain: "lab/x"}, "want a DNS name"},
		{"../x", CreateOptions{Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto"}, "network"},
	} {
		c.o.Name = c.name
		_, _, err := networkDef(&c.o)
		if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want a usage error with %q", c.o, err, c.msg)
		}
	}
}

func TestNewCmdCreate(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    CreateOptions
		wantErr string
	}{
		{args: []string{"lab", "--subnet", "10.50.0.0/24"}, want: CreateOptions{Name: "lab", Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto"}},
		{args: []string{"lab", "--subnet", "10.50.0.0/24", "--forward", "nat", "--bridge", "br-lab", "--dhcp-range", "none", "--domain", "lab.test", "--autostart", "--no-start"},
			want: CreateOptions{Name: "lab", Subnet: "10.50.0.0/24", Forward: "nat", Bridge: "br-lab", DHCPRange: "none", Domain: "lab.test", Autostart: true, NoStart: true}},
		{args: []string{"lab", "--subnet", "10.50.0.0/24", "--dry-run"}, want: CreateOptions{Name: "lab", Subnet: "10.50.0.0/24", Forward: "isolated", DHCPRange: "auto", DryRun: true}},
		{args: []string{"lab"}, wantErr: "subnet"},
		{args: []string{"--subnet", "10.50.0.0/24"}, wantErr: "takes the new network's name"},
		{args: []string{"lab", "--subnet", "10.50.0.0/24", "--forward", "bridge"}, wantErr: "want one of isolated, nat, route"},
		{args: []string{"lab", "--subnet", "fd00::/64"}, wantErr: "want an IPv4 CIDR"},
		{args: []string{"../x", "--subnet", "10.50.0.0/24"}, wantErr: "invalid network name"},
		// --dry-run prints XML: JSON would be ignored, so it is refused.
		{args: []string{"lab", "--subnet", "10.50.0.0/24", "--dry-run", "--json"}, wantErr: "--dry-run prints XML"},
	} {
		f, _ := testFactory(t)
		var got *CreateOptions
		err := parse(f, NewCmdCreate(f, func(_ context.Context, o *CreateOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		got.F = nil
		if *got != c.want {
			t.Errorf("%q:\n got %+v\nwant %+v", c.args, *got, c.want)
		}
	}
}
