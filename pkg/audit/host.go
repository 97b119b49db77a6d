package audit

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// hostOnly wraps a host check: it needs the host's files, so on a remote libvirt host it is
// skipped, not passed.
func hostOnly(check func(inv *Inventory) []Result) func(inv *Inventory) []Result {
	return func(inv *Inventory) []Result {
		if !inv.Local {
			return []Result{skipped("host", "the libvirt host is remote: its files cannot be read from here")}
		}
		return check(inv)
	}
}

var hostControls = []Control{
	{ID: "HOST-001", Group: "host", Severity: "medium", Title: "Hardware virtualization present", Check: hostOnly(func(inv *Inventory) []Result {
		info, err := inv.Read("proc/cpuinfo")
		if err != nil {
			return []Result{errored("host", err)}
		}
		for _, line := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(k) != "flags" {
				continue
			}
			for _, f := range strings.Fields(v) {
				if f == "vmx" || f == "svm" {
					return []Result{pass("host", "CPU flag "+f)}
				}
			}
			return []Result{fail("host", "the CPU shows neither vmx nor svm: guests run under TCG emulation (see VM-001)")}
		}
		return []Result{skipped("host", "no x86 CPU flags in /proc/cpuinfo")}
	})},
	{ID: "HOST-002", Group: "host", Severity: "medium", Title: "/dev/kvm exists", Check: hostOnly(func(inv *Inventory) []Result {
		if _, err := os.Stat(inv.Path("dev/kvm")); err != nil {
			return []Result{fail("host", "/dev/kvm is missing: the kvm module is not loaded or virtualization is off in the firmware")}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-008", Group: "host", Severity: "medium", Title: "IOMMU enabled in the kernel", Check: hostOnly(func(inv *Inventory) []Result {
		entries, err := os.ReadDir(inv.Path("sys/kernel/iommu_groups"))
		if err == nil && len(entries) > 0 {
			return []Result{pass("host", "")}
		}
		r := fail("host", "no IOMMU groups: device DMA is not isolated (add intel_iommu=on or amd_iommu=on to the kernel command line)")
		if len(pciHostdevUsers(inv)) > 0 {
			r.Severity = "high"
			r.Detail += "; PCI devices are assigned to " + strings.Join(pciHostdevUsers(inv), ", ")
		}
		return []Result{r}
	})},
	{ID: "HOST-010", Group: "host", Severity: "high", Title: "Mandatory access control enforcing", Check: hostOnly(func(inv *Inventory) []Result {
		if v, err := inv.Read("sys/fs/selinux/enforce"); err == nil && v == "1" {
			return []Result{pass("host", "SELinux enforcing")}
		}
		if v, err := inv.Read("sys/module/apparmor/parameters/enabled"); err == nil && v == "Y" {
			if p, err := inv.Read("sys/kernel/security/apparmor/profiles"); err == nil && p != "" {
				return []Result{pass("host", "AppArmor enabled with profiles")}
			}
			return []Result{fail("host", "AppArmor is enabled but no profiles are loaded")}
		}
		return []Result{fail("host", "neither SELinux enforcing nor AppArmor enabled: guests are confined by DAC alone")}
	})},
	{ID: "HOST-013", Group: "host", Severity: "critical", Title: "QEMU processes not root", Check: hostOnly(func(inv *Inventory) []Result {
		return forEachQEMU(inv, func(name, status string) Result {
			uid := statusField(status, "Uid:")
			if len(uid) > 1 && uid[1] == "0" {
				return fail(name, "QEMU runs with effective UID 0")
			}
			return pass(name, "uid "+strings.Join(uid, " "))
		})
	})},
	{ID: "HOST-014", Group: "host", Severity: "high", Title: "QEMU seccomp sandbox active", Check: hostOnly(func(inv *Inventory) []Result {
		return forEachQEMU(inv, func(name, status string) Result {
			if s := statusField(status, "Seccomp:"); len(s) == 0 || s[0] != "2" {
				return fail(name, "QEMU is not in seccomp filter mode (Seccomp: %s)", strings.Join(s, " "))
			}
			return pass(name, "")
		})
	})},
	{ID: "HOST-016", Group: "host", Severity: "high", Title: "CPU vulnerability mitigations", Check: hostOnly(func(inv *Inventory) []Result {
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
			sort.Strings(bad)
			return []Result{fail("host", "%s", strings.Join(bad, "; "))}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-020", Group: "host", Severity: "low", Title: "Nested virtualization", Check: hostOnly(func(inv *Inventory) []Result {
		for _, m := range []string{"kvm_intel", "kvm_amd"} {
			if v, err := inv.Read("sys/module/" + m + "/parameters/nested"); err == nil && (v == "Y" || v == "1") {
				return []Result{fail("host", "%s nested=%s: guests can run hypervisors, a larger attack surface", m, v)}
			}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-021", Group: "host", Severity: "low", Title: "Kernel hardening sysctls", Check: hostOnly(func(inv *Inventory) []Result {
		want := []struct{ key, ok string }{
			{"kernel/kptr_restrict", "2"}, {"kernel/dmesg_restrict", "1"}, {"kernel/randomize_va_space", "2"},
			{"fs/protected_symlinks", "1"}, {"fs/protected_hardlinks", "1"}, {"fs/suid_dumpable", "0"},
		}
		var bad []string
		for _, w := range want {
			v, err := inv.Read("proc/sys/" + w.key)
			if err != nil {
				continue
			}
			if v != w.ok {
				bad = append(bad, strings.ReplaceAll(w.key, "/", ".")+"="+v+" (want "+w.ok+")")
			}
		}
		if len(bad) > 0 {
			return []Result{fail("host", "%s", strings.Join(bad, ", "))}
		}
		return []Result{pass("host", "")}
	})},
}

// forEachQEMU applies check to the /proc status of each running VM's QEMU process, found
// through libvirt's pid files.
func forEachQEMU(inv *Inventory, check func(name, status string) Result) []Result {
	return forEachQEMUPid(inv, func(name, pid string) Result {
		status, err := inv.Read(filepath.Join("proc", pid, "status"))
		if err != nil {
			return errored(name, err)
		}
		return check(name, status)
	})
}

func statusField(status, key string) []string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.Fields(v)
		}
	}
	return nil
}

func pciHostdevUsers(inv *Inventory) []string {
	var out []string
	for _, d := range inv.Domains {
		if d.Def == nil || d.Def.Devices == nil {
			continue
		}
		for _, h := range d.Def.Devices.Hostdevs {
			if h.SubsysPCI != nil {
				out = append(out, d.Name)
				break
			}
		}
	}
	return out
}
