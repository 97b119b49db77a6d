package domainxml

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// Facts flattens what a profile decides about a domain into key → value, leaving out what
// libvirt adds or rewrites on its own (controllers, PCI addresses, aliases, expanded machine
// names, generated MACs, units). Comparing the facts of the rendered and the live definition
// is how drift is found.
func Facts(d *libvirtxml.Domain) map[string]string {
	f := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	set("type", d.Type)
	set("description", d.Description)
	if d.Memory != nil {
		set("memory.max", strconv.FormatUint(kib(d.Memory.Value, d.Memory.Unit), 10)+"KiB")
	}
	if d.CurrentMemory != nil {
		set("memory.current", strconv.FormatUint(kib(d.CurrentMemory.Value, d.CurrentMemory.Unit), 10)+"KiB")
	}
	if v := d.VCPU; v != nil {
		current := v.Value
		if v.Current != 0 {
			current = v.Current
		}
		set("vcpus", strconv.Itoa(int(current)))
		set("vcpus.max", strconv.Itoa(int(v.Value)))
	}
	if os := d.OS; os != nil {
		if os.Type != nil {
			set("os.arch", os.Type.Arch)
			set("os.machine", machineFamily(os.Type.Machine))
		}
		fw := "bios"
		if os.Firmware == "efi" || os.Loader != nil && os.Loader.Type == "pflash" {
			fw = "uefi"
			if os.Loader != nil && os.Loader.Secure == "yes" {
				fw = "uefi-secure"
			}
		}
		set("os.firmware", fw)
	}
	if c := d.CPU; c != nil {
		set("cpu.mode", c.Mode)
		var feats []string
		for _, x := range c.Features {
			if x.Policy == "require" {
				feats = append(feats, x.Name)
			}
		}
		sort.Strings(feats)
		set("cpu.features", strings.Join(feats, ","))
	}
	if t := d.CPUTune; t != nil {
		var pins []string
		for _, p := range t.VCPUPin {
			pins = append(pins, fmt.Sprintf("%d:%s", p.VCPU, p.CPUSet))
		}
		set("cpu.pinning", strings.Join(pins, ","))
		if t.GlobalQuota != nil {
			set("cpu.quota", strconv.FormatInt(t.GlobalQuota.Value, 10))
		}
	}
	if n := d.NUMATune; n != nil && n.Memory != nil {
		set("numa.nodeset", n.Memory.Nodeset)
	}
	if b := d.MemoryBacking; b != nil {
		set("memory.hugepages", yes(b.MemoryHugePages != nil))
		if b.MemorySource != nil {
			set("memory.source", b.MemorySource.Type)
		}
		if b.MemoryAccess != nil {
			set("memory.access", b.MemoryAccess.Mode)
		}
	}
	dev := d.Devices
	if dev == nil {
		return f
	}
	for _, disk := range dev.Disks {
		if disk.Target == nil {
			continue
		}
		k := "disk." + disk.Target.Dev
		set(k+".device", or(disk.Device, "disk"))
		set(k+".bus", disk.Target.Bus)
		if s := disk.Source; s != nil {
			switch {
			case s.Volume != nil:
				set(k+".source", s.Volume.Pool+"/"+s.Volume.Volume)
			case s.File != nil:
				set(k+".source", s.File.File)
			case s.Block != nil:
				set(k+".source", s.Block.Dev)
			}
		}
		set(k+".readonly", yes(disk.ReadOnly != nil))
	}
	for i, n := range dev.Interfaces {
		k := fmt.Sprintf("nic%d", i)
		if s := n.Source; s != nil {
			switch {
			case s.Network != nil:
				set(k+".source", "network="+s.Network.Network)
			case s.Bridge != nil:
				set(k+".source", "bridge="+s.Bridge.Bridge)
			case s.User != nil:
				set(k+".source", "user")
			}
		}
		if n.Model != nil {
			set(k+".model", n.Model.Type)
		}
		if n.MAC != nil {
			set(k+".mac", strings.ToLower(n.MAC.Address))
		}
	}
	for i, g := range dev.Graphics {
		k := fmt.Sprintf("graphics%d", i)
		switch {
		case g.VNC != nil:
			set(k+".type", "vnc")
			set(k+".listen", listen(g.VNC.Listen, g.VNC.Listeners))
		case g.Spice != nil:
			set(k+".type", "spice")
			set(k+".listen", listen(g.Spice.Listen, g.Spice.Listeners))
		}
	}
	for i, v := range dev.Videos {
		set(fmt.Sprintf("video%d", i), fmt.Sprintf("%s heads=%d", v.Model.Type, max(v.Model.Heads, 1)))
	}
	for i, s := range dev.Sounds {
		set(fmt.Sprintf("sound%d", i), s.Model)
	}
	set("tpm", yes(len(dev.TPMs) > 0))
	var hds []string
	for _, h := range dev.Hostdevs {
		if p := h.SubsysPCI; p != nil && p.Source != nil && p.Source.Address != nil {
			a := p.Source.Address
			hds = append(hds, fmt.Sprintf("%04x:%02x:%02x.%x", val(a.Domain), val(a.Bus), val(a.Slot), val(a.Function)))
		}
	}
	set("hostdevs", strings.Join(hds, ","))
	if dev.MemBalloon != nil {
		set("balloon", dev.MemBalloon.Model)
	}
	for _, s := range dev.Shmems {
		if s.Size != nil {
			set("shmem."+s.Name, fmt.Sprintf("%d%s", s.Size.Value, s.Size.Unit))
		}
	}
	return f
}

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

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func val(p *uint) uint {
	if p == nil {
		return 0
	}
	return *p
}

func listen(attr string, ls []libvirtxml.DomainGraphicListener) string {
	if attr != "" {
		return attr
	}
	for _, l := range ls {
		if l.Address != nil {
			return l.Address.Address
		}
	}
	return ""
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

func kib(v uint, unit string) uint64 {
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

// Change is one fact that differs.
type Change struct {
	Key, Live, Desired string
	Restart            bool // takes effect on a running VM only after a restart
}

// hot are the facts apply can change on a running VM.
var hot = map[string]bool{"memory.current": true, "description": true}

// Diff compares live with desired facts, sorted by key.
func Diff(live, desired map[string]string) []Change {
	keys := map[string]bool{}
	for k := range live {
		keys[k] = true
	}
	for k := range desired {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if live[k] != desired[k] {
			restart := !hot[k]
			if k == "vcpus" {
				// Hot-plugged within the ceiling the VM was started with.
				restart = live["vcpus.max"] != desired["vcpus.max"]
			}
			out = append(out, Change{Key: k, Live: live[k], Desired: desired[k], Restart: restart})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
