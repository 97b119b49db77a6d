package domainxml

import (
	"strings"

	"libvirt.org/go/libvirtxml"
)

// MACsFrom fills in the profile's unspecified MACs from the live definition, so that libvirt's
// generated addresses are not reported as drift (nor replaced on apply).
func MACsFrom(desired, live *libvirtxml.Domain) {
	if desired.Devices == nil || live.Devices == nil {
		return
	}
	for i := range desired.Devices.Interfaces {
		if desired.Devices.Interfaces[i].MAC == nil && i < len(live.Devices.Interfaces) && live.Devices.Interfaces[i].MAC != nil {
			m := *live.Devices.Interfaces[i].MAC
			desired.Devices.Interfaces[i].MAC = &m
		}
	}
}

// machineFamily reduces pc-q35-7.2 to q35 and pc-i440fx-7.2 to pc: libvirt expands aliases.
func machineFamily(m string) string {
	switch {
	case strings.Contains(m, "q35"):
		return "q35"
	case strings.HasPrefix(m, "pc"):
		return "pc"
	case strings.HasPrefix(m, "virt"):
		return "virt"
	}
	return m
}

// KiB converts a libvirt size with its unit to KiB.
func KiB(v uint, unit string) uint64 {
	n := uint64(v)
	switch strings.ToLower(unit) {
	case "b", "bytes":
		return n / 1024
	case "", "k", "kib":
		return n
	case "kb":
		return n * 1000 / 1024
	case "m", "mib":
		return n << 10
	case "mb":
		return n * 1000 * 1000 / 1024
	case "g", "gib":
		return n << 20
	case "gb":
		return n * 1000 * 1000 * 1000 / 1024
	}
	return n
}
