package cmdutil

import (
	"net"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// ParseMAC accepts a unicast Ethernet MAC in any form net.ParseMAC reads (52:54:00:…,
// 52-54-00-…, 5254.00…) and returns it as libvirt writes it: lower case, colon-separated. A
// multicast or all-zero address, which no NIC may have, is a usage error naming flag.
func ParseMAC(flag, s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", errs.New(errs.Usage, "%s %q: want six hex pairs such as 52:54:00:12:34:56", flag, output.Escape(s))
	}
	if hw[0]&1 == 1 {
		return "", errs.New(errs.Usage, "%s %s is a multicast address: a NIC needs a unicast one (an even first byte)", flag, hw)
	}
	if string(hw) == "\x00\x00\x00\x00\x00\x00" {
		return "", errs.New(errs.Usage, "%s %s is the all-zero address", flag, hw)
	}
	return hw.String(), nil
}
