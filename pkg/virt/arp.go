package virt

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// neighbours reads the kernel's IPv4 neighbour table (/proc/net/arp) into MAC → addresses,
// complete entries only. It is the fallback for libvirt's ARP source on a local host: libvirt
// 9.0 reads the table over netlink and fails on newer kernels ("wrong nlmsg len", measured
// with Linux 6.18), while the /proc view has not changed in decades.
func neighbours() (map[string][]string, error) {
	f, err := os.Open(filepath.Join(procRoot, "net", "arp"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseNeighbours(f)
}

// parseNeighbours reads the table's text: a header line, then one entry per line.
func parseNeighbours(r io.Reader) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() {
		// IP address, HW type, Flags, HW address, Mask, Device
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[2] == "0x0" || fields[3] == "00:00:00:00:00:00" {
			continue // incomplete: the kernel is still asking
		}
		hw, err := net.ParseMAC(fields[3])
		addr, aerr := netip.ParseAddr(fields[0])
		if err != nil || aerr != nil {
			continue // not the kernel's format: never hand such text on as an address
		}
		mac := hw.String()
		out[mac] = append(out[mac], addr.String())
	}
	return out, sc.Err()
}

// arpAddresses matches the domain's NICs (live definition) against the local neighbour table.
func arpAddresses(def *libvirtxml.Domain, table map[string][]string) []model.Address {
	var out []model.Address
	if def.Devices == nil {
		return nil
	}
	for _, nic := range def.Devices.Interfaces {
		if nic.MAC == nil {
			continue
		}
		name := ""
		if nic.Target != nil {
			name = nic.Target.Dev
		}
		mac := strings.ToLower(nic.MAC.Address)
		for _, ip := range table[mac] {
			out = append(out, model.Address{Interface: name, MAC: mac, Family: "ipv4", Address: ip, Source: "arp"})
		}
	}
	return out
}
