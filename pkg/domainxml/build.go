// Package domainxml turns a VM profile into a libvirt domain definition, through libvirtxml
// structs only. It is pure: what it needs of the host and of storage comes in as Options.
package domainxml

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/profile"
	"github.com/hyper-nixos/hvctl/pkg/units"
	"libvirt.org/go/libvirtxml"
)

// Namespace of hvctl's own <metadata> element.
const Namespace = "https://hyper-nixos.org/hvctl/1"

// Options carry what the profile leaves to the host and to provisioning.
type Options struct {
	DomainType string            // kvm or qemu: what "auto" became for this host
	Machine    string            // machine type from the host's capabilities, e.g. pc-q35-7.2
	Pool       string            // storage pool of the VM's volumes
	ISOPath    string            // resolved install ISO, if any
	SeedVolume string            // cloud-init seed volume name in Pool, if any
	Zones      map[string]string // zone → bridge, from the config
}

// Volume names of a VM's own disks; create and delete agree on them.
func SystemVolume(vm string) string       { return vm + ".qcow2" }
func ExtraVolume(vm string, i int) string { return fmt.Sprintf("%s-data%d.qcow2", vm, i+1) }
func SeedVolume(vm string) string         { return vm + "-cidata.iso" }

// Metadata is what hvctl records about a VM it made.
type Metadata struct {
	XMLName   xml.Name   `xml:"hvctl:vm"`
	NS        string     `xml:"xmlns:hvctl,attr"`
	Profile   string     `xml:"hvctl:profile"`
	Owner     string     `xml:"hvctl:owner,omitempty"`
	Autostart *Autostart `xml:"hvctl:autostart,omitempty"`
	// Applied is a digest of the profile's rendered definition as last created or applied. The
	// running domain keeps the one it was started with, so when the two differ, a change that
	// needs a restart is pending.
	Applied string `xml:"hvctl:applied,omitempty"`
	// Defined is when apply last redefined the VM. A running domain keeps the metadata it was
	// started with: when its Applied or Defined differ from the persistent ones, the running VM
	// has not seen everything that was defined (apply updates the running metadata when every
	// change could be made live).
	Defined string `xml:"hvctl:defined,omitempty"`
}

// Autostart is hvctl's ordered autostart: libvirt's own flag has no order.
type Autostart struct {
	Group    string `xml:"group,attr"`
	Priority int    `xml:"priority,attr"`
}

// Build renders the domain for p.
func Build(p *profile.Profile, o Options) (*libvirtxml.Domain, error) {
	dt := p.DomainType
	if dt == "auto" || dt == "" {
		dt = o.DomainType
	}
	if dt != "kvm" && dt != "qemu" {
		return nil, fmt.Errorf("domain type %q: want kvm or qemu", dt)
	}
	mem, err := units.ParseSize(p.Memory)
	if err != nil {
		return nil, err
	}
	maxMem := mem
	if p.MaxMemory != "" {
		if maxMem, err = units.ParseSize(p.MaxMemory); err != nil {
			return nil, err
		}
	}
	pool := o.Pool
	if pool == "" {
		pool = "default"
	}
	d := &libvirtxml.Domain{
		Type:          dt,
		Name:          p.Name,
		Description:   p.Description,
		Memory:        &libvirtxml.DomainMemory{Value: uint(maxMem >> 10), Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: uint(mem >> 10), Unit: "KiB"},
		VCPU:          vcpu(p),
		OS: &libvirtxml.DomainOS{
			Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: p.Arch, Machine: machine(p.Arch, o.Machine)},
		},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
	}
	meta := Metadata{NS: Namespace, Profile: p.Name, Owner: p.Owner}
	if p.Autostart {
		meta.Autostart = &Autostart{Group: or(p.AutostartGroup, "default"), Priority: 50}
		if p.AutostartPriority != nil {
			meta.Autostart.Priority = *p.AutostartPriority
		}
	}
	mx, err := xml.Marshal(meta)
	if err != nil {
		return nil, err
	}
	d.Metadata = &libvirtxml.DomainMetadata{XML: string(mx)}

	firmware(d, p)
	cpu(d, p, dt)
	memoryBacking(d, p)
	if err := disks(d, p, o, pool); err != nil {
		return nil, err
	}
	if err := nics(d, p, o); err != nil {
		return nil, err
	}
	if err := hostdevs(d, p); err != nil {
		return nil, err
	}
	devices(d, p)
	if meta.Applied, err = renderHash(d); err != nil {
		return nil, err
	}
	if mx, err = xml.Marshal(meta); err != nil {
		return nil, err
	}
	d.Metadata = &libvirtxml.DomainMetadata{XML: string(mx)}
	return d, nil
}

// renderHash is a short digest of the rendered definition, metadata aside.
func renderHash(d *libvirtxml.Domain) (string, error) {
	c := *d
	c.Metadata = nil
	x, err := c.Marshal()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(x))
	return "sha256:" + hex.EncodeToString(sum[:])[:16], nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func machine(arch, hostMachine string) string {
	if hostMachine != "" {
		return hostMachine
	}
	if arch == "x86_64" {
		return "q35"
	}
	return "virt"
}

func firmware(d *libvirtxml.Domain, p *profile.Profile) {
	feats := &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}}
	if p.Arch == "x86_64" {
		feats.APIC = &libvirtxml.DomainFeatureAPIC{}
	}
	switch p.Firmware {
	case "uefi":
		// libvirt's firmware auto-selection picks the image and creates the per-VM NVRAM.
		d.OS.Firmware = "efi"
		d.OS.FirmwareInfo = &libvirtxml.DomainOSFirmwareInfo{Features: []libvirtxml.DomainOSFirmwareFeature{{Enabled: "no", Name: "secure-boot"}}}
	case "uefi-secure":
		d.OS.Firmware = "efi"
		d.OS.FirmwareInfo = &libvirtxml.DomainOSFirmwareInfo{Features: []libvirtxml.DomainOSFirmwareFeature{
			{Enabled: "yes", Name: "enrolled-keys"}, {Enabled: "yes", Name: "secure-boot"},
		}}
		d.OS.Loader = &libvirtxml.DomainLoader{Secure: "yes"}
		feats.SMM = &libvirtxml.DomainFeatureSMM{State: "on"}
	}
	d.Features = feats
	if p.Security.SEV != "" {
		switch p.Security.SEV {
		case "sev-snp":
			d.LaunchSecurity = &libvirtxml.DomainLaunchSecurity{SEVSNP: &libvirtxml.DomainLaunchSecuritySEVSNP{}}
		default:
			policy := uint(0x0003) // no debug, no key sharing
			if p.Security.SEV == "sev-es" {
				policy |= 0x0004
			}
			d.LaunchSecurity = &libvirtxml.DomainLaunchSecurity{SEV: &libvirtxml.DomainLaunchSecuritySEV{Policy: &policy}}
		}
	}
}

func cpu(d *libvirtxml.Domain, p *profile.Profile, domainType string) {
	mode := p.CPU.Mode
	if mode == "" {
		// Without KVM there is no host CPU to pass through; TCG offers the most it can.
		mode = "host-passthrough"
		if domainType == "qemu" {
			mode = "maximum"
		}
	}
	c := &libvirtxml.DomainCPU{Mode: mode}
	if mode == "host-passthrough" || mode == "maximum" {
		c.Check = "none"
	}
	for _, f := range p.CPU.Features {
		c.Features = append(c.Features, libvirtxml.DomainCPUFeature{Policy: "require", Name: f})
	}
	d.CPU = c
	if len(p.CPU.Pinning) > 0 || p.Limits.CPUQuotaPercent > 0 {
		t := &libvirtxml.DomainCPUTune{}
		for v := 0; v < max(p.VCPUs, p.MaxVCPUs) && len(p.CPU.Pinning) > 0; v++ {
			t.VCPUPin = append(t.VCPUPin, libvirtxml.DomainCPUTuneVCPUPin{VCPU: uint(v), CPUSet: strconv.Itoa(p.CPU.Pinning[v%len(p.CPU.Pinning)])})
		}
		if q := p.Limits.CPUQuotaPercent; q > 0 {
			// Quota per period across the whole VM: q% of one host CPU.
			t.GlobalPeriod = &libvirtxml.DomainCPUTunePeriod{Value: 100000}
			t.GlobalQuota = &libvirtxml.DomainCPUTuneQuota{Value: int64(q) * 1000}
		}
		d.CPUTune = t
	}
	if p.NUMA.Nodeset != "" {
		d.NUMATune = &libvirtxml.DomainNUMATune{Memory: &libvirtxml.DomainNUMATuneMemory{Mode: "strict", Nodeset: p.NUMA.Nodeset}}
	}
}

func memoryBacking(d *libvirtxml.Domain, p *profile.Profile) {
	m := p.MemoryOpts
	if !m.Hugepages && !m.Memfd && !m.Private && !p.LookingGlass.Enable {
		return
	}
	b := &libvirtxml.DomainMemoryBacking{}
	if m.Hugepages {
		b.MemoryHugePages = &libvirtxml.DomainMemoryHugepages{}
	}
	if m.Memfd {
		b.MemorySource = &libvirtxml.DomainMemorySource{Type: "memfd"}
	}
	if m.Private {
		b.MemoryAccess = &libvirtxml.DomainMemoryAccess{Mode: "private"}
	}
	if b.MemoryHugePages == nil && b.MemorySource == nil && b.MemoryAccess == nil {
		return
	}
	d.MemoryBacking = b
}

var diskTargets = map[string]string{"virtio": "vd", "sata": "sd", "scsi": "sd"}

func disks(d *libvirtxml.Domain, p *profile.Profile, o Options, pool string) error {
	used := map[string]int{}
	target := func(bus string) string {
		prefix := diskTargets[bus]
		n := used[prefix]
		used[prefix]++
		return prefix + string(rune('a'+n))
	}
	vol := func(name, bus string, boot uint) libvirtxml.DomainDisk {
		disk := libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Discard: "unmap"},
			Source: &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: pool, Volume: name}},
			Target: &libvirtxml.DomainDiskTarget{Dev: target(bus), Bus: bus},
		}
		if boot > 0 {
			disk.Boot = &libvirtxml.DomainDeviceBoot{Order: boot}
		}
		return disk
	}
	order := uint(1)
	if o.ISOPath != "" {
		// An install medium boots first; once installed, the disk does (the CD finds nothing).
		d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{
			Device:   "cdrom",
			Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: o.ISOPath}},
			Target:   &libvirtxml.DomainDiskTarget{Dev: target("sata"), Bus: "sata"},
			ReadOnly: &libvirtxml.DomainDiskReadOnly{},
			Boot:     &libvirtxml.DomainDeviceBoot{Order: 1},
		})
		order = 2
	}
	d.Devices.Disks = append(d.Devices.Disks, vol(SystemVolume(p.Name), p.Disk.Bus, order))
	for i, x := range p.ExtraDisks {
		d.Devices.Disks = append(d.Devices.Disks, vol(ExtraVolume(p.Name, i), x.Bus, 0))
	}
	if o.SeedVolume != "" {
		d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{
			Device:   "cdrom",
			Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source:   &libvirtxml.DomainDiskSource{Volume: &libvirtxml.DomainDiskSourceVolume{Pool: pool, Volume: o.SeedVolume}},
			Target:   &libvirtxml.DomainDiskTarget{Dev: target("sata"), Bus: "sata"},
			ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		})
	}
	return nil
}

func nics(d *libvirtxml.Domain, p *profile.Profile, o Options) error {
	for i, n := range p.Networks {
		ifc := libvirtxml.DomainInterface{Model: &libvirtxml.DomainInterfaceModel{Type: n.Model}}
		switch {
		case n.Network != "":
			ifc.Source = &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: n.Network}}
		case n.Bridge != "":
			ifc.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Bridge}}
		case n.Zone != "":
			br, ok := o.Zones[n.Zone]
			if !ok {
				return fmt.Errorf("network[%d]: zone %q is not in the configuration", i, n.Zone)
			}
			ifc.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: br}}
		case n.User:
			ifc.Source = &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}}
			ifc.Backend = &libvirtxml.DomainInterfaceBackend{Type: "passt"}
		}
		// The filter works on the host's tap device: user-mode NICs have none.
		if f := cmp.Or(p.NetworkFilter, profile.DefaultNetworkFilter); f != "none" && !n.User {
			ifc.FilterRef = &libvirtxml.DomainInterfaceFilterRef{Filter: f}
		}
		if n.MAC != "" {
			ifc.MAC = &libvirtxml.DomainInterfaceMAC{Address: strings.ToLower(n.MAC)}
		}
		if n.Vhost {
			ifc.Driver = &libvirtxml.DomainInterfaceDriver{Name: "vhost"}
		}
		d.Devices.Interfaces = append(d.Devices.Interfaces, ifc)
	}
	return nil
}

func hostdevs(d *libvirtxml.Domain, p *profile.Profile) error {
	for _, h := range p.HostDevs {
		var dom, bus, slot, fn uint
		if _, err := fmt.Sscanf(h, "%4x:%2x:%2x.%1x", &dom, &bus, &slot, &fn); err != nil {
			return fmt.Errorf("hostdev %q: %v", h, err)
		}
		d.Devices.Hostdevs = append(d.Devices.Hostdevs, libvirtxml.DomainHostdev{
			Managed: "yes",
			SubsysPCI: &libvirtxml.DomainHostdevSubsysPCI{Source: &libvirtxml.DomainHostdevSubsysPCISource{
				Address: &libvirtxml.DomainAddressPCI{Domain: &dom, Bus: &bus, Slot: &slot, Function: &fn},
			}},
		})
	}
	return nil
}

func devices(d *libvirtxml.Domain, p *profile.Profile) {
	dev := d.Devices
	// Always a serial console and a guest-agent channel: without them neither `vmctl console`
	// nor `vmctl wait --for agent` can work (the old scripts emitted neither).
	dev.Serials = []libvirtxml.DomainSerial{{Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}}}
	dev.Consoles = []libvirtxml.DomainConsole{{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial"},
	}}
	dev.Channels = []libvirtxml.DomainChannel{{
		Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{}},
		Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"}},
	}}
	dev.RNGs = []libvirtxml.DomainRNG{{Model: "virtio", Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}}}}
	switch p.Graphics.Type {
	case "vnc":
		dev.Graphics = []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{AutoPort: "yes",
			Listeners: []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{Address: p.Graphics.Listen}}}}}}
	case "spice":
		dev.Graphics = []libvirtxml.DomainGraphic{{Spice: &libvirtxml.DomainGraphicSpice{AutoPort: "yes",
			Listeners: []libvirtxml.DomainGraphicListener{{Address: &libvirtxml.DomainGraphicListenerAddress{Address: p.Graphics.Listen}}}}}}
		dev.Channels = append(dev.Channels, libvirtxml.DomainChannel{
			Source: &libvirtxml.DomainChardevSource{SpiceVMC: &libvirtxml.DomainChardevSourceSpiceVMC{}},
			Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "com.redhat.spice.0"}},
		})
	}
	if p.Graphics.Type != "none" && p.Video.Model != "none" {
		dev.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: p.Video.Model, Heads: uint(p.Video.Heads)}}}
		dev.Inputs = []libvirtxml.DomainInput{{Type: "tablet", Bus: "usb"}}
	}
	if p.Audio.Model != "" {
		dev.Sounds = []libvirtxml.DomainSound{{Model: p.Audio.Model}}
	}
	if lg := p.LookingGlass; lg.Enable {
		size, _ := units.ParseSize(lg.Size)
		dev.Shmems = []libvirtxml.DomainShmem{{Name: "looking-glass", Model: &libvirtxml.DomainShmemModel{Type: "ivshmem-plain"},
			Size: &libvirtxml.DomainShmemSize{Value: uint(size >> 20), Unit: "M"}}}
	}
	if p.Security.TPM {
		dev.TPMs = []libvirtxml.DomainTPM{{Model: "tpm-crb", Backend: &libvirtxml.DomainTPMBackend{Emulator: &libvirtxml.DomainTPMBackendEmulator{Version: "2.0"}}}}
		if p.Arch != "x86_64" {
			dev.TPMs[0].Model = "tpm-tis"
		}
	}
	if p.Balloon.Disable {
		dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	} else {
		dev.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio"}
	}
}

// Info is hvctl's metadata read back from a domain.
type Info struct {
	Profile   string
	Owner     string
	Autostart *Autostart
	Applied   string
	Defined   string
}

// Generation identifies one definition of a VM by hvctl: the running and persistent ones
// differ while a restart is pending.
func (i Info) Generation() string { return i.Applied + "@" + i.Defined }

// ParseMetadata reads the element that Build wrote. libvirt's metadata API returns it without
// its namespace (the namespace was the lookup key), so only local names are matched.
func ParseMetadata(x string) (Info, error) {
	var v struct {
		Profile   string `xml:"profile"`
		Owner     string `xml:"owner"`
		Applied   string `xml:"applied"`
		Defined   string `xml:"defined"`
		Autostart *struct {
			Group    string `xml:"group,attr"`
			Priority int    `xml:"priority,attr"`
		} `xml:"autostart"`
	}
	if err := xml.Unmarshal([]byte(x), &v); err != nil {
		return Info{}, err
	}
	info := Info{Profile: v.Profile, Owner: v.Owner, Applied: v.Applied, Defined: v.Defined}
	if v.Autostart != nil {
		info.Autostart = &Autostart{Group: v.Autostart.Group, Priority: v.Autostart.Priority}
	}
	return info, nil
}

// vcpu is the vCPU element: with a ceiling above vcpus, libvirt starts that many and may add
// more up to the ceiling while the VM runs.
func vcpu(p *profile.Profile) *libvirtxml.DomainVCPU {
	v := &libvirtxml.DomainVCPU{Placement: "static", Value: uint(p.VCPUs)}
	if p.MaxVCPUs > p.VCPUs {
		v.Value, v.Current = uint(p.MaxVCPUs), uint(p.VCPUs)
	}
	return v
}
