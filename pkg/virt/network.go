package virt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Networks lists every libvirt network with what its definition says, its active lease count
// and the VMs with a NIC on it.
func (c *Conn) Networks(ctx context.Context) ([]model.Network, error) {
	users, err := c.networkUsers(ctx)
	if err != nil {
		return nil, err
	}
	return call(ctx, c, "list networks", func() ([]model.Network, error) {
		nets, err := c.c.ListAllNetworks(0)
		if err != nil {
			return nil, err
		}
		out := make([]model.Network, 0, len(nets))
		for i := range nets {
			n, err := describeNetwork(&nets[i])
			_ = nets[i].Free()
			if err != nil {
				return nil, err
			}
			n.UsedBy = users[n.Name]
			if n.UsedBy == nil {
				n.UsedBy = []string{}
			}
			out = append(out, n)
		}
		slices.SortFunc(out, func(a, b model.Network) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	})
}

// Network describes one network; an unknown name is NotFound.
func (c *Conn) Network(ctx context.Context, name string) (model.Network, error) {
	all, err := c.Networks(ctx)
	if err != nil {
		return model.Network{}, err
	}
	for _, n := range all {
		if n.Name == name {
			return n, nil
		}
	}
	return model.Network{}, notFoundNetwork(name)
}

// ErrNoLeaseSupport is in the error of Leases for a named network whose host's driver has no
// DHCP lease reporting (test:///, some remote drivers): the host answered, it has none to give.
var ErrNoLeaseSupport = errors.New("the driver does not report DHCP leases")

// noLeaseSupport is the one line for a named network on a driver without leases; exit 2, as for
// other things the far side cannot do (a guest agent without --cwd).
// NoLeaseSupportHint points to where a VM's address can still be found without leases.
const NoLeaseSupportHint = "vmctl ip VM --source agent,arp finds a VM's addresses without leases"

func noLeaseSupport(network, uri string) error {
	driver, _, _ := strings.Cut(uri, ":")
	driver, _, _ = strings.Cut(driver, "+")
	return &errs.Error{Kind: errs.Usage, Err: ErrNoLeaseSupport,
		Msg:  fmt.Sprintf("network %s on %s: the %s driver does not report DHCP leases", network, uri, driver),
		Hint: NoLeaseSupportHint}
}

func notFoundNetwork(name string) error {
	return errs.New(errs.NotFound, "network %s not found", name).WithHint("see them with: netctl list")
}

func describeNetwork(n *libvirt.Network) (model.Network, error) {
	var out model.Network
	x, err := n.GetXMLDesc(0)
	if err != nil {
		return out, err
	}
	var def libvirtxml.Network
	if err := def.Unmarshal(x); err != nil {
		return out, err
	}
	out = model.Network{Name: def.Name, UUID: def.UUID, Forward: "isolated", Addresses: []model.NetAddress{}}
	if def.Forward != nil {
		out.Forward = def.Forward.Mode
		if out.Forward == "" {
			out.Forward = "nat" // libvirt's default for a bare <forward/>
		}
	}
	if def.Bridge != nil {
		out.Bridge = def.Bridge.Name
	}
	for _, ip := range def.IPs {
		a := model.NetAddress{Family: "ipv4", Address: ip.Address, Prefix: int(ip.Prefix)}
		if ip.Family == "ipv6" {
			a.Family = "ipv6"
		}
		if a.Prefix == 0 && ip.Netmask != "" {
			if m, err := netip.ParseAddr(ip.Netmask); err == nil {
				a.Prefix = maskBits(m)
			}
		}
		a.Reservations = []model.Reservation{}
		if ip.DHCP != nil && len(ip.DHCP.Ranges) > 0 {
			a.DHCPStart, a.DHCPEnd = ip.DHCP.Ranges[0].Start, ip.DHCP.Ranges[0].End
		}
		if ip.DHCP != nil {
			for _, h := range ip.DHCP.Hosts {
				a.Reservations = append(a.Reservations, model.Reservation{MAC: strings.ToLower(h.MAC), IP: h.IP, Name: h.Name})
			}
		}
		out.Addresses = append(out.Addresses, a)
	}
	if out.Active, err = n.IsActive(); err != nil {
		return out, err
	}
	if out.Persistent, err = n.IsPersistent(); err != nil {
		return out, err
	}
	if out.Autostart, err = n.GetAutostart(); err != nil {
		return out, err
	}
	if out.Active {
		if leases, err := n.GetDHCPLeases(); err == nil {
			count := len(leases)
			out.Leases = &count
		}
	}
	return out, nil
}

func maskBits(m netip.Addr) int {
	bits := 0
	for _, b := range m.AsSlice() {
		for ; b&0x80 != 0; b <<= 1 {
			bits++
		}
	}
	return bits
}

// domainNICs is every domain's NICs (the running definition of a running VM, the persistent
// one otherwise): one walk that networkUsers and vmsByMAC both read.
func (c *Conn) domainNICs(ctx context.Context) (map[string][]libvirtxml.DomainInterface, error) {
	return call(ctx, c, "list domains", func() (map[string][]libvirtxml.DomainInterface, error) {
		doms, err := c.c.ListAllDomains(0)
		if err != nil {
			return nil, err
		}
		out := map[string][]libvirtxml.DomainInterface{}
		for i := range doms {
			name, _ := doms[i].GetName()
			x, err := doms[i].GetXMLDesc(0)
			_ = doms[i].Free()
			if err != nil {
				continue // gone meanwhile
			}
			var def libvirtxml.Domain
			if def.Unmarshal(x) != nil || def.Devices == nil {
				continue
			}
			out[name] = def.Devices.Interfaces
		}
		return out, nil
	})
}

// networkUsers maps each network to the VMs with a NIC on it.
func (c *Conn) networkUsers(ctx context.Context) (map[string][]string, error) {
	nics, err := c.domainNICs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for name, list := range nics {
		seen := map[string]bool{}
		for _, nic := range list {
			if nic.Source != nil && nic.Source.Network != nil && !seen[nic.Source.Network.Network] {
				seen[nic.Source.Network.Network] = true
				out[nic.Source.Network.Network] = append(out[nic.Source.Network.Network], name)
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out, nil
}

// NetworkUsers are the VMs a stop or delete of a network concerns, by network.
type NetworkUsers struct {
	// Running are the running (or paused) VMs with a NIC on the network in their live
	// definitions: the VMs whose NICs a stop or delete would cut off.
	Running map[string][]string
	// ShutOff are the defined, shut-off VMs whose persistent definitions name the network:
	// they would not start while it is stopped or gone.
	ShutOff map[string][]string
}

// NetworkUsersByState finds both kinds of NetworkUsers in one walk: one list of the running
// and paused domains, one of the shut-off ones, and one definition each (the live one of a
// running VM, the persistent one of a shut-off VM). Each list is sorted.
func (c *Conn) NetworkUsersByState(ctx context.Context) (NetworkUsers, error) {
	return call(ctx, c, "list domains", func() (NetworkUsers, error) {
		out := NetworkUsers{Running: map[string][]string{}, ShutOff: map[string][]string{}}
		for _, l := range []struct {
			flags libvirt.ConnectListAllDomainsFlags
			into  map[string][]string
		}{
			{libvirt.CONNECT_LIST_DOMAINS_RUNNING | libvirt.CONNECT_LIST_DOMAINS_PAUSED, out.Running},
			{libvirt.CONNECT_LIST_DOMAINS_SHUTOFF | libvirt.CONNECT_LIST_DOMAINS_PERSISTENT, out.ShutOff},
		} {
			doms, err := c.c.ListAllDomains(l.flags)
			if err != nil {
				return out, err
			}
			for i := range doms {
				name, _ := doms[i].GetName()
				x, err := doms[i].GetXMLDesc(0)
				_ = doms[i].Free()
				if err != nil {
					continue // gone meanwhile
				}
				var def libvirtxml.Domain
				if def.Unmarshal(x) != nil || def.Devices == nil {
					continue
				}
				seen := map[string]bool{}
				for _, nic := range def.Devices.Interfaces {
					if nic.Source != nil && nic.Source.Network != nil && !seen[nic.Source.Network.Network] {
						seen[nic.Source.Network.Network] = true
						l.into[nic.Source.Network.Network] = append(l.into[nic.Source.Network.Network], name)
					}
				}
			}
			for _, v := range l.into {
				slices.Sort(v)
			}
		}
		return out, nil
	})
}

// NetworkMACs maps the MAC of every NIC on the network (as the VMs' definitions give it) to its
// VM: what a reservation would name.
func (c *Conn) NetworkMACs(ctx context.Context, network string) (map[string]string, error) {
	nics, err := c.domainNICs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for vm, list := range nics {
		for _, nic := range list {
			if nic.MAC != nil && nic.Source != nil && nic.Source.Network != nil && nic.Source.Network.Network == network {
				out[strings.ToLower(nic.MAC.Address)] = vm
			}
		}
	}
	return out, nil
}

// Leases are the DHCP leases of the named networks (all active ones when none is named), each
// matched to the VM that has the MAC.
func (c *Conn) Leases(ctx context.Context, names []string) ([]model.Lease, error) {
	vmByMAC, err := c.vmsByMAC(ctx)
	if err != nil {
		return nil, err
	}
	return call(ctx, c, "dhcp leases", func() ([]model.Lease, error) {
		var nets []libvirt.Network
		if len(names) == 0 {
			all, err := c.c.ListAllNetworks(libvirt.CONNECT_LIST_NETWORKS_ACTIVE)
			if err != nil {
				return nil, err
			}
			nets = all
		}
		for _, n := range names {
			nw, err := c.c.LookupNetworkByName(n)
			if err != nil {
				for i := range nets {
					_ = nets[i].Free()
				}
				if IsCode(err, libvirt.ERR_NO_NETWORK) {
					return nil, notFoundNetwork(n)
				}
				return nil, err
			}
			nets = append(nets, *nw)
		}
		out := []model.Lease{}
		var firstErr error
		for i := range nets {
			name, _ := nets[i].GetName()
			leases, err := nets[i].GetDHCPLeases()
			active, _ := nets[i].IsActive()
			_ = nets[i].Free()
			if err != nil {
				if len(names) > 0 && firstErr == nil && active {
					firstErr = err // asked for this network by name: say why there is nothing
					if IsCode(err, libvirt.ERR_NO_SUPPORT) {
						firstErr = noLeaseSupport(name, c.URI)
					}
				}
				continue
			}
			for _, l := range leases {
				mac := strings.ToLower(l.Mac)
				lease := model.Lease{Network: name, MAC: mac, Family: family(l.Type), Address: l.IPaddr, Prefix: int(l.Prefix),
					Hostname: l.Hostname, VM: vmByMAC[mac]}
				if !l.ExpiryTime.IsZero() && l.ExpiryTime.Unix() > 0 {
					lease.ExpiresAt = l.ExpiryTime.UTC().Format(time.RFC3339)
				}
				out = append(out, lease)
			}
		}
		if len(out) == 0 && firstErr != nil {
			return nil, firstErr
		}
		// By network, then by address as a number: 10.0.0.9 before 10.0.0.10.
		slices.SortFunc(out, func(a, b model.Lease) int {
			return cmp.Or(strings.Compare(a.Network, b.Network), compareAddrs(a.Address, b.Address))
		})
		return out, nil
	})
}

// compareAddrs orders IP addresses numerically (IPv4 before IPv6), text that is none after them.
func compareAddrs(a, b string) int {
	x, errA := netip.ParseAddr(a)
	y, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return x.Compare(y)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func (c *Conn) vmsByMAC(ctx context.Context) (map[string]string, error) {
	nics, err := c.domainNICs(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, list := range nics {
		for _, nic := range list {
			if nic.MAC != nil {
				out[strings.ToLower(nic.MAC.Address)] = name
			}
		}
	}
	return out, nil
}

// DefineNetwork defines the network, then starts it and marks it autostart as asked; when a
// later step fails the definition is removed again, so nothing half-made is left.
func (c *Conn) DefineNetwork(ctx context.Context, def *libvirtxml.Network, start, autostart bool) error {
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	return call0(ctx, c, "define network "+def.Name, func() error {
		n, err := c.c.NetworkDefineXML(x)
		if err != nil {
			return err
		}
		defer func() { _ = n.Free() }()
		undo := func(err error) error {
			if active, _ := n.IsActive(); active {
				_ = n.Destroy()
			}
			_ = n.Undefine()
			return err
		}
		if autostart {
			if err := n.SetAutostart(true); err != nil {
				return undo(err)
			}
		}
		if start {
			if err := n.Create(); err != nil {
				return undo(err)
			}
		}
		return nil
	})
}

// NetworkNames lists the names of all networks.
func (c *Conn) NetworkNames(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list networks", func() ([]string, error) {
		nets, err := c.c.ListAllNetworks(0)
		if err != nil {
			return nil, err
		}
		var out []string
		for i := range nets {
			if n, err := nets[i].GetName(); err == nil {
				out = append(out, n)
			}
			_ = nets[i].Free()
		}
		slices.Sort(out)
		return out, nil
	})
}

// withNetwork runs fn on the named network; an unknown name is NotFound.
func (c *Conn) withNetwork(ctx context.Context, name, what string, fn func(n *libvirt.Network) (string, error)) (string, error) {
	return call(ctx, c, what+" "+name, func() (string, error) {
		n, err := c.c.LookupNetworkByName(name)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_NETWORK) {
				return "", notFoundNetwork(name)
			}
			return "", err
		}
		defer func() { _ = n.Free() }()
		return fn(n)
	})
}

// StartNetwork starts an inactive network: "started", or "none" when it already runs. On an
// error the action is empty: nothing was done.
func (c *Conn) StartNetwork(ctx context.Context, name string) (string, error) {
	return c.withNetwork(ctx, name, "start network", func(n *libvirt.Network) (string, error) {
		if active, err := n.IsActive(); err != nil {
			return "", err
		} else if active {
			return "none", nil
		}
		if err := n.Create(); err != nil {
			return "", err
		}
		return "started", nil
	})
}

// StopNetwork stops an active network: "stopped", or "none" when it is not running. A
// transient network is gone once stopped.
func (c *Conn) StopNetwork(ctx context.Context, name string) (string, error) {
	return c.withNetwork(ctx, name, "stop network", func(n *libvirt.Network) (string, error) {
		if active, err := n.IsActive(); err != nil {
			return "", err
		} else if !active {
			return "none", nil
		}
		if err := n.Destroy(); err != nil {
			return "", err
		}
		return "stopped", nil
	})
}

// SetNetworkAutostart turns autostart on or off: autostart_on or autostart_off, or none when
// it already was as asked, as for a domain.
func (c *Conn) SetNetworkAutostart(ctx context.Context, name string, on bool) (string, error) {
	return c.withNetwork(ctx, name, "autostart network", func(n *libvirt.Network) (string, error) {
		return switchAutostart(n.GetAutostart, n.SetAutostart, on)
	})
}

// DeleteNetwork stops the network when it runs and removes its definition.
func (c *Conn) DeleteNetwork(ctx context.Context, name string) error {
	_, err := c.withNetwork(ctx, name, "delete network", func(n *libvirt.Network) (string, error) {
		if active, _ := n.IsActive(); active {
			if err := n.Destroy(); err != nil {
				return "", err
			}
		}
		if persistent, _ := n.IsPersistent(); persistent {
			return "", n.Undefine()
		}
		return "", nil
	})
	return err
}

// NetworkXML is the network's definition as libvirt holds it.
func (c *Conn) NetworkXML(ctx context.Context, name string, inactive bool) (string, error) {
	return c.withNetwork(ctx, name, "network xml", func(n *libvirt.Network) (string, error) {
		var flags libvirt.NetworkXMLFlags
		if inactive {
			flags = libvirt.NETWORK_XML_INACTIVE
		}
		return n.GetXMLDesc(flags)
	})
}

// Reserve adds (or, with remove, deletes) a DHCP host entry of the network's IPv4 range, in
// the running network and in its persistent definition alike.
func (c *Conn) Reserve(ctx context.Context, network string, r model.Reservation, remove bool) error {
	host := libvirtxml.NetworkDHCPHost{MAC: r.MAC, IP: r.IP, Name: r.Name}
	x, err := host.Marshal()
	if err != nil {
		return err
	}
	_, err = c.withNetwork(ctx, network, "reserve in", func(n *libvirt.Network) (string, error) {
		flags := libvirt.NETWORK_UPDATE_AFFECT_CONFIG
		if active, _ := n.IsActive(); active {
			flags |= libvirt.NETWORK_UPDATE_AFFECT_LIVE
		}
		if persistent, _ := n.IsPersistent(); !persistent {
			flags &^= libvirt.NETWORK_UPDATE_AFFECT_CONFIG
		}
		cmd := libvirt.NETWORK_UPDATE_COMMAND_ADD_LAST
		if remove {
			cmd = libvirt.NETWORK_UPDATE_COMMAND_DELETE
		}
		return "", n.Update(cmd, libvirt.NETWORK_SECTION_IP_DHCP_HOST, -1, x, flags)
	})
	return err
}
