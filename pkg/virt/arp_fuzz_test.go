package virt

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzNeighbours reads arbitrary text as /proc/net/arp: whatever the table holds, every entry
// that comes out has a MAC in lower case and an address as the kernel printed it.
func FuzzNeighbours(f *testing.F) {
	f.Fuzz(func(t *testing.T, table string) {
		out, err := parseNeighbours(strings.NewReader(table))
		if err != nil {
			return
		}
		for mac, addrs := range out {
			if mac != strings.ToLower(mac) {
				t.Fatalf("MAC %q not lower case", mac)
			}
			if _, err := net.ParseMAC(mac); err != nil {
				t.Fatalf("MAC %q taken from %q: %v", mac, table, err)
			}
			for _, a := range addrs {
				if _, err := netip.ParseAddr(a); err != nil {
					t.Fatalf("address %q taken from %q: %v", a, table, err)
				}
			}
		}
	})
}
