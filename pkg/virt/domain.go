package virt

import (
	"context"
	"encoding/xml"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/domainxml"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// State names of the JSON contract.
const (
	StateRunning     = "running"
	StatePaused      = "paused"
	StateShutOff     = "shut_off"
	StateShutdown    = "shutting_down"
	StateCrashed     = "crashed"
	StatePMSuspended = "pmsuspended"
	StateBlocked     = "blocked"
	StateNone        = "no_state"
)

// StateName maps libvirt's domain state to the contract's word.
func StateName(s libvirt.DomainState) string {
	switch s {
	case libvirt.DOMAIN_RUNNING:
		return StateRunning
	case libvirt.DOMAIN_BLOCKED:
		return StateBlocked
	case libvirt.DOMAIN_PAUSED:
		return StatePaused
	case libvirt.DOMAIN_SHUTDOWN:
		return StateShutdown
	case libvirt.DOMAIN_SHUTOFF:
		return StateShutOff
	case libvirt.DOMAIN_CRASHED:
		return StateCrashed
	case libvirt.DOMAIN_PMSUSPENDED:
		return StatePMSuspended
	}
	return StateNone
}

// States lists the state words for completion and validation of --state.
var States = []string{StateRunning, StatePaused, StateShutOff, StateShutdown, StateCrashed, StatePMSuspended, StateBlocked}

// reasonName explains why a domain is in its state, in the words of virsh domstate --reason.
func reasonName(s libvirt.DomainState, r int) string {
	names := map[libvirt.DomainState][]string{
		libvirt.DOMAIN_RUNNING:     {"unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy", "post-copy failed"},
		libvirt.DOMAIN_PAUSED:      {"unknown", "user", "migrating", "saving", "dumping", "ioerror", "watchdog", "from snapshot", "shutting down", "creating snapshot", "crashed", "starting up", "post-copy", "post-copy failed", "api error"},
		libvirt.DOMAIN_SHUTOFF:     {"unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"},
		libvirt.DOMAIN_SHUTDOWN:    {"unknown", "user"},
		libvirt.DOMAIN_CRASHED:     {"unknown", "panicked"},
		libvirt.DOMAIN_PMSUSPENDED: {"unknown"},
		libvirt.DOMAIN_BLOCKED:     {"unknown"},
	}
	if list, ok := names[s]; ok && r >= 0 && r < len(list) {
		return list[r]
	}
	return "unknown"
}

// Domain is a looked-up domain; Free it when done.
type Domain struct {
	Name  string
	c     *Conn
	d     *libvirt.Domain
	freed bool
}

// ErrNoDomain is the not-found error for a domain name.
func ErrNoDomain(name string) error {
	return errs.New(errs.NotFound, "domain %s not found", name).WithHint("see the VMs with: vmctl list")
}

// Domain looks a domain up by name.
func (c *Conn) Domain(ctx context.Context, name string) (*Domain, error) {
	d, err := call(ctx, c, "lookup "+name, func() (*libvirt.Domain, error) { return c.c.LookupDomainByName(name) })
	if err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return nil, ErrNoDomain(name)
		}
		return nil, err
	}
	return &Domain{Name: name, c: c, d: d}, nil
}

// Free releases the libvirt handle. A call its caller gave up on (an interrupt, a deadline)
// may still be using it, so then the handle is freed once no call runs on the connection.
func (d *Domain) Free() {
	if d == nil || d.d == nil || d.freed {
		return
	}
	d.freed = true
	raw := d.d
	d.c.freeWhenIdle(func() { _ = raw.Free() })
}

// DomainNames lists all domain names, sorted. One RPC.
func (c *Conn) DomainNames(ctx context.Context) ([]string, error) {
	return call(ctx, c, "list domains", func() ([]string, error) {
		doms, err := c.c.ListAllDomains(0)
		if err != nil {
			return nil, err
		}
		return namesAndFree(doms), nil
	})
}

func namesAndFree(doms []libvirt.Domain) []string {
	names := make([]string, 0, len(doms))
	for i := range doms {
		if n, err := doms[i].GetName(); err == nil {
			names = append(names, n)
		}
		_ = doms[i].Free()
	}
	sort.Strings(names)
	return names
}

// ListVMs reads every domain with bulk calls only: one stats call for all domains, two list calls
// for autostart and transience, and, only when some network has leases and some domain runs, the
// leases of each network and the XML of running domains (for their MACs).
func (c *Conn) ListVMs(ctx context.Context) ([]model.VM, error) {
	// The list reads are independent of the stats; libvirt multiplexes calls on one connection,
	// so they go out together.
	var (
		cpu                         []rawStats
		autostart, transient, saved map[string]bool
		wg                          sync.WaitGroup
		errsMu                      sync.Mutex
		firstErr                    error
	)
	keep := func(err error) {
		if err != nil {
			errsMu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			errsMu.Unlock()
		}
	}
	nameSet := func(flags libvirt.ConnectListAllDomainsFlags) map[string]bool {
		names, err := call(ctx, c, "list domains", func() ([]string, error) {
			doms, err := c.c.ListAllDomains(flags)
			if err != nil {
				return nil, err
			}
			return namesAndFree(doms), nil
		})
		keep(err)
		set := make(map[string]bool, len(names))
		for _, n := range names {
			set[n] = true
		}
		return set
	}
	wg.Add(3)
	go func() { defer wg.Done(); autostart = nameSet(libvirt.CONNECT_LIST_DOMAINS_AUTOSTART) }()
	go func() { defer wg.Done(); transient = nameSet(libvirt.CONNECT_LIST_DOMAINS_TRANSIENT) }()
	// Saved state (managed save) is one more filtered list, not one call per domain.
	go func() { defer wg.Done(); saved = nameSet(libvirt.CONNECT_LIST_DOMAINS_MANAGEDSAVE) }()
	stats, err := call(ctx, c, "domain stats", func() ([]rawStats, error) {
		return allDomainStats(c.c, libvirt.DOMAIN_STATS_STATE|libvirt.DOMAIN_STATS_BALLOON|libvirt.DOMAIN_STATS_VCPU, 0)
	})
	keep(err)
	// CPU time only means something for running domains, and asking it of inactive ones
	// doubles the daemon's work on a host with many of them: ask only when some run.
	if err == nil && anyActive(stats) {
		cpu, err = call(ctx, c, "domain stats", func() ([]rawStats, error) {
			return allDomainStats(c.c, libvirt.DOMAIN_STATS_CPU_TOTAL, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
		})
		keep(err)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	cpuNS := make(map[string]uint64, len(cpu))
	for _, s := range cpu {
		if ns, ok := s.uint("cpu.time"); ok {
			cpuNS[s.Name] = ns
		}
	}

	vms := make([]model.VM, 0, len(stats))
	var running []string
	for _, s := range stats {
		st, _ := s.uint("state.state")
		vm := model.VM{
			Name:       s.Name,
			UUID:       s.UUID,
			State:      StateName(libvirt.DomainState(st)),
			Autostart:  autostart[s.Name],
			Persistent: !transient[s.Name],
			IPv4:       []string{},
		}
		vm.Saved = saved[s.Name] && vm.State == StateShutOff
		if n, ok := s.uint("vcpu.current"); ok {
			vm.VCPUs = int(n)
		}
		if kib, ok := s.uint("balloon.current"); ok {
			vm.MemoryBytes = kib * 1024
		}
		if kib, ok := s.uint("balloon.maximum"); ok {
			vm.MaxMemoryBytes = kib * 1024
		}
		if ns, ok := cpuNS[s.Name]; ok && vm.State != StateShutOff {
			secs := float64(ns) / 1e9
			vm.CPUTimeSeconds = &secs
		}
		if vm.State == StateRunning || vm.State == StatePaused || vm.State == StateBlocked {
			running = append(running, s.Name)
		}
		if _, ok := s.uint("balloon.maximum"); !ok {
			// Drivers with partial stats (the test driver) get one info call per such domain.
			if err := c.fillFromInfo(ctx, &vm); err != nil && errs.KindOf(err) != errs.NotFound {
				return nil, err
			}
		}
		vms = append(vms, vm)
	}
	if up := c.localUptimes(running, time.Now()); len(up) > 0 {
		for i := range vms {
			if u, ok := up[vms[i].Name]; ok {
				u := u
				vms[i].UptimeSeconds = &u
			}
		}
	}
	if len(running) > 0 {
		leases, err := c.leasesByMAC(ctx)
		if err != nil {
			return nil, err
		}
		if len(leases) > 0 {
			byName := make(map[string]*model.VM, len(vms))
			for i := range vms {
				byName[vms[i].Name] = &vms[i]
			}
			for _, name := range running {
				macs, err := c.domainMACs(ctx, name)
				if err != nil {
					if errs.KindOf(err) == errs.NotFound {
						continue // it went away while we looked
					}
					return nil, err
				}
				for _, mac := range macs {
					for _, l := range leases[mac] {
						if l.Family == "ipv4" {
							byName[name].IPv4 = append(byName[name].IPv4, l.Address)
						}
					}
				}
			}
		}
	}
	if err := c.fillHvctlState(ctx, vms); err != nil {
		return nil, err
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	return vms, nil
}

func anyActive(stats []rawStats) bool {
	for _, s := range stats {
		if st, _ := s.uint("state.state"); libvirt.DomainState(st) != libvirt.DOMAIN_SHUTOFF {
			return true
		}
	}
	return false
}

func (c *Conn) fillFromInfo(ctx context.Context, vm *model.VM) error {
	d, err := c.Domain(ctx, vm.Name)
	if err != nil {
		return err
	}
	defer d.Free()
	info, err := call(ctx, c, "info "+vm.Name, d.d.GetInfo)
	if err != nil {
		return err
	}
	vm.VCPUs, vm.MemoryBytes, vm.MaxMemoryBytes = int(info.NrVirtCpu), info.Memory*1024, info.MaxMem*1024
	return nil
}

// leasesByMAC reads the DHCP leases of every active network: one call per network.
func (c *Conn) leasesByMAC(ctx context.Context) (map[string][]model.Address, error) {
	return call(ctx, c, "dhcp leases", func() (map[string][]model.Address, error) {
		nets, err := c.c.ListAllNetworks(libvirt.CONNECT_LIST_NETWORKS_ACTIVE)
		if err != nil {
			if IsCode(err, libvirt.ERR_NO_SUPPORT) {
				return nil, nil
			}
			return nil, err
		}
		out := map[string][]model.Address{}
		for i := range nets {
			leases, err := nets[i].GetDHCPLeases()
			_ = nets[i].Free()
			if err != nil {
				continue // a network without DHCP has no leases to give
			}
			for _, l := range leases {
				mac := strings.ToLower(l.Mac)
				out[mac] = append(out[mac], model.Address{
					MAC: mac, Family: family(l.Type), Address: l.IPaddr, Prefix: int(l.Prefix), Source: "lease",
				})
			}
		}
		return out, nil
	})
}

func family(t libvirt.IPAddrType) string {
	if t == libvirt.IP_ADDR_TYPE_IPV6 {
		return "ipv6"
	}
	return "ipv4"
}

func (c *Conn) domainMACs(ctx context.Context, name string) ([]string, error) {
	d, err := c.Domain(ctx, name)
	if err != nil {
		return nil, err
	}
	defer d.Free()
	def, err := d.Definition(ctx, false)
	if err != nil {
		return nil, err
	}
	var macs []string
	for _, nic := range def.Devices.Interfaces {
		if nic.MAC != nil {
			macs = append(macs, strings.ToLower(nic.MAC.Address))
		}
	}
	return macs, nil
}

// XML returns the domain's XML; inactive asks for the persistent definition.
func (d *Domain) XML(ctx context.Context, inactive bool) (string, error) {
	var flags libvirt.DomainXMLFlags
	if inactive {
		flags = libvirt.DOMAIN_XML_INACTIVE
	}
	return call(ctx, d.c, "xml "+d.Name, func() (string, error) { return d.d.GetXMLDesc(flags) })
}

// SecureXML is the persistent definition with what libvirt leaves out by default (graphics
// passwords): what a redefinition starts from, or restores, so that it keeps them. It needs a
// read-write connection.
func (d *Domain) SecureXML(ctx context.Context) (string, error) {
	return call(ctx, d.c, "xml "+d.Name, func() (string, error) {
		return d.d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE | libvirt.DOMAIN_XML_SECURE)
	})
}

// Definition parses the domain's XML.
func (d *Domain) Definition(ctx context.Context, inactive bool) (*libvirtxml.Domain, error) {
	x, err := d.XML(ctx, inactive)
	if err != nil {
		return nil, err
	}
	def := &libvirtxml.Domain{}
	if err := def.Unmarshal(ValidXML(x)); err != nil {
		return nil, errs.New(errs.Failure, "parse domain xml of %s: %v", d.Name, err)
	}
	return def, nil
}

// State returns the contract state word and the reason.
func (d *Domain) State(ctx context.Context) (string, string, error) {
	type sr struct {
		s libvirt.DomainState
		r int
	}
	v, err := call(ctx, d.c, "state "+d.Name, func() (sr, error) {
		s, r, err := d.d.GetState()
		return sr{s, r}, err
	})
	if err != nil {
		return "", "", err
	}
	return StateName(v.s), reasonName(v.s, v.r), nil
}

// Addresses finds the domain's IP addresses from the given sources, in order, stopping at the
// first source that knows any: lease, agent, arp.
func (d *Domain) Addresses(ctx context.Context, sources []string) ([]model.Address, error) {
	var lastErr error
	for _, src := range sources {
		var s libvirt.DomainInterfaceAddressesSource
		switch src {
		case "lease":
			s = libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE
		case "agent":
			s = libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT
		case "arp":
			s = libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_ARP
		default:
			return nil, errs.New(errs.Usage, "unknown address source %q (want lease, agent or arp)", src)
		}
		ifaces, err := call(ctx, d.c, "addresses "+d.Name, func() ([]libvirt.DomainInterface, error) {
			return d.d.ListAllInterfaceAddresses(s)
		})
		if err != nil && src == "arp" && len(sources) == 1 && d.c.URI == "qemu:///system" && !isAgentError(err) && errs.KindOf(err) == errs.Failure {
			// libvirt could not read the neighbour table; on this host hvctl can. Only when ARP
			// is asked for alone: /proc/net/arp cannot tell a fresh entry from a stale one (a
			// VM's address before its restart), so it must not answer "has it an address yet"
			// (wait, or the default source order) ahead of the lease.
			if table, terr := neighbours(); terr == nil {
				if def, derr := d.Definition(ctx, false); derr == nil {
					if out := arpAddresses(def, table); len(out) > 0 {
						return out, nil
					}
					err = nil
					continue
				}
			}
		}
		if err != nil {
			if k := errs.KindOf(err); !isAgentError(err) && (k == errs.Timeout || k == errs.Interrupted || k == errs.Unreachable) {
				return nil, err
			}
			lastErr = err // agent not connected, source unsupported: try the next one
			continue
		}
		var out []model.Address
		for _, ifc := range ifaces {
			for _, a := range ifc.Addrs {
				if src == "agent" && (ifc.Name == "lo" || strings.HasPrefix(a.Addr, "127.") || a.Addr == "::1") {
					continue
				}
				out = append(out, model.Address{
					Interface: ifc.Name, MAC: strings.ToLower(ifc.Hwaddr), Family: family(libvirt.IPAddrType(a.Type)),
					Address: a.Addr, Prefix: int(a.Prefix), Source: src,
				})
			}
		}
		if len(out) > 0 {
			sort.SliceStable(out, func(i, j int) bool { return out[i].Family < out[j].Family })
			return out, nil
		}
	}
	if lastErr != nil && (errs.KindOf(lastErr) == errs.Unreachable || len(sources) == 1 && !isAgentError(lastErr)) {
		// Asked for one source only, its failure is the answer (not "no address").
		return nil, lastErr
	}
	return nil, nil
}

func isAgentError(err error) bool {
	return IsCode(err, libvirt.ERR_AGENT_UNRESPONSIVE) || IsCode(err, libvirt.ERR_OPERATION_UNSUPPORTED) ||
		IsCode(err, libvirt.ERR_AGENT_UNSYNCED)
}

// AgentConnected says whether the guest agent channel is up, from the live XML: asking the agent
// itself would taint the domain and fill the daemon log while the agent is not there yet.
func (d *Domain) AgentConnected(ctx context.Context) (bool, error) {
	def, err := d.Definition(ctx, false)
	if err != nil {
		return false, err
	}
	for _, ch := range def.Devices.Channels {
		if ch.Target != nil && ch.Target.VirtIO != nil && ch.Target.VirtIO.Name == "org.qemu.guest_agent.0" {
			return ch.Target.VirtIO.State == "connected", nil
		}
	}
	return false, nil
}

// Detail gathers `vmctl show`.
func (d *Domain) Detail(ctx context.Context) (*model.VMDetail, error) {
	def, err := d.Definition(ctx, false)
	if err != nil {
		return nil, err
	}
	state, reason, err := d.State(ctx)
	if err != nil {
		return nil, err
	}
	v := &model.VMDetail{
		Name: def.Name, UUID: def.UUID, Title: def.Title, Description: def.Description,
		State: state, StateReason: reason, DomainType: def.Type,
		Disks: []model.Disk{}, NICs: []model.NIC{}, Graphics: []model.Graphics{}, Metadata: []model.Metadata{},
	}
	type facts struct {
		info       *libvirt.DomainInfo
		id         uint
		autostart  bool
		persistent bool
		snapshots  int
	}
	f, err := call(ctx, d.c, "info "+d.Name, func() (facts, error) {
		var f facts
		var err error
		if f.info, err = d.d.GetInfo(); err != nil {
			return f, err
		}
		f.id, _ = d.d.GetID()
		if f.autostart, err = d.d.GetAutostart(); err != nil {
			return f, err
		}
		if f.persistent, err = d.d.IsPersistent(); err != nil {
			return f, err
		}
		f.snapshots, _ = d.d.SnapshotNum(0)
		return f, nil
	})
	if err != nil {
		return nil, err
	}
	active := state != StateShutOff && state != StateCrashed
	v.VCPUs, v.MemoryBytes, v.MaxMemoryBytes = int(f.info.NrVirtCpu), f.info.Memory*1024, f.info.MaxMem*1024
	if def.VCPU != nil {
		v.MaxVCPUs = int(def.VCPU.Value)
		if !active && def.VCPU.Current > 0 {
			v.VCPUs = int(def.VCPU.Current)
		}
	}
	if active {
		if u, ok := d.c.localUptimes([]string{d.Name}, time.Now())[d.Name]; ok {
			v.UptimeSeconds = &u
		}
		id := int(f.id)
		v.ID = &id
		secs := float64(f.info.CpuTime) / 1e9
		v.CPUTimeSeconds = &secs
	}
	v.Autostart, v.Persistent, v.Snapshots = f.autostart, f.persistent, f.snapshots
	if !active {
		if v.Saved, err = d.HasSavedState(ctx); err != nil {
			return nil, err
		}
	}
	if os := def.OS; os != nil {
		if os.Type != nil {
			v.OSType, v.Arch, v.Machine = os.Type.Type, os.Type.Arch, os.Type.Machine
		}
		v.Firmware = "bios"
		if os.Firmware == "efi" || os.Loader != nil && os.Loader.Type == "pflash" {
			v.Firmware = "efi"
		}
	}

	// The definition tells the devices (domainxml.Describe); libvirt adds sizes and addresses.
	domainxml.Describe(def, v)
	for i := range v.Disks {
		d.diskSize(ctx, def.Devices.Disks[i], &v.Disks[i])
		d.fillBacking(ctx, def.Devices.Disks[i], &v.Disks[i])
	}
	// Best effort: show must not fail because another VM cannot be read.
	v.LinkedClones, _ = d.LinkedClones(ctx)
	if v.LinkedClones == nil {
		v.LinkedClones = []string{}
	}
	if !active && (def.Devices == nil || def.Devices.MemBalloon == nil || def.Devices.MemBalloon.Model == "none") {
		// Without a balloon the guest starts with all of its memory, as list says.
		v.MemoryBytes = v.MaxMemoryBytes
	}
	var addrs []model.Address
	if state == StateRunning || state == StatePaused {
		addrs, err = d.Addresses(ctx, []string{"lease", "agent"})
		if err != nil && errs.KindOf(err) != errs.Unreachable {
			return nil, err
		}
	}
	for i := range v.NICs {
		for _, a := range addrs {
			if a.MAC == v.NICs[i].MAC {
				v.NICs[i].Addresses = append(v.NICs[i].Addresses, a)
			}
		}
	}
	for _, g := range def.Devices.Graphics {
		v.Graphics = append(v.Graphics, graphics(g))
	}
	if def.Metadata != nil {
		v.Metadata = splitMetadata(def.Metadata.XML)
	}
	return v, nil
}

// diskSize fills a disk's capacity and allocation: a volume's from the volume itself (block
// info fails for inactive type='volume' disks), any other's from block info.
func (d *Domain) diskSize(ctx context.Context, disk libvirtxml.DomainDisk, m *model.Disk) {
	if m.Source == "" || m.Target == "" {
		return
	}
	if s := disk.Source; s != nil && s.Volume != nil {
		if vol, err := d.c.LookupVolume(ctx, s.Volume.Pool, s.Volume.Volume); err == nil {
			m.CapacityBytes, m.AllocationBytes = &vol.Capacity, &vol.Allocation
			return
		}
	}
	if bi, err := call(ctx, d.c, "block info", func() (*libvirt.DomainBlockInfo, error) {
		return d.d.GetBlockInfo(m.Target, 0)
	}); err == nil {
		m.CapacityBytes, m.AllocationBytes = &bi.Capacity, &bi.Allocation
	}
}

func graphics(g libvirtxml.DomainGraphic) model.Graphics {
	out := model.Graphics{Port: -1}
	var listeners []libvirtxml.DomainGraphicListener
	switch {
	case g.VNC != nil:
		out.Type, out.Port, listeners = "vnc", g.VNC.Port, g.VNC.Listeners
		if g.VNC.Listen != "" {
			out.Listen = g.VNC.Listen
		}
	case g.Spice != nil:
		out.Type, out.Port, listeners = "spice", g.Spice.Port, g.Spice.Listeners
		if g.Spice.Listen != "" {
			out.Listen = g.Spice.Listen
		}
	case g.RDP != nil:
		out.Type, out.Port, listeners = "rdp", g.RDP.Port, g.RDP.Listeners
	case g.SDL != nil:
		out.Type = "sdl"
	case g.EGLHeadless != nil:
		out.Type = "egl-headless"
	case g.DBus != nil:
		out.Type, out.Listen = "dbus", g.DBus.Address
	case g.Desktop != nil:
		out.Type = "desktop"
	default:
		out.Type = "other"
	}
	for _, l := range listeners {
		if out.Listen != "" {
			break
		}
		switch {
		case l.Address != nil:
			out.Listen = l.Address.Address
		case l.Socket != nil:
			out.Listen = l.Socket.Socket
		case l.Network != nil:
			// The address libvirt resolved when the VM started, else the network it takes one from.
			out.Listen = l.Network.Address
			if out.Listen == "" {
				out.Listen = "network " + l.Network.Network
			}
		}
	}
	if out.Port == 0 {
		out.Port = -1
	}
	return out
}

// splitMetadata separates <metadata>'s children, which applications key by namespace.
func splitMetadata(inner string) []model.Metadata {
	out := []model.Metadata{}
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if err := dec.Skip(); err != nil {
			break
		}
		out = append(out, model.Metadata{Namespace: se.Name.Space, XML: strings.TrimSpace(inner[start:dec.InputOffset()])})
	}
	return out
}

// Conn is the connection the domain was looked up on.
func (d *Domain) Conn() *Conn { return d.c }

// UUID of the domain.
func (d *Domain) UUID(ctx context.Context) (string, error) {
	return call(ctx, d.c, "uuid "+d.Name, d.d.GetUUIDString)
}

// Metadata returns the domain's <metadata> element in namespace ns, or "" when it has none.
func (d *Domain) Metadata(ctx context.Context, ns string) (string, error) {
	x, err := call(ctx, d.c, "metadata "+d.Name, func() (string, error) {
		return d.d.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, ns, libvirt.DOMAIN_AFFECT_CONFIG)
	})
	if err != nil && IsCode(err, libvirt.ERR_NO_DOMAIN_METADATA) {
		return "", nil
	}
	return x, err
}

// SetLiveMemory sets the running domain's current memory (through the balloon).
func (d *Domain) SetLiveMemory(ctx context.Context, kib uint64) error {
	return call0(ctx, d.c, "set memory "+d.Name, func() error {
		return d.d.SetMemoryFlags(kib, libvirt.DOMAIN_MEM_LIVE)
	})
}

// SetLiveDescription changes the running domain's description (the persistent definition
// keeps its own).
func (d *Domain) SetLiveDescription(ctx context.Context, text string) error {
	return call0(ctx, d.c, "set description "+d.Name, func() error {
		return d.d.SetMetadata(libvirt.DOMAIN_METADATA_DESCRIPTION, text, "", "", libvirt.DOMAIN_AFFECT_LIVE)
	})
}

// SetLiveMetadata replaces the running domain's metadata element in namespace ns (written with
// prefix key) with the element x.
func (d *Domain) SetLiveMetadata(ctx context.Context, ns, key, x string) error {
	return call0(ctx, d.c, "set metadata "+d.Name, func() error {
		return d.d.SetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, x, key, ns, libvirt.DOMAIN_AFFECT_LIVE)
	})
}

// SetLiveVCPUs plugs or unplugs vCPUs of a running domain, within its ceiling. Unplugging
// needs the guest's cooperation; libvirt reports when it does not come.
func (d *Domain) SetLiveVCPUs(ctx context.Context, n uint) error {
	return call0(ctx, d.c, "set vcpus "+d.Name, func() error {
		return d.d.SetVcpusFlags(n, libvirt.DOMAIN_VCPU_LIVE)
	})
}

// GrowDisk grows the disk at target (vda…) of a running domain to bytes: QEMU resizes the
// image and the guest sees the new size at once.
func (d *Domain) GrowDisk(ctx context.Context, target string, bytes uint64) error {
	return call0(ctx, d.c, "resize "+target+" of "+d.Name, func() error {
		return d.d.BlockResize(target, bytes, libvirt.DOMAIN_BLOCK_RESIZE_BYTES)
	})
}

// LiveVCPUs is how many vCPUs a running domain has now.
func (d *Domain) LiveVCPUs(ctx context.Context) (int, error) {
	return call(ctx, d.c, "vcpus of "+d.Name, func() (int, error) {
		n, err := d.d.GetVcpusFlags(libvirt.DOMAIN_VCPU_LIVE)
		return int(n), err
	})
}

// ChangeMedia puts the medium at path into the domain's first CD-ROM drive (not its seed,
// whose base name is in skip), or ejects it when path is "". A running domain sees the change
// at once and keeps it; a stopped one gets it in its definition.
func (d *Domain) ChangeMedia(ctx context.Context, path string, skip []string) (string, error) {
	state, _, err := d.State(ctx)
	if err != nil {
		return "", err
	}
	running := !isDown(state)
	def, err := d.Definition(ctx, !running)
	if err != nil {
		return "", err
	}
	var drive *libvirtxml.DomainDisk
	for i := range def.Devices.Disks {
		disk := &def.Devices.Disks[i]
		if disk.Device != "cdrom" {
			continue
		}
		if p := d.c.DiskPath(ctx, *disk); p != "" && contains(skip, filepath.Base(p)) {
			continue
		}
		drive = disk
		break
	}
	if drive == nil {
		return "", errs.New(errs.Conflict, "%s has no CD-ROM drive for install media", d.Name).
			WithHint("add one to its profile (install_iso) and apply it while the VM is stopped")
	}
	target := drive.Target.Dev
	// Only what identifies the drive and the new source: libvirt matches on the target.
	change := libvirtxml.DomainDisk{Device: "cdrom", Driver: drive.Driver, Target: drive.Target, ReadOnly: &libvirtxml.DomainDiskReadOnly{}}
	if path != "" {
		change.Source = &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: path}}
	}
	x, err := change.Marshal()
	if err != nil {
		return "", err
	}
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	if running {
		flags |= libvirt.DOMAIN_DEVICE_MODIFY_LIVE | libvirt.DOMAIN_DEVICE_MODIFY_FORCE
	}
	return target, call0(ctx, d.c, "change media "+d.Name, func() error { return d.d.UpdateDeviceFlags(x, flags) })
}
