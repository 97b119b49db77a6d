package virt

import (
	"context"
	"fmt"
	"sort"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// InventoryDomain is one VM as an audit reads it.
type InventoryDomain struct {
	Name      string
	Def       *libvirtxml.Domain // persistent definition (the live one for a transient VM)
	Live      *libvirtxml.Domain // nil when not running
	Autostart bool
	Secure    bool // read with VIR_DOMAIN_XML_SECURE: passwords are in Def
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
			d := &doms[i]
			name, err := d.GetName()
			if err != nil {
				_ = d.Free()
				continue
			}
			inv := InventoryDomain{Name: name, Secure: secure}
			flags := libvirt.DOMAIN_XML_INACTIVE
			if secure {
				flags |= libvirt.DOMAIN_XML_SECURE
			}
			if x, err := d.GetXMLDesc(flags); err == nil {
				inv.Def = &libvirtxml.Domain{}
				if inv.Def.Unmarshal(x) != nil {
					inv.Def = nil
				}
			}
			if active, _ := d.IsActive(); active {
				if x, err := d.GetXMLDesc(0); err == nil {
					inv.Live = &libvirtxml.Domain{}
					if inv.Live.Unmarshal(x) != nil {
						inv.Live = nil
					}
				}
			}
			inv.Autostart, _ = d.GetAutostart()
			_ = d.Free()
			out.Domains = append(out.Domains, inv)
		}
		sort.Slice(out.Domains, func(i, j int) bool { return out.Domains[i].Name < out.Domains[j].Name })
		nets, err := c.c.ListAllNetworks(0)
		if err != nil && !IsCode(err, libvirt.ERR_NO_SUPPORT) {
			return nil, err
		}
		for i := range nets {
			if x, err := nets[i].GetXMLDesc(0); err == nil {
				n := &libvirtxml.Network{}
				if n.Unmarshal(x) == nil {
					out.Networks = append(out.Networks, n)
				}
			}
			_ = nets[i].Free()
		}
		pools, err := c.c.ListAllStoragePools(0)
		if err != nil && !IsCode(err, libvirt.ERR_NO_SUPPORT) {
			return nil, err
		}
		for i := range pools {
			if x, err := pools[i].GetXMLDesc(0); err == nil {
				p := &libvirtxml.StoragePool{}
				if p.Unmarshal(x) == nil {
					out.Pools = append(out.Pools, p)
				}
			}
			_ = pools[i].Free()
		}
		if x, err := c.c.GetCapabilities(); err == nil {
			out.Caps = &libvirtxml.Caps{}
			if out.Caps.Unmarshal(x) != nil {
				out.Caps = nil
			}
		}
		if filters, err := c.c.ListAllNWFilters(0); err == nil {
			out.Filters = map[string]*libvirtxml.NWFilter{}
			for i := range filters {
				if x, err := filters[i].GetXMLDesc(0); err == nil {
					f := &libvirtxml.NWFilter{}
					if f.Unmarshal(x) == nil {
						out.Filters[f.Name] = f
					}
				}
				_ = filters[i].Free()
			}
		}
		if secrets, err := c.c.ListAllSecrets(0); err == nil {
			out.Secrets = []*libvirtxml.Secret{}
			for i := range secrets {
				if x, err := secrets[i].GetXMLDesc(0); err == nil {
					s := &libvirtxml.Secret{}
					if s.Unmarshal(x) == nil {
						out.Secrets = append(out.Secrets, s)
					}
				}
				_ = secrets[i].Free()
			}
		}
		lib, _ := c.c.GetLibVersion()
		hv, _ := c.c.GetVersion()
		out.Versions = "libvirt " + version(lib) + ", hypervisor " + version(hv)
		return out, nil
	})
}

func version(v uint32) string {
	if v == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
