package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Drift on the real QEMU driver: a fresh VM (stopped, then running) has none whatever libvirt
// added; hand edits and a changed cloud-init seed are reported; apply lists and drops the hand
// edits and leaves the seed, saying why.
func TestDriftAgainstQEMU(t *testing.T) {
	e := setup(t)
	const name = "t-drift-e2e"
	t.Cleanup(func() {
		if d, err := e.conn.LookupDomainByName(name); err == nil {
			_ = d.Destroy()
			_ = d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_NVRAM)
			_ = d.Free()
		}
	})
	dir := t.TempDir()
	prof := filepath.Join(dir, "drift.toml")
	write := func(user string) {
		body := "name = \"" + name + "\"\ndomain_type = \"qemu\"\nmemory = \"128MiB\"\n[disk]\nsize = \"16MiB\"\n" +
			"[[network]]\nnetwork = \"" + netName + "\"\n[cloud_init]\nuser = \"" + user + "\"\n"
		if err := os.WriteFile(prof, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ops")
	e.env = []string{"HVCTL_VM_DEFAULTS_POOL=" + poolName, "HVCTL_PATHS_PROFILES=" + dir}
	e.ok(nil, "vmctl", "create", "drift")
	noDrift := func(when string) {
		t.Helper()
		if out, errOut, code := e.run("vmctl", "diff", "drift", "--exit-code"); code != 0 {
			t.Errorf("%s: drift: exit %d\n%s%s", when, code, out, errOut)
		}
	}
	noDrift("fresh VM")
	e.ok(nil, "vmctl", "start", name)
	noDrift("running VM")

	dom, err := e.conn.LookupDomainByName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer dom.Free()
	x, err := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	if err != nil {
		t.Fatal(err)
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		t.Fatal(err)
	}
	def.OnCrash = "preserve"
	def.Devices.Watchdogs = append(def.Devices.Watchdogs, libvirtxml.DomainWatchdog{Model: "i6300esb", Action: "poweroff"})
	def.Devices.Disks[0].Driver.Cache = "none"
	if x, err = def.Marshal(); err != nil {
		t.Fatal(err)
	}
	if d, err := e.conn.DomainDefineXML(x); err != nil {
		t.Fatal(err)
	} else {
		_ = d.Free()
	}
	write("admin")

	type row struct {
		Key, Live, Desired, Change, Action, Note string
		Restart                                  bool
	}
	keyed := func(rows []row) map[string]row {
		m := map[string]row{}
		for _, r := range rows {
			m[r.Key] = r
		}
		return m
	}
	out, errOut, code := e.run("vmctl", "diff", "drift", "--exit-code", "--json")
	var rows []row
	if err := json.Unmarshal([]byte(out), &rows); code != 10 || err != nil {
		t.Fatalf("diff: exit %d %v\n%s%s", code, err, out, errOut)
	}
	got := keyed(rows)
	if r := got["devices.watchdog[0]"]; r.Change != "added" || r.Live != "i6300esb" || !r.Restart {
		t.Errorf("watchdog: %+v", r)
	}
	if r := got["on_crash"]; r.Live != "preserve" || r.Desired != "destroy" {
		t.Errorf("on_crash: %+v", r)
	}
	if r := got["cloud_init"]; r.Note != "seed differs (user-data); takes effect on a new instance" {
		t.Errorf("seed: %+v", r)
	}
	if len(rows) != 4 {
		t.Errorf("rows: %+v", rows)
	}
	var applied []row
	e.ok(&applied, "vmctl", "apply", "drift")
	got = keyed(applied)
	if got["devices.watchdog[0]"].Action != "dropped" || got["cloud_init"].Action != "none" || got["devices.disk[vda].driver.cache"].Action != "dropped" {
		t.Errorf("apply: %+v", applied)
	}
	e.ok(&rows, "vmctl", "diff", "drift")
	if len(rows) != 1 || rows[0].Key != "cloud_init" {
		t.Errorf("after apply: %+v", rows)
	}
	var shown struct {
		PendingRestart bool `json:"pending_restart"`
	}
	e.ok(&shown, "vmctl", "show", name)
	if !shown.PendingRestart {
		t.Error("show: no restart pending after apply changed on_crash of a running VM")
	}
	if x, _ := dom.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE); strings.Contains(x, "watchdog") {
		t.Error("the watchdog is still defined")
	}
}

// clean-traffic, which hvctl now puts on every NIC, still lets a guest take its address by
// DHCP on an isolated network (the filter learns the address from the lease).
func TestCleanTrafficKeepsDHCP(t *testing.T) {
	e := setup(t)
	const name = "t-drift-nwf"
	def := guestDomain(name, e.iso, 7)
	def.Devices.Disks = def.Devices.Disks[:1] // the ISO is enough
	def.Devices.Interfaces[0].FilterRef = &libvirtxml.DomainInterfaceFilterRef{Filter: "clean-traffic"}
	x, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.conn.DomainDefineXML(x)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Destroy(); _ = d.Undefine(); _ = d.Free() })
	e.ok(nil, "vmctl", "start", name)
	var got []struct {
		Name, For string
		OK        bool
	}
	e.ok(&got, "vmctl", "wait", name, "--for", "ip", "--timeout", "3m")
	if len(got) != 1 || !got[0].OK {
		t.Errorf("wait for an address behind clean-traffic: %+v", got)
	}
}
