package domainxml

import (
	"fmt"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// VolumeFacts is what the pool says of a VM's volume: a profile's disk size and base image.
type VolumeFacts struct {
	Capacity uint64
	Backing  string // the base image's path, "" when none
}

// FromOptions carry what the definition alone does not say.
type FromOptions struct {
	Volumes map[string]VolumeFacts // by volume name, for the disks in the VM's pool
	// CloudInit is the [cloud_init] table to write when the VM has its seed volume (the seed's
	// files saved beside the profile); nil leaves it out, with a note.
	CloudInit map[string]any
}

// ProfileFrom is the inverse of Build: the profile (as a TOML table) that renders def, and
// notes on what a profile cannot say (those show as drift in `vmctl diff`). Every value is
// written out, defaults included, so that the configuration's [vm.defaults] cannot change
// what the profile means.
func ProfileFrom(def *libvirtxml.Domain, o FromOptions) (map[string]any, []string) {
	p := map[string]any{"name": def.Name}
	var notes []string
	note := func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }
	table := func(k string) map[string]any {
		if t, ok := p[k].(map[string]any); ok {
			return t
		}
		t := map[string]any{}
		p[k] = t
		return t
	}
	if def.Description != "" {
		p["description"] = def.Description
	}
	p["domain_type"] = def.Type
	if def.OS != nil && def.OS.Type != nil && def.OS.Type.Arch != "" {
		p["arch"] = def.OS.Type.Arch
	}
	info := hvctlInfo(def)
	if info.Owner != "" {
		p["owner"] = info.Owner
	}
	if a := info.Autostart; a != nil {
		p["autostart"] = true
		p["autostart_group"] = a.Group
		p["autostart_priority"] = a.Priority
	}

	p["firmware"] = "bios"
	if def.OS != nil && def.OS.Firmware == "efi" {
		p["firmware"] = "uefi"
		if fi := def.OS.FirmwareInfo; fi != nil {
			for _, f := range fi.Features {
				if f.Name == "secure-boot" && f.Enabled == "yes" {
					p["firmware"] = "uefi-secure"
				}
			}
		}
	} else if def.OS != nil && def.OS.Loader != nil {
		note("firmware: a loader given by path (%s) is not a profile's; the profile asks for BIOS", def.OS.Loader.Path)
	}

	if v := def.VCPU; v != nil {
		p["vcpus"] = int(v.Value)
		if v.Current > 0 && v.Current < v.Value {
			p["vcpus"], p["max_vcpus"] = int(v.Current), int(v.Value)
		}
	}
	if def.Memory != nil {
		max := KiB(def.Memory.Value, def.Memory.Unit)
		cur := max
		if def.CurrentMemory != nil {
			cur = KiB(def.CurrentMemory.Value, def.CurrentMemory.Unit)
		}
		p["memory"] = sizeKiB(cur)
		if max > cur {
			p["max_memory"] = sizeKiB(max)
		}
	}

	if c := def.CPU; c != nil {
		cpu := table("cpu")
		if c.Mode != "" {
			cpu["mode"] = c.Mode
		}
		var feats []string
		for _, f := range c.Features {
			if f.Policy == "require" {
				feats = append(feats, f.Name)
			}
		}
		if len(feats) > 0 {
			cpu["features"] = feats
		}
	}
	if t := def.CPUTune; t != nil {
		var pins []int
		for i, pin := range t.VCPUPin {
			var n int
			if _, err := fmt.Sscanf(pin.CPUSet, "%d", &n); err != nil || fmt.Sprint(n) != pin.CPUSet || pin.VCPU != uint(i) {
				note("cputune: vCPU %d pinned to %q is not a profile's pinning (one host CPU per vCPU, in order)", pin.VCPU, pin.CPUSet)
				pins = nil
				break
			}
			pins = append(pins, n)
		}
		if len(pins) > 0 {
			table("cpu")["pinning"] = pins
		}
		if t.GlobalQuota != nil && t.GlobalPeriod != nil && t.GlobalPeriod.Value == 100000 {
			table("limits")["cpu_quota_percent"] = int(t.GlobalQuota.Value / 1000)
		}
	}
	if n := def.NUMATune; n != nil && n.Memory != nil && n.Memory.Nodeset != "" {
		table("numa")["nodeset"] = n.Memory.Nodeset
	}
	if b := def.MemoryBacking; b != nil {
		m := table("memory_options")
		if b.MemoryHugePages != nil {
			m["hugepages"] = true
		}
		if b.MemorySource != nil && b.MemorySource.Type == "memfd" {
			m["memfd"] = true
		}
		if b.MemoryAccess != nil && b.MemoryAccess.Mode == "private" {
			m["private"] = true
		}
	}
	if ls := def.LaunchSecurity; ls != nil {
		switch {
		case ls.SEVSNP != nil:
			table("security")["sev"] = "sev-snp"
		case ls.SEV != nil && ls.SEV.Policy != nil && *ls.SEV.Policy&0x4 != 0:
			table("security")["sev"] = "sev-es"
		case ls.SEV != nil:
			table("security")["sev"] = "sev"
		}
	}

	devicesFrom(def, o, p, table, note)
	for k, v := range p {
		if t, ok := v.(map[string]any); ok && len(t) == 0 {
			delete(p, k)
		}
	}
	return p, notes
}

func devicesFrom(def *libvirtxml.Domain, o FromOptions, p map[string]any, table func(string) map[string]any, note func(string, ...any)) {
	dev := def.Devices
	if dev == nil {
		dev = &libvirtxml.DomainDeviceList{}
	}
	var extra []map[string]any
	haveSeed := false
	for _, d := range dev.Disks {
		target := ""
		if d.Target != nil {
			target = d.Target.Dev
		}
		src := d.Source
		switch {
		case d.Device == "cdrom" && src != nil && src.File != nil && src.File.File != "":
			if _, ok := p["install_iso"]; ok {
				note("disk %s: a second CD-ROM (%s) is not a profile's", target, src.File.File)
				continue
			}
			p["install_iso"] = src.File.File
		case d.Device == "cdrom" && src != nil && src.Volume != nil && src.Volume.Volume == SeedVolume(def.Name):
			haveSeed = true
			if o.CloudInit != nil {
				p["cloud_init"] = o.CloudInit
			} else {
				note("cloud_init: the seed volume %s is not carried over (profile from --output writes its files)", src.Volume.Volume)
			}
		case d.Device == "disk" && src != nil && src.Volume != nil && (src.Volume.Volume == SystemVolume(def.Name) || strings.HasPrefix(src.Volume.Volume, def.Name+"-data")):
			disk := map[string]any{}
			if d.Target != nil && d.Target.Bus != "" {
				disk["bus"] = d.Target.Bus
			}
			if f, ok := o.Volumes[src.Volume.Volume]; ok {
				disk["size"] = sizeKiB(f.Capacity >> 10)
				if f.Backing != "" {
					disk["base_image"] = f.Backing
				}
			}
			if src.Volume.Volume == SystemVolume(def.Name) {
				p["disk"] = disk
			} else if src.Volume.Volume == ExtraVolume(def.Name, len(extra)) {
				extra = append(extra, disk)
			} else {
				note("disk %s: volume %s is out of the profile's order (%s expected)", target, src.Volume.Volume, ExtraVolume(def.Name, len(extra)))
			}
		default:
			what := "no source"
			switch {
			case src == nil:
			case src.File != nil:
				what = "file " + src.File.File
			case src.Block != nil:
				what = "device " + src.Block.Dev
			case src.Volume != nil:
				what = "volume " + src.Volume.Pool + "/" + src.Volume.Volume
			}
			note("disk %s (%s, %s): a profile's disks are volumes %s and %s in the pool; not carried over", target, d.Device, what, SystemVolume(def.Name), ExtraVolume(def.Name, 0))
		}
	}
	_ = haveSeed
	if len(extra) > 0 {
		p["extra_disks"] = extra
	}

	var nets []map[string]any
	filter := ""
	for _, ifc := range dev.Interfaces {
		n := map[string]any{}
		switch s := ifc.Source; {
		case s != nil && s.Network != nil:
			n["network"] = s.Network.Network
		case s != nil && s.Bridge != nil:
			n["bridge"] = s.Bridge.Bridge
		case s != nil && s.User != nil:
			n["user"] = true
		default:
			note("interface %d: only network, bridge and user NICs are a profile's; not carried over", len(nets))
			continue
		}
		if ifc.MAC != nil && ifc.MAC.Address != "" {
			n["mac"] = ifc.MAC.Address
		}
		if ifc.Model != nil && ifc.Model.Type != "" {
			n["model"] = ifc.Model.Type
		}
		if ifc.Driver != nil && ifc.Driver.Name == "vhost" {
			n["vhost"] = true
		}
		if n["user"] == nil {
			f := "none"
			if ifc.FilterRef != nil {
				f = ifc.FilterRef.Filter
			}
			if filter != "" && filter != f {
				note("interface %d: filter %s differs from the other NICs' %s; a profile has one", len(nets), f, filter)
			}
			filter = f
		}
		nets = append(nets, n)
	}
	if len(nets) > 0 {
		p["network"] = nets
	} else {
		note("network: the VM has no NIC; a profile without [[network]] gets the configuration's default network")
	}
	if filter != "" {
		p["network_filter"] = filter
	}
	for _, h := range dev.Hostdevs {
		if s := h.SubsysPCI; s != nil && s.Source != nil && s.Source.Address != nil {
			a := s.Source.Address
			if a.Domain != nil && a.Bus != nil && a.Slot != nil && a.Function != nil {
				hd, _ := p["hostdevs"].([]string)
				p["hostdevs"] = append(hd, fmt.Sprintf("%04x:%02x:%02x.%x", *a.Domain, *a.Bus, *a.Slot, *a.Function))
				continue
			}
		}
		note("hostdev: only PCI devices by address are a profile's; not carried over")
	}

	g := table("graphics")
	g["type"] = "none"
	if len(dev.Graphics) > 0 {
		gr := dev.Graphics[0]
		var ls []libvirtxml.DomainGraphicListener
		switch {
		case gr.VNC != nil:
			g["type"], ls = "vnc", gr.VNC.Listeners
		case gr.Spice != nil:
			g["type"], ls = "spice", gr.Spice.Listeners
		default:
			note("graphics: only VNC and SPICE are a profile's")
		}
		for _, l := range ls {
			if l.Address != nil && l.Address.Address != "" {
				g["listen"] = l.Address.Address
			}
		}
	}
	if len(dev.Videos) > 0 && g["type"] != "none" {
		v := table("video")
		v["model"] = dev.Videos[0].Model.Type
		if h := dev.Videos[0].Model.Heads; h > 0 {
			v["heads"] = int(h)
		}
	} else if g["type"] != "none" {
		table("video")["model"] = "none"
	}
	if len(dev.Sounds) > 0 {
		table("audio")["model"] = dev.Sounds[0].Model
	}
	for _, s := range dev.Shmems {
		if s.Name == "looking-glass" && s.Size != nil {
			table("looking_glass")["enable"] = true
			table("looking_glass")["size"] = sizeKiB(KiB(s.Size.Value, s.Size.Unit))
		}
	}
	if len(dev.TPMs) > 0 {
		table("security")["tpm"] = true
	}
	if dev.MemBalloon != nil && dev.MemBalloon.Model == "none" {
		table("balloon")["disable"] = true
	}
}

// sizeKiB writes kib in the largest unit that divides it, as a profile writes sizes.
func sizeKiB(kib uint64) string {
	switch {
	case kib == 0:
		return "0KiB"
	case kib%(1<<30) == 0:
		return fmt.Sprintf("%dTiB", kib>>30)
	case kib%(1<<20) == 0:
		return fmt.Sprintf("%dGiB", kib>>20)
	case kib%(1<<10) == 0:
		return fmt.Sprintf("%dMiB", kib>>10)
	}
	return fmt.Sprintf("%dKiB", kib)
}
