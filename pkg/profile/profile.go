// Package profile reads VM profiles: TOML documents that describe a VM. Decoding is strict and
// reports every problem at once with file:line:col; `extends` inherits from another profile and
// the configuration's [vm.defaults] fill what neither says.
package profile

// Profile is a VM description. Sizes are strings with units ("20GiB"); the `doc` tags feed the
// JSON Schema of `vmctl profile schema`, the `enum` tags its enumerations.
type Profile struct {
	// Warnings are what Load found allowed but worth a look (a path outside the stores, a
	// password hash in a file others can read); validate prints them.
	Warnings []Issue `toml:"-" json:"-"`

	Name        string `toml:"name" json:"name" doc:"VM name: 1-64 letters, digits, '.', '_', '-'"`
	Extends     string `toml:"extends" json:"extends,omitempty" doc:"profile to inherit from: a name in the profiles directory or a path"`
	Description string `toml:"description" json:"description,omitempty" doc:"free text, stored as the domain description"`
	Owner       string `toml:"owner" json:"owner,omitempty" doc:"who the VM belongs to (stored in hvctl metadata)"`

	Arch       string `toml:"arch" json:"arch" enum:"x86_64,aarch64,riscv64,loongarch64" doc:"guest architecture"`
	DomainType string `toml:"domain_type" json:"domain_type" enum:"auto,kvm,qemu" doc:"kvm, qemu (emulation) or auto (kvm when the host offers it)"`
	Firmware   string `toml:"firmware" json:"firmware" enum:"bios,uefi,uefi-secure" doc:"boot firmware"`
	VCPUs      int    `toml:"vcpus" json:"vcpus" min:"1" max:"512" doc:"virtual CPUs"`
	MaxVCPUs   int    `toml:"max_vcpus" json:"max_vcpus,omitempty" min:"1" max:"512" doc:"vCPU ceiling for hot-plug (at least vcpus): apply changes vcpus live up to it"`
	Memory     string `toml:"memory" json:"memory" doc:"memory size with unit, e.g. 2GiB"`
	MaxMemory  string `toml:"max_memory" json:"max_memory,omitempty" doc:"balloon ceiling (at least memory)"`

	Disk       Disk   `toml:"disk" json:"disk"`
	ExtraDisks []Disk `toml:"extra_disks" json:"extra_disks,omitempty"`
	InstallISO string `toml:"install_iso" json:"install_iso,omitempty" doc:"ISO attached read-only as a CD-ROM: a file in the ISO store, a catalogue entry pulled into it (its newest image), or a path"`
	CloudInit  *Cloud `toml:"cloud_init" json:"cloud_init,omitempty"`
	Networks   []NIC  `toml:"network" json:"network,omitempty"`
	// NetworkFilter guards the NICs on a network, bridge or zone (VM-025).
	NetworkFilter string   `toml:"network_filter" json:"network_filter,omitempty" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" doc:"libvirt nwfilter on each NIC on a network, bridge or zone: clean-traffic (the default: no MAC, IP or ARP spoofing), another filter's name, or none"`
	HostDevs      []string `toml:"hostdevs" json:"hostdevs,omitempty" pattern:"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$" doc:"PCI devices passed through, as DDDD:BB:SS.F"`

	CPU          CPU          `toml:"cpu" json:"cpu"`
	MemoryOpts   MemoryOpts   `toml:"memory_options" json:"memory_options"`
	Security     Security     `toml:"security" json:"security"`
	Graphics     Graphics     `toml:"graphics" json:"graphics"`
	Video        Video        `toml:"video" json:"video"`
	Audio        Audio        `toml:"audio" json:"audio"`
	LookingGlass LookingGlass `toml:"looking_glass" json:"looking_glass"`
	NUMA         NUMA         `toml:"numa" json:"numa"`
	Balloon      Balloon      `toml:"balloon" json:"balloon"`
	Limits       Limits       `toml:"limits" json:"limits"`

	Autostart         bool   `toml:"autostart" json:"autostart" doc:"start with the host (ordered by group and priority)"`
	AutostartGroup    string `toml:"autostart_group" json:"autostart_group,omitempty" doc:"autostart group; groups start in the order the config gives"`
	AutostartPriority *int   `toml:"autostart_priority" json:"autostart_priority,omitempty" min:"0" max:"100" doc:"order within the group, higher first (default 50)"`
}

// Disk is the system disk or an extra disk.
type Disk struct {
	Size      string `toml:"size" json:"size,omitempty" doc:"virtual size with unit, e.g. 20GiB"`
	BaseImage string `toml:"base_image" json:"base_image,omitempty" doc:"image to overlay: a file in the image store, a catalogue entry pulled into it (its newest image), or a path"`
	Bus       string `toml:"bus" json:"bus,omitempty" enum:"virtio,sata,scsi" doc:"disk bus (default virtio)"`
}

// Cloud is a cloud-init NoCloud seed: from files, or from the fields here.
type Cloud struct {
	UserData      string   `toml:"user_data" json:"user_data,omitempty" doc:"path of a user-data file (instead of the fields below)"`
	MetaData      string   `toml:"meta_data" json:"meta_data,omitempty" doc:"path of a meta-data file"`
	NetworkConfig string   `toml:"network_config" json:"network_config,omitempty" doc:"path of a network-config file"`
	Hostname      string   `toml:"hostname" json:"hostname,omitempty" doc:"guest hostname (default: the VM name)"`
	User          string   `toml:"user" json:"user,omitempty" doc:"user to create"`
	SSHKeys       []string `toml:"ssh_keys" json:"ssh_keys,omitempty" doc:"authorized SSH public keys"`
	PasswordHash  string   `toml:"password_hash" json:"password_hash,omitempty" doc:"crypt(3) hash for the user"`
	Packages      []string `toml:"packages" json:"packages,omitempty"`
	RunCmd        []string `toml:"runcmd" json:"runcmd,omitempty"`
}

// NIC is one network interface: exactly one of network, bridge, zone or user.
type NIC struct {
	Network string `toml:"network" json:"network,omitempty" doc:"libvirt network name"`
	Bridge  string `toml:"bridge" json:"bridge,omitempty" doc:"host bridge"`
	Zone    string `toml:"zone" json:"zone,omitempty" doc:"network zone from the config"`
	User    bool   `toml:"user" json:"user,omitempty" doc:"user-mode networking (no host setup)"`
	MAC     string `toml:"mac" json:"mac,omitempty" pattern:"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$" doc:"MAC address (default: generated by libvirt)"`
	Model   string `toml:"model" json:"model,omitempty" enum:"virtio,e1000e,e1000,rtl8139" doc:"NIC model (default virtio)"`
	Vhost   bool   `toml:"vhost" json:"vhost,omitempty" doc:"use the vhost-net backend"`
}

// CPU tuning.
type CPU struct {
	Mode     string   `toml:"mode" json:"mode,omitempty" enum:"host-passthrough,host-model,maximum" doc:"CPU model mode (default: host-passthrough with kvm, maximum with qemu)"`
	Pinning  []int    `toml:"pinning" json:"pinning,omitempty" doc:"host CPUs the vCPUs are pinned to, cycled over the vCPUs"`
	Features []string `toml:"features" json:"features,omitempty" enum:"shstk,ibt,avic" doc:"CPU features the guest requires"`
}

// MemoryOpts back guest memory.
type MemoryOpts struct {
	Hugepages bool `toml:"hugepages" json:"hugepages,omitempty"`
	Memfd     bool `toml:"memfd" json:"memfd,omitempty" doc:"memfd-backed memory"`
	Private   bool `toml:"private" json:"private,omitempty" doc:"private (not shared) memory access"`
}

// Security features.
type Security struct {
	TPM bool   `toml:"tpm" json:"tpm,omitempty" doc:"emulated TPM 2.0"`
	SEV string `toml:"sev" json:"sev,omitempty" enum:"sev,sev-es,sev-snp" doc:"AMD memory encryption"`
}

// Graphics is the remote display.
type Graphics struct {
	Type   string `toml:"type" json:"type,omitempty" enum:"spice,vnc,none" doc:"display protocol (default vnc)"`
	Listen string `toml:"listen" json:"listen,omitempty" doc:"listen address (default 127.0.0.1)"`
}

// Video is the display adapter.
type Video struct {
	Model string `toml:"model" json:"model,omitempty" enum:"virtio,qxl,vga,bochs,none" doc:"video model (default virtio)"`
	Heads int    `toml:"heads" json:"heads,omitempty" min:"1" max:"4" doc:"screens (default 1)"`
}

// Audio is the sound card.
type Audio struct {
	Model string `toml:"model" json:"model,omitempty" enum:"ich9,ich6,ac97,es1370,usb" doc:"sound card model (default: none)"`
}

// LookingGlass shares a frame buffer with the host.
type LookingGlass struct {
	Enable bool   `toml:"enable" json:"enable,omitempty"`
	Size   string `toml:"size" json:"size,omitempty" doc:"shared memory size, a power of two of at least 32MiB (default 64MiB)"`
}

// NUMA placement of guest memory.
type NUMA struct {
	Nodeset string `toml:"nodeset" json:"nodeset,omitempty" pattern:"^[0-9]+([-,][0-9]+)*$" doc:"host NUMA nodes for guest memory, e.g. 0 or 0-1"`
}

// Balloon controls the memory balloon device.
type Balloon struct {
	Disable bool `toml:"disable" json:"disable,omitempty"`
}

// Limits are cgroup limits libvirt enforces.
type Limits struct {
	CPUQuotaPercent int `toml:"cpu_quota_percent" json:"cpu_quota_percent,omitempty" min:"1" max:"100000" doc:"CPU time as a percentage of one host CPU"`
}
