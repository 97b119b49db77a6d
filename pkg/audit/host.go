package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

// hostOnly wraps a host check: it needs the host's files, so on a remote libvirt host it is
// skipped, not passed.
func hostOnly(check func(inv *Inventory) []Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", notHere(inv)+": its files cannot be read from here")}
		}
		return check(inv)
	}
}

// macAvailable says whether the host has SELinux or AppArmor on (HOST-010's question).
func macAvailable(inv *Inventory) bool {
	if v, err := inv.Read("sys/fs/selinux/enforce"); err == nil && v != "" {
		return true
	}
	v, err := inv.Read("sys/module/apparmor/parameters/enabled")
	return err == nil && v == "Y"
}

// ksmOn says whether the kernel merges identical pages across processes (and so guests).
func ksmOn(inv *Inventory) bool {
	v, err := inv.Read("sys/kernel/mm/ksm/run")
	return err == nil && v == "1"
}

// iommuTable is the ACPI table by which the firmware offers an IOMMU ("" when none).
func iommuTable(inv *Inventory) string {
	for _, t := range []string{"DMAR", "IVRS", "IORT"} {
		if _, err := os.Stat(inv.Path("sys/firmware/acpi/tables/" + t)); err == nil {
			return t
		}
	}
	return ""
}

func pciHostdevUsers(inv *Inventory) []string {
	return vmsWith(inv, func(d Domain) bool {
		for _, h := range devices(d.Def).Hostdevs {
			if h.SubsysPCI != nil {
				return true
			}
		}
		for _, nic := range devices(d.Def).Interfaces {
			if nic.Source != nil && nic.Source.Hostdev != nil {
				return true
			}
		}
		return false
	})
}

// confidentialHost says which confidential-guest technology the host offers ("" when none).
func confidentialHost(inv *Inventory) string {
	if v, err := inv.Read("sys/module/kvm_amd/parameters/sev"); err == nil && (v == "1" || v == "Y" || v == "y") {
		if _, err := os.Stat(inv.Path("dev/sev")); err == nil {
			if snp, err := inv.Read("sys/module/kvm_amd/parameters/sev_snp"); err == nil && (snp == "Y" || snp == "1") {
				return "sev-snp"
			}
			return "sev"
		}
	}
	if v, err := inv.Read("sys/module/kvm_intel/parameters/tdx"); err == nil && (v == "Y" || v == "1") {
		return "tdx"
	}
	if _, err := os.Stat(inv.Path("sys/firmware/uv")); err == nil {
		if cmdline, _ := inv.Read("proc/cmdline"); strings.Contains(cmdline, "prot_virt=1") || strings.Contains(cmdline, "prot_virt=on") {
			return "s390-pv"
		}
	}
	return ""
}

var hostControls = []Control{
	{ID: "HOST-001", Group: "host", Severity: Medium, Title: "Hardware virtualization present",
		Description: "Without VT-x/AMD-V (or s390 SIE) guests run under TCG emulation, which QEMU does not hold to its security bar.",
		HowChecked:  "/proc/cpuinfo flags (x86: vmx, svm; s390: sie in features); ppc64 is assumed capable.",
		Remediation: "Enable virtualization (VT-x/AMD-V) in the firmware setup.",
		Check: hostOnly(func(inv *Inventory) []Result {
			info, err := inv.Read("proc/cpuinfo")
			if err != nil {
				return []Result{errored("host", err)}
			}
			for _, line := range strings.Split(info, "\n") {
				k, v, ok := strings.Cut(line, ":")
				switch strings.TrimSpace(k) {
				case "flags", "features", "Features", "facilities":
				default:
					continue
				}
				if !ok {
					continue
				}
				for _, f := range strings.Fields(v) {
					if f == "vmx" || f == "svm" || f == "sie" {
						return []Result{pass("host", "CPU flag %s", f)}
					}
				}
				return []Result{fail("host", "the CPU shows neither vmx, svm nor sie: guests run under TCG emulation (see VM-001)").at(&model.FindingLocation{File: "/proc/cpuinfo"})}
			}
			if strings.Contains(info, "POWER") {
				return []Result{pass("host", "ppc64: KVM support assumed")}
			}
			return []Result{skipped("host", "no CPU flags in /proc/cpuinfo")}
		})},
	{ID: "HOST-002", Group: "host", Severity: Medium, Title: "/dev/kvm exists",
		Description: "Without /dev/kvm QEMU falls back to emulation.",
		HowChecked:  "stat /dev/kvm.",
		Remediation: "Load kvm_intel or kvm_amd (modprobe) and enable virtualization in the firmware.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if _, err := os.Stat(inv.Path("dev/kvm")); err != nil {
				return []Result{fail("host", "/dev/kvm is missing: the kvm module is not loaded or virtualization is off in the firmware").at(&model.FindingLocation{Path: "/dev/kvm"})}
			}
			return []Result{pass("host", "/dev/kvm exists")}
		})},
	{ID: "HOST-003", Group: "host", Severity: Info, Title: "/dev/kvm access mode",
		Description: "Who may open /dev/kvm may run VMs outside libvirt; 0666 is some distributions' default.",
		HowChecked:  "stat /dev/kvm (mode and group).",
		Remediation: "Nothing to do unless local users are untrusted: then chmod 0660 /dev/kvm (udev rule) with group kvm.",
		Check: hostOnly(func(inv *Inventory) []Result {
			fi, err := os.Stat(inv.Path("dev/kvm"))
			if err != nil {
				return []Result{skipped("host", "no /dev/kvm (see HOST-002)")}
			}
			return []Result{pass("host", "/dev/kvm mode %04o, group %s", fi.Mode().Perm(), groupName(inv, fi))}
		})},
	{ID: "HOST-004", Group: "host", Severity: Low, Title: "/dev/net/tun exists",
		Description: "Without /dev/net/tun tap networking (bridges, NAT networks) cannot work.",
		HowChecked:  "stat /dev/net/tun.",
		Remediation: "modprobe tun (and list it in /etc/modules-load.d).",
		Check: hostOnly(func(inv *Inventory) []Result {
			if _, err := os.Stat(inv.Path("dev/net/tun")); err != nil {
				return []Result{fail("host", "/dev/net/tun is missing: load the tun module").at(&model.FindingLocation{Path: "/dev/net/tun"})}
			}
			return []Result{pass("host", "/dev/net/tun exists")}
		})},
	{ID: "HOST-005", Group: "host", Severity: Info, Title: "/dev/vhost-net exists",
		Description: "Without vhost-net virtio networking runs in QEMU's userspace: slower, not less safe.",
		HowChecked:  "stat /dev/vhost-net.",
		Remediation: "modprobe vhost_net.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if _, err := os.Stat(inv.Path("dev/vhost-net")); err != nil {
				return []Result{fail("host", "/dev/vhost-net is missing: virtio networking runs in QEMU's userspace (slower, not less safe)").at(&model.FindingLocation{Path: "/dev/vhost-net"})}
			}
			return []Result{pass("host", "/dev/vhost-net exists")}
		})},
	{ID: "HOST-006", Group: "host", Severity: Medium, Title: "cgroup controllers available",
		Description: "libvirt enforces resource limits and the device ACL through cgroups; a missing controller silently drops them.",
		HowChecked:  "/sys/fs/cgroup/cgroup.controllers (v2: cpu cpuset memory io) or the v1 hierarchies (memory cpu cpuacct cpuset devices blkio).",
		Remediation: "Enable the missing controllers (cgroup v2: systemd delegates them; v1: mount them).",
		Check: hostOnly(func(inv *Inventory) []Result {
			var missing []string
			if v2, err := inv.Read("sys/fs/cgroup/cgroup.controllers"); err == nil {
				have := strings.Fields(v2)
				for _, c := range []string{"cpu", "cpuset", "memory", "io"} {
					if !slices.Contains(have, c) {
						missing = append(missing, c)
					}
				}
			} else {
				for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "devices", "blkio"} {
					if _, err := os.Stat(inv.Path(filepath.Join("sys/fs/cgroup", c))); err != nil {
						missing = append(missing, c)
					}
				}
			}
			if len(missing) > 0 {
				return []Result{fail("host", "cgroup controllers missing: %s (limits and the device ACL are not enforced)", strings.Join(missing, ", ")).at(&model.FindingLocation{Path: "/sys/fs/cgroup"})}
			}
			return []Result{pass("host", "cgroup controllers present")}
		})},
	{ID: "HOST-007", Group: "host", Severity: Medium, Title: "IOMMU present in firmware",
		Description: "Without an IOMMU offered by the firmware (ACPI DMAR, IVRS or IORT), device DMA cannot be isolated and PCI assignment is unsafe.",
		HowChecked:  "/sys/firmware/acpi/tables/DMAR (Intel VT-d), IVRS (AMD-Vi), IORT (ARM SMMU).",
		Remediation: "Enable VT-d / AMD-Vi (IOMMU) in the firmware setup; some boards do not have one.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if t := iommuTable(inv); t != "" {
				return []Result{pass("host", "ACPI %s table present", t)}
			}
			r := fail("host", "no DMAR, IVRS or IORT table: the firmware offers no IOMMU (or it is off in its setup)").at(&model.FindingLocation{Path: "/sys/firmware/acpi/tables"})
			if users := pciHostdevUsers(inv); len(users) > 0 {
				r.Severity = High
				r.Detail += "; PCI devices are assigned to " + strings.Join(users, ", ")
			}
			return []Result{r}
		})},
	{ID: "HOST-008", Group: "host", Severity: Medium, Title: "IOMMU enabled in the kernel",
		Description: "With an IOMMU in the firmware but not enabled in the kernel, device DMA is not isolated.",
		HowChecked:  "/sys/kernel/iommu_groups has entries; judged only when the firmware offers an IOMMU (HOST-007).",
		Remediation: "Add intel_iommu=on (Intel, DMAR) or amd_iommu=on (AMD, IVRS) to the kernel command line.",
		Check: hostOnly(func(inv *Inventory) []Result {
			entries, err := os.ReadDir(inv.Path("sys/kernel/iommu_groups"))
			if err == nil && len(entries) > 0 {
				return []Result{pass("host", "%d IOMMU groups", len(entries))}
			}
			table := iommuTable(inv)
			if table == "" {
				return []Result{skipped("host", "the firmware offers no IOMMU: reported once, by HOST-007")}
			}
			param := map[string]string{"DMAR": "intel_iommu=on", "IVRS": "amd_iommu=on", "IORT": "iommu.passthrough=0"}[table]
			r := fail("host", "the firmware has an IOMMU (ACPI %s) but the kernel made no IOMMU groups: device DMA is not isolated", table).
				at(&model.FindingLocation{File: "/proc/cmdline"}).fix("Add %s to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub) and reboot.", param)
			if users := pciHostdevUsers(inv); len(users) > 0 {
				r.Severity = High
				r.Detail += "; PCI devices are assigned to " + strings.Join(users, ", ")
			}
			return []Result{r}
		})},
	{ID: "HOST-009", Group: "host", Severity: Info, Title: "Confidential-guest capability",
		Description: "AMD SEV/SEV-SNP, Intel TDX or s390 protected virtualization encrypt guest memory against the host; VM-031 reports guests that could use it.",
		HowChecked:  "/sys/module/kvm_amd/parameters/sev (and sev_snp) with /dev/sev, /sys/module/kvm_intel/parameters/tdx, /sys/firmware/uv with prot_virt in /proc/cmdline.",
		Remediation: "Nothing to do unless guests need protection from the host: then enable SEV/TDX in the firmware and the kvm module.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if t := confidentialHost(inv); t != "" {
				return []Result{pass("host", "the host offers %s", t)}
			}
			return []Result{fail("host", "no confidential-guest technology (SEV, TDX, s390 PV) is available or enabled").at(&model.FindingLocation{Path: "/sys/module/kvm"})}
		})},
	{ID: "HOST-010", Group: "host", Severity: High, Title: "Mandatory access control enforcing",
		Description: "sVirt (SELinux) or libvirt's AppArmor profiles confine each QEMU to its own VM's files; without a MAC, DAC alone separates guests.",
		HowChecked:  "/sys/fs/selinux/enforce = 1, or AppArmor enabled (/sys/module/apparmor/parameters/enabled) with profiles loaded.",
		Remediation: "Enable SELinux in enforcing mode or AppArmor with libvirt's profiles, and restart libvirt.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if v, err := inv.Read("sys/fs/selinux/enforce"); err == nil && v == "1" {
				return []Result{pass("host", "SELinux enforcing")}
			}
			if v, err := inv.Read("sys/module/apparmor/parameters/enabled"); err == nil && v == "Y" {
				if p, err := inv.Read("sys/kernel/security/apparmor/profiles"); err == nil && p != "" {
					return []Result{pass("host", "AppArmor enabled with profiles")}
				}
				return []Result{fail("host", "AppArmor is enabled but no profiles are loaded").at(&model.FindingLocation{Path: "/sys/kernel/security/apparmor/profiles"})}
			}
			return []Result{fail("host", "neither SELinux enforcing nor AppArmor enabled: guests are confined by DAC alone").at(&model.FindingLocation{Path: "/sys/fs/selinux"})}
		})},
	{ID: "HOST-011", Group: "host", Severity: High, Title: "libvirt security driver active",
		Description: "With a MAC on the host, libvirt should run its selinux or apparmor security model so that guests get labels.",
		HowChecked:  "virConnectGetCapabilities(): /capabilities/host/secmodel/model, with HOST-010's MAC state.",
		Remediation: "Remove security_driver from qemu.conf (DAEMON-013) and restart libvirt so it picks up the host's MAC.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if inv.Caps == nil {
				return []Result{errored("host", fmt.Errorf("libvirt gave no capabilities"))}
			}
			var models []string
			for _, m := range inv.Caps.Host.SecModel {
				models = append(models, m.Name)
			}
			if slices.Contains(models, "selinux") || slices.Contains(models, "apparmor") {
				return []Result{pass("host", "security models %s", strings.Join(models, ", "))}
			}
			if !macAvailable(inv) {
				return []Result{skipped("host", "no SELinux or AppArmor on this host (see HOST-010)")}
			}
			return []Result{fail("host", "libvirt runs only the %s security model although the host has a MAC: guests get no sVirt/AppArmor labels", or(strings.Join(models, ", "), "none")).at(inv.QEMUConf.Loc("security_driver"))}
		})},
	{ID: "HOST-012", Group: "host", Severity: High, Title: "QEMU processes confined",
		Description: "Each running QEMU should carry an svirt_t or libvirt-UUID label; an unconfined QEMU reaches whatever its user can.",
		HowChecked:  "/proc/PID/attr/current (or attr/apparmor/current) of each QEMU, found through /run/libvirt/qemu/NAME.pid.",
		Remediation: "Remove <seclabel type='none'> from the VM and security_driver = \"none\" from qemu.conf, then restart the VM.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if !macAvailable(inv) {
				return []Result{skipped("host", "no SELinux or AppArmor on this host (see HOST-010)")}
			}
			return forEachQEMUPid(inv, func(name, pid string) Result {
				label, err := inv.Read(filepath.Join("proc", pid, "attr/current"))
				if err != nil || label == "" {
					label, err = inv.Read(filepath.Join("proc", pid, "attr/apparmor/current"))
				}
				if err != nil {
					return errored(name, err)
				}
				if strings.Contains(label, "unconfined") || !strings.Contains(label, "svirt") && !strings.Contains(label, "libvirt-") {
					return fail(name, "QEMU runs with label %q: not confined by sVirt or libvirt's AppArmor profile", label)
				}
				return pass(name, "label %s", label)
			})
		})},
	{ID: "HOST-013", Group: "host", Severity: Critical, Title: "QEMU processes not root",
		Description: "A QEMU running as root turns any guest escape into a root compromise.",
		HowChecked:  "Uid: in /proc/PID/status of each running VM's QEMU, and the dac security model's baselabel for kvm and qemu domains in libvirt's capabilities.",
		Remediation: "Remove user/group root from qemu.conf (DAEMON-016) and any <seclabel model='dac'> with a root label (VM-003), then restart the VM.",
		Check: hostOnly(func(inv *Inventory) []Result {
			// The base label is what libvirt will start the next QEMU with, running VMs or not.
			if inv.Caps != nil {
				for _, m := range inv.Caps.Host.SecModel {
					for _, l := range m.Labels {
						if user, _, _ := strings.Cut(l.Value, ":"); m.Name == "dac" && dacRootPart.MatchString(user) {
							return []Result{fail("host", "libvirt's DAC base label for %s domains is %s: it starts QEMU as root", l.Type, l.Value).at(inv.QEMUConf.Loc("user"))}
						}
					}
				}
			}
			return forEachQEMU(inv, func(name, status string) Result {
				uid := statusField(status, "Uid:")
				if len(uid) > 1 && uid[1] == "0" {
					return fail(name, "QEMU runs with effective UID 0")
				}
				return pass(name, "uid %s", strings.Join(uid, " "))
			})
		})},
	{ID: "HOST-014", Group: "host", Severity: High, Title: "QEMU seccomp sandbox active",
		Description: "QEMU's seccomp filter denies obsolete, privilege-raising and process-spawning system calls.",
		HowChecked:  "Seccomp: in /proc/PID/status of each running QEMU (2 = filter mode).",
		Remediation: "Remove seccomp_sandbox = 0 from qemu.conf and qemu:capabilities that drop seccomp-sandbox (VM-006), then restart the VM.",
		Check: hostOnly(func(inv *Inventory) []Result {
			return forEachQEMU(inv, func(name, status string) Result {
				if s := statusField(status, "Seccomp:"); len(s) == 0 || s[0] != "2" {
					return fail(name, "QEMU is not in seccomp filter mode (Seccomp: %s)", strings.Join(s, " "))
				}
				return pass(name, "seccomp filter mode")
			})
		})},
	{ID: "HOST-015", Group: "host", Severity: Medium, Title: "QEMU in a private mount namespace",
		Description: "libvirt gives each QEMU a private /dev with only its VM's devices; in the host's namespace it sees all of them.",
		HowChecked:  "the /proc/PID/ns/mnt link of each QEMU against /proc/1/ns/mnt.",
		Remediation: "Remove namespaces = [] from qemu.conf and restart the VM.",
		Check: hostOnly(func(inv *Inventory) []Result {
			// The host's namespace: init's, or (in a container that hides init) this process's own.
			init, err := os.Readlink(inv.Path("proc/1/ns/mnt"))
			if err != nil {
				if init, err = os.Readlink(inv.Path("proc/self/ns/mnt")); err != nil {
					return []Result{errored("host", err)}
				}
			}
			return forEachQEMUPid(inv, func(name, pid string) Result {
				ns, err := os.Readlink(inv.Path(filepath.Join("proc", pid, "ns/mnt")))
				if err != nil {
					return errored(name, err)
				}
				if ns == init {
					return fail(name, "QEMU shares the host's mount namespace (%s): it sees the whole of /dev", ns)
				}
				return pass(name, "private mount namespace %s", ns)
			})
		})},
	{ID: "HOST-016", Group: "host", Severity: High, Title: "CPU vulnerability mitigations",
		Description: "A CPU vulnerability the kernel reports as Vulnerable lets a guest read the host's or other guests' memory.",
		HowChecked:  "every file in /sys/devices/system/cpu/vulnerabilities.",
		Remediation: "Update the kernel and CPU microcode; do not boot with mitigations=off.",
		Check: hostOnly(func(inv *Inventory) []Result {
			dir := inv.Path("sys/devices/system/cpu/vulnerabilities")
			entries, err := os.ReadDir(dir)
			if err != nil {
				return []Result{errored("host", err)}
			}
			var bad []string
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					continue
				}
				v := strings.TrimSpace(string(b))
				if strings.HasPrefix(v, "Vulnerable") || strings.HasPrefix(v, "KVM: Vulnerable") {
					bad = append(bad, e.Name()+": "+v)
				}
			}
			if len(bad) > 0 {
				slices.Sort(bad)
				return []Result{fail("host", "%s", strings.Join(bad, "; ")).at(&model.FindingLocation{Path: "/sys/devices/system/cpu/vulnerabilities"})}
			}
			return []Result{pass("host", "no CPU vulnerability reported as Vulnerable (%d checked)", len(entries))}
		})},
	{ID: "HOST-017", Group: "host", Severity: Medium, Title: "SMT with untrusted guests",
		Description: "With SMT on, a CPU that reports SMT vulnerable lets guests on sibling threads leak to each other; turning SMT off is a policy decision.",
		HowChecked:  "/sys/devices/system/cpu/smt/control and the vulnerability files that say SMT vulnerable.",
		Remediation: "Boot with nosmt (or l1tf=full,force / mds=full,nosmt) if guests are untrusted, or pin untrusted guests to whole cores.",
		Check: hostOnly(func(inv *Inventory) []Result {
			smt, err := inv.Read("sys/devices/system/cpu/smt/control")
			if err != nil || smt != "on" {
				return []Result{pass("host", "SMT %s", or(smt, "unknown"))}
			}
			dir := inv.Path("sys/devices/system/cpu/vulnerabilities")
			entries, _ := os.ReadDir(dir)
			var smtVulnerable []string
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				if strings.Contains(string(b), "SMT vulnerable") {
					smtVulnerable = append(smtVulnerable, e.Name())
				}
			}
			if len(smtVulnerable) > 0 {
				return []Result{fail("host", "SMT is on and %s report SMT vulnerable: guests on sibling threads can leak to each other", strings.Join(smtVulnerable, ", ")).at(&model.FindingLocation{Path: "/sys/devices/system/cpu/smt/control"})}
			}
			return []Result{pass("host", "SMT on, no vulnerability says SMT vulnerable")}
		})},
	{ID: "HOST-018", Group: "host", Severity: Medium, Title: "KVM L1D flush on VM entry",
		Description: "On CPUs affected by L1TF, KVM must flush the L1 data cache on VM entry, or a guest can read host memory.",
		HowChecked:  "/sys/module/kvm_intel/parameters/vmentry_l1d_flush with /sys/devices/system/cpu/vulnerabilities/l1tf.",
		Remediation: "Remove kvm-intel.vmentry_l1d_flush=never from the kernel command line (default cond).",
		Check: hostOnly(func(inv *Inventory) []Result {
			flush, err := inv.Read("sys/module/kvm_intel/parameters/vmentry_l1d_flush")
			if err != nil {
				return []Result{skipped("host", "no kvm_intel")}
			}
			l1tf, _ := inv.Read("sys/devices/system/cpu/vulnerabilities/l1tf")
			if flush == "never" && l1tf != "" && !strings.HasPrefix(l1tf, "Not affected") {
				return []Result{fail("host", "vmentry_l1d_flush=never on a CPU affected by L1TF (%s)", l1tf).at(&model.FindingLocation{Path: "/sys/module/kvm_intel/parameters/vmentry_l1d_flush"})}
			}
			return []Result{pass("host", "vmentry_l1d_flush=%s", flush)}
		})},
	{ID: "HOST-019", Group: "host", Severity: Low, Title: "KSM page merging",
		Description: "KSM deduplicates identical pages across guests, which opens timing side channels between them.",
		HowChecked:  "/sys/kernel/mm/ksm/run.",
		Remediation: "echo 0 > /sys/kernel/mm/ksm/run (disable ksmtuned), or give sensitive guests <memoryBacking><nosharepages/> (VM-024).",
		Check: hostOnly(func(inv *Inventory) []Result {
			if ksmOn(inv) {
				return []Result{fail("host", "KSM is merging pages: deduplication can leak data between guests (see VM-024)").at(&model.FindingLocation{Path: "/sys/kernel/mm/ksm/run"})}
			}
			return []Result{pass("host", "KSM is off")}
		})},
	{ID: "HOST-020", Group: "host", Severity: Low, Title: "Nested virtualization",
		Description: "Nested virtualization lets guests run hypervisors, a larger attack surface in KVM.",
		HowChecked:  "/sys/module/kvm_intel/parameters/nested and /sys/module/kvm_amd/parameters/nested.",
		Remediation: "options kvm_intel nested=0 (kvm_amd) in /etc/modprobe.d, unless a guest needs it.",
		Check: hostOnly(func(inv *Inventory) []Result {
			for _, m := range []string{"kvm_intel", "kvm_amd"} {
				if v, err := inv.Read("sys/module/" + m + "/parameters/nested"); err == nil && (v == "Y" || v == "1") {
					return []Result{fail("host", "%s nested=%s: guests can run hypervisors, a larger attack surface", m, v).at(&model.FindingLocation{Path: "/sys/module/" + m + "/parameters/nested"}).
						fix("Add options %s nested=0 to /etc/modprobe.d/kvm.conf and reload the module, unless a guest needs nesting.", m)}
				}
			}
			return []Result{pass("host", "nested virtualization off")}
		})},
	{ID: "HOST-021", Group: "host", Severity: Low, Title: "Kernel hardening sysctls",
		Description: "Kernel pointer and log restrictions, ASLR, link protections, no setuid dumps, a ptrace scope and a restrictive perf_event_paranoid narrow what a compromised QEMU can learn or reach.",
		HowChecked:  "/proc/sys: kernel.kptr_restrict=2, kernel.dmesg_restrict=1, kernel.randomize_va_space=2, fs.protected_symlinks=1, fs.protected_hardlinks=1, fs.suid_dumpable=0, kernel.yama.ptrace_scope>=1, kernel.perf_event_paranoid>=2 (3 where the kernel has it).",
		Remediation: "Set the listed values in /etc/sysctl.d/90-hardening.conf and run sysctl --system.",
		Check: hostOnly(func(inv *Inventory) []Result {
			want := []struct {
				key string
				ok  func(v string) bool
				exp string
			}{
				{"kernel/kptr_restrict", eq("2"), "2"}, {"kernel/dmesg_restrict", eq("1"), "1"}, {"kernel/randomize_va_space", eq("2"), "2"},
				{"fs/protected_symlinks", eq("1"), "1"}, {"fs/protected_hardlinks", eq("1"), "1"}, {"fs/suid_dumpable", eq("0"), "0"},
				{"kernel/yama/ptrace_scope", atLeast(1), "1, 2 or 3"}, {"kernel/perf_event_paranoid", atLeast(2), "2 or 3"},
			}
			var bad, fixes []string
			for _, w := range want {
				name := strings.ReplaceAll(w.key, "/", ".")
				v, err := inv.Read("proc/sys/" + w.key)
				if err != nil {
					if w.key == "kernel/yama/ptrace_scope" && os.IsNotExist(err) {
						bad = append(bad, "kernel.yama.ptrace_scope absent (no Yama LSM: any process may trace its user's others)")
					}
					continue
				}
				if !w.ok(v) {
					bad = append(bad, name+"="+v+" (want "+w.exp+")")
					fixes = append(fixes, name+" = "+strings.Fields(w.exp)[0])
				}
			}
			if len(bad) > 0 {
				r := fail("host", "%s", strings.Join(bad, ", ")).at(&model.FindingLocation{Path: "/proc/sys"})
				if len(fixes) > 0 {
					r = r.fix("Put %s in /etc/sysctl.d/90-hardening.conf and run sysctl --system.", strings.Join(fixes, ", "))
				}
				return []Result{r}
			}
			return []Result{pass("host", "all %d hardening sysctls as wanted", len(want))}
		})},
	{ID: "HOST-022", Group: "host", Severity: Medium, Title: "Host firewall active",
		Description: "Without a packet filter on the host's input path, every listener the host or a NAT network exposes is reachable; libvirt's own chains filter only guest traffic.",
		HowChecked:  "the ruleset printed by `nft list ruleset` or `iptables-save` (read-only), outside libvirt's own tables and chains: an input chain with policy drop or drop/reject rules; or firewalld running.",
		Remediation: "Enable a host firewall that drops unsolicited input (firewalld, ufw, or an nftables input chain with policy drop) and allow only what the host serves.",
		Check: hostOnly(func(inv *Inventory) []Result {
			if running(inv, "firewalld") {
				return []Result{pass("host", "firewalld runs")}
			}
			fw := inv.Firewall
			switch {
			case fw == nil:
				return []Result{skipped("host", "the firewall state is read on the live host only")}
			case fw.Err != nil:
				return []Result{errored("host", fmt.Errorf("cannot read the firewall: %w", fw.Err))}
			}
			if how := inputFiltered(fw); how != "" {
				return []Result{pass("host", "%s: %s", fw.Source, how)}
			}
			return []Result{fail("host", "%s shows no input filtering outside libvirt's own rules: whatever listens on the host is reachable", fw.Source).at(&model.FindingLocation{Process: fw.Source})}
		})},
	{ID: "HOST-023", Group: "host", Severity: Medium, Title: "Host auditing",
		Description: "Without auditd, libvirt's audit records of VM operations (DAEMON-020) go nowhere.",
		HowChecked:  "a process named auditd under /proc.",
		Remediation: "Install and enable auditd (systemctl enable --now auditd).",
		Check: hostOnly(func(inv *Inventory) []Result {
			if running(inv, "auditd") {
				return []Result{pass("host", "auditd runs")}
			}
			return []Result{fail("host", "auditd is not running: VM operations leave no audit trail on the host").at(&model.FindingLocation{Path: "/proc"})}
		})},
	{ID: "HOST-024", Group: "host", Severity: High, Title: "Exposed virtualization listeners",
		Description: "libvirt's plain TCP port, QEMU's VNC/SPICE displays and websockets, and incoming migration ports on a network address are attack surface reachable from the network.",
		HowChecked:  "LISTEN sockets in /proc/net/tcp and tcp6 mapped to their processes through /proc/PID/fd; tcp_port of the daemon when libvirtd, virtproxyd or systemd holds it; QEMU-owned sockets in remote_display_port_min..max (5900–65535), remote_websocket_port_min..max (5700–65535) and migration_port_min..max (49152–49215) of qemu.conf.",
		Remediation: "Bind displays to 127.0.0.1 (VM-007) and reach them through SSH; stop plain TCP (DAEMON-001); set migration_address to the management network (DAEMON-022).",
		Check: hostOnly(func(inv *Inventory) []Result {
			ls, err := listeners(inv)
			if err != nil {
				return []Result{errored("host", err)}
			}
			rng := func(minKey string, min int, maxKey string, max int) (int, int) {
				if c := inv.QEMUConf; c != nil && c.Err == nil {
					if n, set, err := c.Int(minKey); set && err == nil {
						min = int(n)
					}
					if n, set, err := c.Int(maxKey); set && err == nil {
						max = int(n)
					}
				}
				return min, max
			}
			dispMin, dispMax := rng("remote_display_port_min", 5900, "remote_display_port_max", 65535)
			wsMin, wsMax := rng("remote_websocket_port_min", 5700, "remote_websocket_port_max", 65535)
			migMin, migMax := rng("migration_port_min", 49152, "migration_port_max", 49215)
			tcpPort := 16509
			authNone := false
			if c := inv.RemoteConf; c != nil && c.Err == nil {
				// tcp_port is a string in libvirtd.conf ("16509").
				if s, _ := str(c, "tcp_port", ""); s != "" {
					if n, err := strconv.Atoi(s); err == nil {
						tcpPort = n
					}
				}
				auth, _ := str(c, "auth_tcp", "sasl")
				authNone = auth == "none"
			}
			var out []Result
			for _, l := range ls {
				if l.addr.IsLoopback() {
					continue
				}
				qemu := strings.HasPrefix(l.comm, "qemu") || l.vm != ""
				var what string
				sev := High
				switch {
				case l.port == tcpPort && l.libvirts():
					what = "plain libvirt TCP"
					if authNone {
						sev = Critical
					}
				case qemu && l.port >= migMin && l.port <= migMax:
					what = "an incoming migration"
				case qemu && l.port >= dispMin && l.port <= dispMax:
					what = "a VNC/SPICE display"
				case qemu && l.port >= wsMin && l.port <= wsMax:
					what = "a VNC websocket"
				default:
					continue
				}
				if l.vm != "" {
					what += " of " + l.vm
				}
				out = append(out, fail(l.String(), "%s on %s%s: reachable from the network", what, l.String(), ownedBy(l)).sev(sev).at(l.loc()))
			}
			if len(out) == 0 {
				return []Result{pass("host", "no libvirt TCP, display, websocket or migration listener on a network address (%d listeners checked)", len(ls))}
			}
			slices.SortFunc(out, func(a, b Result) int { return strings.Compare(a.Target, b.Target) })
			return out
		})},
	{ID: "HOST-025", Group: "host", Severity: Info, Title: "Root-equivalent group members",
		Description: "Read-write access to libvirt can start a guest with a root DAC label or the host's disks: members of the libvirt group (or unix_sock_group) and users granted by polkit rules are effectively root.",
		HowChecked:  "/etc/group and /etc/passwd for the libvirt group and unix_sock_group, and /etc/polkit-1/rules.d/*libvirt*.",
		Remediation: "Keep the group to administrators: gpasswd -d USER libvirt.",
		Check: hostOnly(func(inv *Inventory) []Result {
			groups := []string{"libvirt"}
			for _, c := range []*Conf{inv.RemoteConf, inv.DriverConf} {
				if c != nil && c.Err == nil {
					if g, _ := str(c, "unix_sock_group", ""); g != "" && !slices.Contains(groups, g) {
						groups = append(groups, g)
					}
				}
			}
			members := groupMembers(inv, groups)
			rules, _ := filepath.Glob(inv.Path("etc/polkit-1/rules.d/*libvirt*"))
			for i := range rules {
				rules[i] = "/" + relTo(inv, rules[i])
			}
			if len(members) == 0 && len(rules) == 0 {
				return []Result{pass("host", "no members of %s, no libvirt polkit rules", strings.Join(groups, ", "))}
			}
			detail := "root-equivalent through libvirt: "
			if len(members) > 0 {
				detail += "members of " + strings.Join(groups, "/") + ": " + strings.Join(members, ", ")
			}
			if len(rules) > 0 {
				detail += "; polkit rules " + strings.Join(rules, ", ")
			}
			return []Result{fail("host", "%s", detail).at(&model.FindingLocation{File: "/etc/group"})}
		})},
	{ID: "HOST-026", Group: "host", Severity: Info, Title: "Versions inventory",
		Description: "The libvirt, QEMU and kernel versions, to match against distribution advisories.",
		HowChecked:  "virConnectGetLibVersion(), virConnectGetVersion() and /proc/sys/kernel/osrelease.",
		Remediation: "Keep libvirt, QEMU and the kernel at the distribution's current security updates.",
		Check: func(inv *Inventory) []Result {
			detail := inv.Versions
			if inv.Local {
				if k, err := inv.Read("proc/sys/kernel/osrelease"); err == nil {
					detail += ", kernel " + k
				}
			}
			return []Result{pass("host", "%s", or(detail, "versions unknown"))}
		}},
}

func eq(want string) func(string) bool { return func(v string) bool { return v == want } }

func atLeast(n int) func(string) bool {
	return func(v string) bool {
		x, err := strconv.Atoi(v)
		return err == nil && x >= n
	}
}

// groupMembers lists the users in the named groups: listed members and users whose primary
// group it is.
func groupMembers(inv *Inventory, groups []string) []string {
	var out []string
	gids := map[string]bool{}
	data, _ := inv.Read("etc/group")
	for _, line := range strings.Split(data, "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || !slices.Contains(groups, f[0]) {
			continue
		}
		gids[f[2]] = true
		for _, m := range strings.Split(f[3], ",") {
			if m != "" && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	passwd, _ := inv.Read("etc/passwd")
	for _, line := range strings.Split(passwd, "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 4 && gids[f[3]] && !slices.Contains(out, f[0]) {
			out = append(out, f[0])
		}
	}
	slices.Sort(out)
	return out
}

// inputFiltered says how the ruleset filters the host's input, outside libvirt's own tables
// and chains ("" when it does not).
func inputFiltered(fw *Firewall) string {
	if strings.HasPrefix(fw.Source, "nft") {
		table, chain, inputHook := "", "", false
		for _, line := range strings.Split(fw.Rules, "\n") {
			t := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(t, "table "):
				table = strings.TrimSuffix(t, " {")
			case strings.HasPrefix(t, "chain "):
				chain, inputHook = strings.TrimSuffix(strings.TrimPrefix(t, "chain "), " {"), false
			}
			if strings.Contains(table, "libvirt") {
				continue
			}
			if strings.Contains(t, "hook input") {
				inputHook = true
				if strings.Contains(t, "policy drop") {
					return table + " chain " + chain + " drops input by default"
				}
			}
			if inputHook && (strings.HasSuffix(t, " drop") || strings.HasSuffix(t, " reject") || strings.Contains(t, " reject with ")) {
				return table + " chain " + chain + " drops or rejects input"
			}
		}
		return ""
	}
	for _, line := range strings.Split(fw.Rules, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == ":INPUT" && f[1] == "DROP":
			return "the INPUT chain drops by default"
		case len(f) >= 4 && f[0] == "-A" && f[1] == "INPUT":
			target := f[len(f)-1]
			for i := range f {
				if f[i] == "-j" && i+1 < len(f) {
					target = f[i+1]
				}
			}
			if target == "DROP" || target == "REJECT" || !strings.HasPrefix(target, "LIBVIRT") && target != "ACCEPT" && target != "RETURN" {
				return "INPUT has " + strings.Join(f[2:], " ")
			}
		}
	}
	return ""
}
