package virt

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

func TestARPFallback(t *testing.T) {
	root := t.TempDir()
	procRoot = root
	defer func() { procRoot = "/proc" }()
	_ = os.MkdirAll(filepath.Join(root, "net"), 0o755)
	table := `IP address       HW type     Flags       HW address            Mask     Device
10.0.0.7         0x1         0x2         52:54:00:AA:00:01     *        br0
10.0.0.8         0x1         0x0         52:54:00:aa:00:02     *        br0
10.0.0.9         0x1         0x2         52:54:00:aa:00:01     *        br0
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
`
	if err := os.WriteFile(filepath.Join(root, "net", "arp"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := neighbours()
	if err != nil {
		t.Fatal(err)
	}
	def := &libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Interfaces: []libvirtxml.DomainInterface{
		{MAC: &libvirtxml.DomainInterfaceMAC{Address: "52:54:00:aa:00:01"}, Target: &libvirtxml.DomainInterfaceTarget{Dev: "vnet3"}},
		{MAC: &libvirtxml.DomainInterfaceMAC{Address: "52:54:00:aa:00:02"}}, // incomplete entry: not an address
	}}}
	got := arpAddresses(def, n)
	want := []model.Address{
		{Interface: "vnet3", MAC: "52:54:00:aa:00:01", Family: "ipv4", Address: "10.0.0.7", Source: "arp"},
		{Interface: "vnet3", MAC: "52:54:00:aa:00:01", Family: "ipv4", Address: "10.0.0.9", Source: "arp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("addresses: %+v", got)
	}
}
