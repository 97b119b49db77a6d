package domainxml

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirtxml"
)

// Describe fills the parts of `vmctl show` that the definition alone tells: disks (without
// their sizes, which need the volumes), NICs (without addresses), graphics aside, and the
// devices hvctl's profiles configure — TPMs, host devices, filesystems, watchdogs, RNGs — and
// the security labels. Every type libvirt knows gets its type and source; nothing is "other".
func Describe(def *libvirtxml.Domain, v *model.VMDetail) {
	v.Disks, v.NICs = []model.Disk{}, []model.NIC{}
	v.TPMs, v.Hostdevs, v.Filesystems = []model.TPM{}, []model.Hostdev{}, []model.Filesystem{}
	v.Watchdogs, v.RNGs, v.SecLabels = []model.Watchdog{}, []model.RNG{}, []model.SecLabel{}
	v.Videos, v.Sounds, v.Shmems, v.Chardevs = []model.Video{}, []string{}, []model.Shmem{}, []model.Chardev{}
	for _, s := range def.SecLabel {
		v.SecLabels = append(v.SecLabels, model.SecLabel{Model: s.Model, Type: s.Type, Label: s.Label, Relabel: s.Relabel != "no" && s.Type != "none"})
	}
	dev := def.Devices
	if dev == nil {
		return
	}
	for _, d := range dev.Disks {
		v.Disks = append(v.Disks, DescribeDisk(d))
	}
	for _, n := range dev.Interfaces {
		v.NICs = append(v.NICs, DescribeNIC(n))
	}
	for _, t := range dev.TPMs {
		v.TPMs = append(v.TPMs, describeTPM(t))
	}
	for _, h := range dev.Hostdevs {
		v.Hostdevs = append(v.Hostdevs, describeHostdev(h))
	}
	for _, f := range dev.Filesystems {
		v.Filesystems = append(v.Filesystems, describeFilesystem(f))
	}
	for _, w := range dev.Watchdogs {
		v.Watchdogs = append(v.Watchdogs, model.Watchdog{Model: w.Model, Action: or(w.Action, "reset")})
	}
	for _, r := range dev.RNGs {
		v.RNGs = append(v.RNGs, describeRNG(r))
	}
	for _, x := range dev.Videos {
		v.Videos = append(v.Videos, model.Video{Model: x.Model.Type, Heads: int(max(x.Model.Heads, 1))})
	}
	for _, x := range dev.Sounds {
		v.Sounds = append(v.Sounds, x.Model)
	}
	for _, x := range dev.Shmems {
		m := model.Shmem{Name: x.Name}
		if x.Model != nil {
			m.Model = x.Model.Type
		}
		if x.Size != nil {
			m.SizeBytes = KiB(x.Size.Value, x.Size.Unit) << 10
		}
		v.Shmems = append(v.Shmems, m)
	}
	if dev.MemBalloon != nil {
		v.Balloon = dev.MemBalloon.Model
	}
	for _, x := range dev.Serials {
		v.Chardevs = append(v.Chardevs, chardev("serial", x.Source, ""))
	}
	for _, x := range dev.Consoles {
		target := ""
		if x.Target != nil {
			target = x.Target.Type
		}
		v.Chardevs = append(v.Chardevs, chardev("console", x.Source, target))
	}
	for _, x := range dev.Channels {
		target := ""
		if t := x.Target; t != nil {
			switch {
			case t.VirtIO != nil:
				target = t.VirtIO.Name
			case t.Xen != nil:
				target = t.Xen.Name
			case t.GuestFWD != nil:
				target = net.JoinHostPort(t.GuestFWD.Address, t.GuestFWD.Port)
			}
		}
		v.Chardevs = append(v.Chardevs, chardev("channel", x.Source, target))
	}
}

// chardev describes a character device's host side.
func chardev(kind string, s *libvirtxml.DomainChardevSource, target string) model.Chardev {
	c := model.Chardev{Kind: kind, Target: target}
	switch {
	case s == nil:
	case s.Pty != nil:
		c.Type, c.Source = "pty", s.Pty.Path
	case s.UNIX != nil:
		c.Type, c.Source = "unix", s.UNIX.Path
	case s.File != nil:
		c.Type, c.Source = "file", s.File.Path
	case s.TCP != nil:
		c.Type, c.Source = "tcp", net.JoinHostPort(s.TCP.Host, s.TCP.Service)
	case s.UDP != nil:
		c.Type, c.Source = "udp", net.JoinHostPort(s.UDP.ConnectHost, s.UDP.ConnectService)
	case s.Dev != nil:
		c.Type, c.Source = "dev", s.Dev.Path
	case s.Pipe != nil:
		c.Type, c.Source = "pipe", s.Pipe.Path
	case s.SpiceVMC != nil:
		c.Type = "spicevmc"
	case s.SpicePort != nil:
		c.Type, c.Source = "spiceport", s.SpicePort.Channel
	case s.Null != nil:
		c.Type = "null"
	case s.StdIO != nil:
		c.Type = "stdio"
	case s.VC != nil:
		c.Type = "vc"
	case s.QEMUVDAgent != nil:
		c.Type = "qemu-vdagent"
	case s.DBus != nil:
		c.Type = "dbus"
	case s.NMDM != nil:
		c.Type, c.Source = "nmdm", s.NMDM.Master
	}
	return c
}

// DescribeDisk is a disk's target, bus, device, type and source.
func DescribeDisk(disk libvirtxml.DomainDisk) model.Disk {
	m := model.Disk{Device: or(disk.Device, "disk"), ReadOnly: disk.ReadOnly != nil}
	if disk.Target != nil {
		m.Target, m.Bus = disk.Target.Dev, disk.Target.Bus
	}
	if disk.Driver != nil {
		m.Format = disk.Driver.Type
	}
	s := disk.Source
	if s == nil {
		return m
	}
	switch {
	case s.File != nil:
		m.Type, m.Source = "file", s.File.File
	case s.Block != nil:
		m.Type, m.Source = "block", s.Block.Dev
	case s.Dir != nil:
		m.Type, m.Source = "dir", s.Dir.Dir
	case s.Volume != nil:
		m.Type, m.Source = "volume", s.Volume.Pool+"/"+s.Volume.Volume
	case s.Network != nil:
		m.Type, m.Source = "network", networkSource(s.Network)
	case s.NVME != nil:
		m.Type = "nvme"
		if p := s.NVME.PCI; p != nil {
			m.Source = pciAddress(p.Address)
			if p.Namespace > 0 {
				m.Source += " namespace " + strconv.FormatUint(p.Namespace, 10)
			}
		}
	case s.VHostUser != nil:
		m.Type = "vhostuser"
		if u := s.VHostUser.UNIX; u != nil {
			m.Source = u.Path
		}
	case s.VHostVDPA != nil:
		m.Type, m.Source = "vhostvdpa", s.VHostVDPA.Dev
	}
	return m
}

// networkSource is a network disk as a URL: protocol://host:port/name, every host listed (a
// Ceph monitor list, a Gluster volume's servers), the name left out when there is none (NBD).
func networkSource(n *libvirtxml.DomainDiskSourceNetwork) string {
	var hosts []string
	for _, h := range n.Hosts {
		switch {
		case h.Socket != "":
			hosts = append(hosts, "unix:"+h.Socket)
		case h.Port != "":
			hosts = append(hosts, net.JoinHostPort(h.Name, h.Port))
		default:
			hosts = append(hosts, h.Name)
		}
	}
	s := n.Protocol + "://" + strings.Join(hosts, ",")
	if n.Name != "" {
		s += "/" + strings.TrimPrefix(n.Name, "/")
	}
	return s
}

// DescribeNIC is a NIC's MAC, model, type and source.
func DescribeNIC(nic libvirtxml.DomainInterface) model.NIC {
	n := model.NIC{Addresses: []model.Address{}}
	if nic.MAC != nil {
		n.MAC = strings.ToLower(nic.MAC.Address)
	}
	if nic.Model != nil {
		n.Model = nic.Model.Type
	}
	if nic.Target != nil {
		n.Device = nic.Target.Dev
	}
	s := nic.Source
	if s == nil {
		return n
	}
	endpoint := func(addr string, port uint, local *libvirtxml.DomainInterfaceSourceLocal) string {
		e := net.JoinHostPort(addr, strconv.FormatUint(uint64(port), 10))
		if local != nil {
			e += " (local " + net.JoinHostPort(local.Address, strconv.FormatUint(uint64(local.Port), 10)) + ")"
		}
		return e
	}
	switch {
	case s.Network != nil:
		n.Type, n.Source = "network", s.Network.Network
		if s.Network.PortGroup != "" {
			n.Source += " (portgroup " + s.Network.PortGroup + ")"
		}
	case s.Bridge != nil:
		n.Type, n.Source = "bridge", s.Bridge.Bridge
	case s.Direct != nil:
		n.Type, n.Source = "direct", s.Direct.Dev
		if s.Direct.Mode != "" {
			n.Source += " (" + s.Direct.Mode + ")"
		}
	case s.User != nil:
		n.Type = "user"
	case s.Ethernet != nil:
		// No host-side source: the tap device is the target, named or made at start.
		n.Type = "ethernet"
		if nic.Target != nil {
			n.Source = nic.Target.Dev
		}
	case s.VHostUser != nil:
		n.Type = "vhostuser"
		if c := s.VHostUser.Chardev; c != nil && c.UNIX != nil {
			n.Source = c.UNIX.Path
			if c.UNIX.Mode != "" {
				n.Source += " (" + c.UNIX.Mode + ")"
			}
		} else {
			n.Source = s.VHostUser.Dev
		}
	case s.Server != nil:
		n.Type, n.Source = "server", endpoint(s.Server.Address, s.Server.Port, s.Server.Local)
	case s.Client != nil:
		n.Type, n.Source = "client", endpoint(s.Client.Address, s.Client.Port, s.Client.Local)
	case s.MCast != nil:
		n.Type, n.Source = "mcast", endpoint(s.MCast.Address, s.MCast.Port, s.MCast.Local)
	case s.UDP != nil:
		n.Type, n.Source = "udp", endpoint(s.UDP.Address, s.UDP.Port, s.UDP.Local)
	case s.Hostdev != nil:
		n.Type = "hostdev"
		switch {
		case s.Hostdev.PCI != nil:
			n.Source = pciAddress(s.Hostdev.PCI.Address)
		case s.Hostdev.USB != nil:
			n.Source = usbSource(s.Hostdev.USB)
		}
	case s.VDPA != nil:
		n.Type, n.Source = "vdpa", s.VDPA.Device
	case s.Internal != nil:
		n.Type, n.Source = "internal", s.Internal.Name
	case s.Null != nil:
		n.Type = "null"
	case s.VDS != nil:
		n.Type, n.Source = "vds", s.VDS.SwitchID
	}
	return n
}

func describeTPM(t libvirtxml.DomainTPM) model.TPM {
	m := model.TPM{Model: t.Model}
	b := t.Backend
	switch {
	case b == nil:
	case b.Emulator != nil:
		m.Backend, m.Version = "emulator", or(b.Emulator.Version, "2.0")
	case b.Passthrough != nil:
		m.Backend = "passthrough"
		if b.Passthrough.Device != nil {
			m.Source = b.Passthrough.Device.Path
		}
	case b.External != nil:
		m.Backend = "external"
		if s := b.External.Source; s != nil && s.UNIX != nil {
			m.Source = s.UNIX.Path
		}
	}
	return m
}

func describeHostdev(h libvirtxml.DomainHostdev) model.Hostdev {
	m := model.Hostdev{Managed: h.Managed == "yes"}
	switch {
	case h.SubsysPCI != nil:
		m.Type = "pci"
		if s := h.SubsysPCI.Source; s != nil {
			m.Source = pciAddress(s.Address)
		}
	case h.SubsysUSB != nil:
		m.Type = "usb"
		m.Source = usbSource(h.SubsysUSB.Source)
	case h.SubsysSCSI != nil:
		m.Type = "scsi"
		if s := h.SubsysSCSI.Source; s != nil {
			switch {
			case s.Host != nil && s.Host.Adapter != nil:
				m.Source = s.Host.Adapter.Name
				if a := s.Host.Address; a != nil {
					m.Source += fmt.Sprintf(" %d:%d:%d", val(a.Bus), val(a.Target), val(a.Unit))
				}
			case s.ISCSI != nil:
				m.Source = "iscsi://"
				if len(s.ISCSI.Host) > 0 {
					m.Source += net.JoinHostPort(s.ISCSI.Host[0].Name, or(s.ISCSI.Host[0].Port, "3260"))
				}
				m.Source += "/" + s.ISCSI.Name
			}
		}
	case h.SubsysSCSIHost != nil:
		m.Type = "scsi_host"
		if s := h.SubsysSCSIHost.Source; s != nil {
			m.Source = s.WWPN
		}
	case h.SubsysMDev != nil:
		m.Type = "mdev"
		if s := h.SubsysMDev.Source; s != nil && s.Address != nil {
			m.Source = s.Address.UUID
		}
	case h.CapsStorage != nil:
		m.Type = "storage"
		if s := h.CapsStorage.Source; s != nil {
			m.Source = s.Block
		}
	case h.CapsMisc != nil:
		m.Type = "misc"
		if s := h.CapsMisc.Source; s != nil {
			m.Source = s.Char
		}
	case h.CapsNet != nil:
		m.Type = "net"
		if s := h.CapsNet.Source; s != nil {
			m.Source = s.Interface
		}
	}
	return m
}

func describeFilesystem(f libvirtxml.DomainFilesystem) model.Filesystem {
	m := model.Filesystem{ReadOnly: f.ReadOnly != nil}
	if f.Driver != nil {
		m.Driver = f.Driver.Type
	}
	if f.Target != nil {
		m.Target = f.Target.Dir
	}
	s := f.Source
	switch {
	case s == nil:
	case s.Mount != nil:
		m.Type, m.Source = "mount", or(s.Mount.Dir, s.Mount.Socket)
	case s.Block != nil:
		m.Type, m.Source = "block", s.Block.Dev
	case s.File != nil:
		m.Type, m.Source = "file", s.File.File
	case s.Template != nil:
		m.Type, m.Source = "template", s.Template.Name
	case s.RAM != nil:
		m.Type, m.Source = "ram", fmt.Sprintf("%d%s", s.RAM.Usage, s.RAM.Units)
	case s.Bind != nil:
		m.Type, m.Source = "bind", s.Bind.Dir
	case s.Volume != nil:
		m.Type, m.Source = "volume", s.Volume.Pool+"/"+s.Volume.Volume
	}
	return m
}

func describeRNG(r libvirtxml.DomainRNG) model.RNG {
	m := model.RNG{Model: r.Model}
	b := r.Backend
	switch {
	case b == nil:
	case b.Random != nil:
		m.Backend, m.Source = "random", or(b.Random.Device, "/dev/urandom")
	case b.BuiltIn != nil:
		m.Backend = "builtin"
	case b.EGD != nil:
		m.Backend = "egd"
		if s := b.EGD.Source; s != nil {
			switch {
			case s.UNIX != nil:
				m.Source = s.UNIX.Path
			case s.TCP != nil:
				m.Source = net.JoinHostPort(s.TCP.Host, s.TCP.Service)
			case s.UDP != nil:
				m.Source = net.JoinHostPort(s.UDP.ConnectHost, s.UDP.ConnectService)
			}
		}
	}
	return m
}

func pciAddress(a *libvirtxml.DomainAddressPCI) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", val(a.Domain), val(a.Bus), val(a.Slot), val(a.Function))
}

// usbSource names a USB device by vendor:product, or by where it sits on the host.
func usbSource(s *libvirtxml.DomainHostdevSubsysUSBSource) string {
	switch {
	case s == nil:
		return ""
	case s.Vendor != nil && s.Product != nil:
		return strings.TrimPrefix(s.Vendor.ID, "0x") + ":" + strings.TrimPrefix(s.Product.ID, "0x")
	case s.Address != nil:
		return fmt.Sprintf("usb bus %d device %d", val(s.Address.Bus), val(s.Address.Device))
	}
	return ""
}

func val(p *uint) uint {
	if p == nil {
		return 0
	}
	return *p
}
