package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ksmOn says whether the kernel merges identical pages across processes (and so guests).
func ksmOn(inv *Inventory) bool {
	v, err := inv.Read("sys/kernel/mm/ksm/run")
	return err == nil && v == "1"
}

var hardwareControls = []Control{
	{ID: "HOST-003", Group: "host", Severity: "info", Title: "/dev/kvm access mode", Check: hostOnly(func(inv *Inventory) []Result {
		fi, err := os.Stat(inv.Path("dev/kvm"))
		if err != nil {
			return []Result{skipped("host", "no /dev/kvm (see HOST-002)")}
		}
		return []Result{pass("host", fmt.Sprintf("mode %04o", fi.Mode().Perm()))}
	})},
	{ID: "HOST-005", Group: "host", Severity: "info", Title: "/dev/vhost-net exists", Check: hostOnly(func(inv *Inventory) []Result {
		if _, err := os.Stat(inv.Path("dev/vhost-net")); err != nil {
			return []Result{fail("host", "/dev/vhost-net is missing: virtio networking runs in QEMU's userspace (slower, not less safe)")}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-006", Group: "host", Severity: "medium", Title: "cgroup controllers available", Check: hostOnly(func(inv *Inventory) []Result {
		var missing []string
		if v2, err := inv.Read("sys/fs/cgroup/cgroup.controllers"); err == nil {
			have := map[string]bool{}
			for _, c := range strings.Fields(v2) {
				have[c] = true
			}
			for _, c := range []string{"cpu", "cpuset", "memory", "io"} {
				if !have[c] {
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
			return []Result{fail("host", "cgroup controllers missing: %s (limits and the device ACL are not enforced)", strings.Join(missing, ", "))}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-007", Group: "host", Severity: "medium", Title: "IOMMU present in firmware", Check: hostOnly(func(inv *Inventory) []Result {
		for _, t := range []string{"DMAR", "IVRS", "IORT"} {
			if _, err := os.Stat(inv.Path("sys/firmware/acpi/tables/" + t)); err == nil {
				return []Result{pass("host", t)}
			}
		}
		r := fail("host", "no DMAR, IVRS or IORT table: the firmware offers no IOMMU (or it is off)")
		if len(pciHostdevUsers(inv)) > 0 {
			r.Severity = "high"
		}
		return []Result{r}
	})},
	{ID: "HOST-017", Group: "host", Severity: "medium", Title: "SMT with untrusted guests", Check: hostOnly(func(inv *Inventory) []Result {
		smt, err := inv.Read("sys/devices/system/cpu/smt/control")
		if err != nil || smt != "on" {
			return []Result{pass("host", "SMT "+or(smt, "unknown"))}
		}
		dir := inv.Path("sys/devices/system/cpu/vulnerabilities")
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if strings.Contains(string(b), "SMT vulnerable") {
				return []Result{fail("host", "SMT is on and %s reports SMT vulnerable: guests on sibling threads can leak to each other", e.Name())}
			}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-018", Group: "host", Severity: "medium", Title: "KVM L1D flush on VM entry", Check: hostOnly(func(inv *Inventory) []Result {
		flush, err := inv.Read("sys/module/kvm_intel/parameters/vmentry_l1d_flush")
		if err != nil {
			return []Result{skipped("host", "no kvm_intel")}
		}
		l1tf, _ := inv.Read("sys/devices/system/cpu/vulnerabilities/l1tf")
		if flush == "never" && l1tf != "" && !strings.HasPrefix(l1tf, "Not affected") {
			return []Result{fail("host", "vmentry_l1d_flush=never on a CPU affected by L1TF (%s)", l1tf)}
		}
		return []Result{pass("host", flush)}
	})},
	{ID: "HOST-019", Group: "host", Severity: "low", Title: "KSM page merging", Check: hostOnly(func(inv *Inventory) []Result {
		if ksmOn(inv) {
			return []Result{fail("host", "KSM is merging pages: deduplication can leak data between guests (see VM-024)")}
		}
		return []Result{pass("host", "")}
	})},
	{ID: "HOST-023", Group: "host", Severity: "medium", Title: "Host auditing", Check: hostOnly(func(inv *Inventory) []Result {
		procs, _ := filepath.Glob(inv.Path("proc/[0-9]*/comm"))
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "auditd" {
				return []Result{pass("host", "auditd runs")}
			}
		}
		return []Result{fail("host", "auditd is not running: VM operations leave no audit trail on the host")}
	})},
	{ID: "VM-024", Group: "vm", Severity: "low", Title: "No KSM opt-out", Check: func(inv *Inventory) []Result {
		if !inv.Local || !ksmOn(inv) {
			return []Result{skipped("vm", "KSM is off (or the host's files cannot be read)")}
		}
		return perVM(func(_ *Inventory, d Domain) Result {
			if d.Def.MemoryBacking != nil && d.Def.MemoryBacking.MemoryNosharepages != nil {
				return pass(d.Name, "")
			}
			return fail(d.Name, "no <nosharepages/> while KSM runs: its memory may be merged with other guests'")
		})(inv)
	}},
	{ID: "VM-033", Group: "vm", Severity: "low", Title: "UEFI guest without a vTPM", Check: perVM(func(_ *Inventory, d Domain) Result {
		os := d.Def.OS
		if os == nil || (os.Firmware != "efi" && (os.Loader == nil || os.Loader.Type != "pflash")) {
			return pass(d.Name, "not UEFI")
		}
		if len(devices(d.Def).TPMs) == 0 {
			return fail(d.Name, "UEFI without a TPM: no measured boot")
		}
		return pass(d.Name, "")
	})},
}
