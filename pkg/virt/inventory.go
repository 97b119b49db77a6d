package virt

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// InventoryDomain is one VM as an audit reads it.
type InventoryDomain struct {
	Name      string
	UUID      string
	Def       *libvirtxml.Domain // persistent definition (the live one for a transient VM)
	Live      *libvirtxml.Domain // nil when not running
	Autostart bool
	Secure    bool  // read with VIR_DOMAIN_XML_SECURE: passwords are in Def
	Err       error // why Def could not be read (Def is then nil)
}

// Inventory is every domain, network and storage pool definition of the host.
type Inventory struct {
	Domains  []InventoryDomain
	Networks []*libvirtxml.Network
	Pools    []*libvirtxml.StoragePool
	Caps     *libvirtxml.Caps                // nil when libvirt did not say
	Filters  map[string]*libvirtxml.NWFilter // nil when there is no nwfilter driver
	Secrets  []*libvirtxml.Secret            // nil when libvirt refused to list them
	Versions string                          // libvirt and hypervisor versions
	// NetworkActive says which networks run.
	NetworkActive map[string]bool
	// What libvirt failed to list or describe: the audit reports these as errors rather than
	// judging a partial inventory as complete.
	NetworksErr, PoolsErr, FiltersErr, SecretsErr error
}

// Inventory reads the definitions an audit needs. secure asks for the security-sensitive
// parts (graphics passwords), which libvirt gives only to read-write connections.
func (c *Conn) Inventory(ctx context.Context, secure bool) (*Inventory, error) {
	return call(ctx, c, "inventory", func() (*Inventory, error) {
		out := &Inventory{}
		doms, err := c.c.ListAllDomains(0)
		if err != nil {
			return nil, err
		}
		for i := range doms {
			if inv, ok := c.inventoryDomain(&doms[i], secure); ok {
				out.Domains = append(out.Domains, inv)
			}
			_ = doms[i].Free()
		}
		sort.Slice(out.Domains, func(i, j int) bool { return out.Domains[i].Name < out.Domains[j].Name })
		nets, err := c.c.ListAllNetworks(0)
		if err != nil && !IsCode(err, libvirt.ERR_NO_SUPPORT) {
			out.NetworksErr = err
		}
		out.NetworkActive = map[string]bool{}
		for i := range nets {
			x, err := nets[i].GetXMLDesc(0)
			n := &libvirtxml.Network{}
			if err == nil {
				err = n.Unmarshal(x)
			}
			switch {
			case IsGone(err): // undefined since it was listed: the host no longer has it
			case err != nil:
				out.NetworksErr = errors.Join(out.NetworksErr, err)
			default:
				out.Networks = append(out.Networks, n)
				out.NetworkActive[n.Name], _ = nets[i].IsActive()
			}
			_ = nets[i].Free()
		}
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil && !IsCode(err, libvirt.ERR_NO_SUPPORT) {
			out.PoolsErr = err
		}
		for i := range pools {
			x, err := pools[i].GetXMLDesc(0)
			p := &libvirtxml.StoragePool{}
			if err == nil {
				err = p.Unmarshal(x)
			}
			switch {
			case IsGone(err):
			case err != nil:
				out.PoolsErr = errors.Join(out.PoolsErr, err)
			default:
				out.Pools = append(out.Pools, p)
			}
			_ = pools[i].Free()
		}
		if x, err := c.c.GetCapabilities(); err == nil {
			out.Caps = &libvirtxml.Caps{}
			if out.Caps.Unmarshal(x) != nil {
				out.Caps = nil
			}
		}
		// No nwfilter driver (ERR_NO_SUPPORT) leaves Filters nil; any other failure is recorded.
		filters, err := c.c.ListAllNWFilters(0)
		switch {
		case err == nil:
			out.Filters = map[string]*libvirtxml.NWFilter{}
		case !IsCode(err, libvirt.ERR_NO_SUPPORT):
			out.FiltersErr = err
		}
		for i := range filters {
			x, err := filters[i].GetXMLDesc(0)
			f := &libvirtxml.NWFilter{}
			if err == nil {
				err = f.Unmarshal(x)
			}
			switch {
			case IsGone(err):
			case err != nil:
				out.FiltersErr = errors.Join(out.FiltersErr, err)
			default:
				out.Filters[f.Name] = f
			}
			_ = filters[i].Free()
		}
		// A connection libvirt will not show secrets to leaves Secrets nil; other failures are recorded.
		secrets, err := c.c.ListAllSecrets(0)
		switch {
		case err == nil:
			out.Secrets = []*libvirtxml.Secret{}
		case !IsCode(err, libvirt.ERR_NO_SUPPORT) && !IsCode(err, libvirt.ERR_OPERATION_DENIED) && !IsCode(err, libvirt.ERR_ACCESS_DENIED):
			out.SecretsErr = err
		}
		for i := range secrets {
			x, err := secrets[i].GetXMLDesc(0)
			s := &libvirtxml.Secret{}
			if err == nil {
				err = s.Unmarshal(x)
			}
			switch {
			case IsGone(err):
			case err != nil:
				out.SecretsErr = errors.Join(out.SecretsErr, err)
			default:
				out.Secrets = append(out.Secrets, s)
			}
			_ = secrets[i].Free()
		}
		lib, _ := c.c.GetLibVersion()
		hv, _ := c.c.GetVersion()
		out.Versions = "libvirt " + version(lib) + ", hypervisor " + version(hv)
		return out, nil
	})
}

// inventoryDomain reads one listed domain; ok is false when it no longer exists (undefined, or
// a transient VM stopped, since it was listed): a VM that is gone is not a VM the audit could
// not read. Other failures are kept in Err, with libvirt's message.
func (c *Conn) inventoryDomain(d *libvirt.Domain, secure bool) (inv InventoryDomain, ok bool) {
	inv.Secure = secure
	inv.UUID, _ = d.GetUUIDString()
	name, err := d.GetName()
	if err != nil {
		inv.Name, inv.Err = inv.UUID, c.mapError(err)
		return inv, true
	}
	inv.Name = name
	flags := libvirt.DOMAIN_XML_INACTIVE
	if secure {
		flags |= libvirt.DOMAIN_XML_SECURE
	}
	x, err := d.GetXMLDesc(flags)
	switch {
	case IsGone(err):
		return inv, false
	case err != nil:
		inv.Err = c.mapError(err)
	default:
		inv.Def = &libvirtxml.Domain{}
		if err := inv.Def.Unmarshal(ValidXML(x)); err != nil {
			inv.Def, inv.Err = nil, err
		}
	}
	if active, _ := d.IsActive(); active {
		if x, err := d.GetXMLDesc(0); err == nil {
			inv.Live = &libvirtxml.Domain{}
			if inv.Live.Unmarshal(ValidXML(x)) != nil {
				inv.Live = nil
			}
		}
	}
	inv.Autostart, _ = d.GetAutostart()
	return inv, true
}

// IsGone says whether err is libvirt's "no such object": a domain, network, pool, filter or
// secret removed between being listed and being read.
func IsGone(err error) bool {
	for _, code := range []libvirt.ErrorNumber{libvirt.ERR_NO_DOMAIN, libvirt.ERR_NO_NETWORK,
		libvirt.ERR_NO_STORAGE_POOL, libvirt.ERR_NO_NWFILTER, libvirt.ERR_NO_SECRET} {
		if IsCode(err, code) {
			return true
		}
	}
	return false
}

func version(v uint32) string {
	if v == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
