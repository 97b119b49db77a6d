package auditreport

import (
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// fixtureControls have the metadata the reports carry.
var fixtureControls = []audit.Control{
	{ID: "DAEMON-016", Group: "daemon", Severity: "critical", Title: "QEMU runs as root",
		Description: "A QEMU process running as root turns a guest escape into host root.",
		HowChecked:  "qemu.conf's user setting, read as libvirt reads it.", Remediation: `Set user = "qemu" in /etc/libvirt/qemu.conf and restart virtqemud.`},
	{ID: "VM-007", Group: "vm", Severity: "critical", Title: "Graphics on the network without a password",
		Description: "Anyone who reaches the port gets the console.", HowChecked: "Each <graphics> listen address and password.",
		Remediation: "Listen on 127.0.0.1 or a socket, or set a password."},
	{ID: "VM-011", Group: "vm", Severity: "high", Title: "Serial or parallel port on the network", Remediation: "Use a pty or unix socket."},
	{ID: "VM-030", Group: "vm", Severity: "low", Title: "Disk format not pinned"},
	{ID: "HOST-010", Group: "host", Severity: "high", Title: "Mandatory access control enforcing"},
	{ID: "STOR-006", Group: "storage", Severity: "medium", Title: "Secrets readable"},
}

// fixtureRun is a run with one result of each kind: a config-file failure with its line, a VM
// failure with its device, a waived failure, a low failure, a pass, a skip and an error.
func fixtureRun(all bool) *Run {
	results := []model.Finding{
		{ID: "DAEMON-016", Group: "daemon", Severity: "critical", Status: "fail", Target: "qemu.conf", Title: "QEMU runs as root",
			Detail: `user = "root"`, References: []string{}, Remediation: `Set user = "qemu" in /etc/libvirt/qemu.conf and restart virtqemud.`,
			Location: &model.FindingLocation{File: "/etc/libvirt/qemu.conf", Line: 12}},
		{ID: "VM-007", Group: "vm", Severity: "critical", Status: "fail", Target: "web01", Title: "Graphics on the network without a password",
			Detail: "vnc on 0.0.0.0 without a password", References: []string{"V-207418", "V-207501"}, Remediation: "Listen on 127.0.0.1.",
			Location: &model.FindingLocation{VM: "web01", Device: "graphics vnc"}},
		{ID: "VM-011", Group: "vm", Severity: "high", Status: "waived", Target: "par-open", Title: "Serial or parallel port on the network",
			Detail: "parallel port on tcp 0.0.0.0:4555", References: []string{}, Remediation: "Use a pty.",
			Waiver: &model.FindingWaiver{Reason: "lab dongle", Expires: "2027-06-30", File: "/etc/hvctl/audit-waivers.toml", Line: 2}},
		{ID: "VM-030", Group: "vm", Severity: "low", Status: "fail", Target: "test", Title: "Disk format not pinned", Detail: "disk vda has no driver type",
			References: []string{}, Location: &model.FindingLocation{VM: "test", Device: "disk vda", Path: "/var/lib/libvirt/images/test disk.img"}},
		{ID: "VM-030", Group: "vm", Severity: "low", Status: "pass", Target: "web01", Title: "Disk format not pinned", Detail: "every disk names its format", References: []string{}},
		{ID: "HOST-010", Group: "host", Severity: "high", Status: "skipped", Target: "host", Title: "Mandatory access control enforcing",
			Detail: "the libvirt host is remote", References: []string{}},
		{ID: "STOR-006", Group: "storage", Severity: "medium", Status: "error", Target: "storage", Title: "Secrets readable",
			Detail: "libvirt did not list its secrets", References: []string{}},
	}
	o := Outcome{Results: results,
		Unused:  []Waiver{{Control: "VM-007", Target: "db*", Reason: "old", File: "/etc/hvctl/audit-waivers.toml", Line: 8}},
		Expired: []Waiver{{Control: "VM-007", Target: "web01", Reason: "was ok", File: "/etc/hvctl/audit-waivers.toml", Line: 14}},
	}
	o.Unused[0].Expires.Year, o.Unused[0].Expires.Month, o.Unused[0].Expires.Day = 2027, 1, 1
	o.Expired[0].Expires.Year, o.Expired[0].Expires.Month, o.Expired[0].Expires.Day = 2026, 1, 1
	meta := Meta{Host: "hv1", URI: "qemu+ssh://hv1/system", Time: day("2026-12-03 09:30"), HvctlVersion: "1.2.3",
		LibvirtLibrary: "10.10.0", LibvirtDaemon: "10.10.0", Hypervisor: "QEMU 9.2.0", FailOn: "high", All: all}
	return Build(meta, fixtureControls, o)
}

func TestBuild(t *testing.T) {
	r := fixtureRun(false).Report
	if r.Time != "2026-12-03T09:30:00Z" || r.Host != "hv1" || r.HvctlVersion != "1.2.3" {
		t.Errorf("envelope head: %+v", r)
	}
	want := model.AuditByStatus{Pass: 1, Fail: 3, Waived: 1, Error: 1, Skipped: 1}
	if r.Totals.ByStatus != want || r.Totals.Results != 7 {
		t.Errorf("by status %+v (of %d), want %+v (of 7)", r.Totals.ByStatus, r.Totals.Results, want)
	}
	if r.Totals.FailedBySeverity != (model.AuditBySeverity{Critical: 2, Low: 1}) {
		t.Errorf("failed by severity %+v: the waived high one must not count", r.Totals.FailedBySeverity)
	}
	if r.Totals.Failing != 2 {
		t.Errorf("failing at or above high = %d, want 2 (the low and the waived ones do not count)", r.Totals.Failing)
	}
	// Rows: failures, waived and errors; no pass or skip without --all.
	if len(r.Findings) != 5 {
		t.Errorf("%d rows, want 5", len(r.Findings))
	}
	if len(r.Skipped) != 1 || r.Skipped[0] != (model.AuditSkip{ID: "HOST-010", Target: "host", Reason: "the libvirt host is remote"}) {
		t.Errorf("skipped = %+v", r.Skipped)
	}
	if len(r.UnusedWaivers) != 1 || r.UnusedWaivers[0].Expires != "2027-01-01" || len(r.ExpiredWaivers) != 1 {
		t.Errorf("waivers: unused %+v, expired %+v", r.UnusedWaivers, r.ExpiredWaivers)
	}
	if r.Complete {
		t.Error("a run with an error and a remote skip is complete")
	}
	if n := len(fixtureRun(true).Report.Findings); n != 7 {
		t.Errorf("--all shows %d rows, want 7", n)
	}
}

func TestComplete(t *testing.T) {
	skip := model.Finding{ID: "HOST-010", Status: "skipped", Detail: "no VMs"}
	local := Build(Meta{Local: true, FailOn: "low"}, nil, Outcome{Results: []model.Finding{skip}})
	if !local.Report.Complete || local.Incomplete(true) {
		t.Error("on the host itself a skip means the control does not apply: the audit is complete")
	}
	remote := Build(Meta{FailOn: "low"}, nil, Outcome{Results: []model.Finding{skip}})
	if remote.Report.Complete || remote.Incomplete(false) || !remote.Incomplete(true) {
		t.Error("a remote skip: incomplete, exit 6 only with --require-complete")
	}
	errored := Build(Meta{Local: true, FailOn: "low"}, nil, Outcome{Results: []model.Finding{{ID: "X", Status: "error"}}})
	if errored.Report.Complete || !errored.Incomplete(false) {
		t.Error("an error row must make the audit incomplete")
	}
}

func TestFailing(t *testing.T) {
	for _, tc := range []struct {
		f      model.Finding
		failOn string
		want   bool
	}{
		{model.Finding{Status: "fail", Severity: "high"}, "high", true},
		{model.Finding{Status: "fail", Severity: "medium"}, "high", false},
		{model.Finding{Status: "waived", Severity: "critical"}, "low", false},
		{model.Finding{Status: "fail", Severity: "info"}, "low", false},
		// --fail-on info is asked for: its help says "this severity or worse".
		{model.Finding{Status: "fail", Severity: "info"}, "info", true},
		{model.Finding{Status: "error", Severity: "critical"}, "low", false},
	} {
		if got := Failing(tc.f, tc.failOn); got != tc.want {
			t.Errorf("Failing(%+v, %s) = %v", tc.f, tc.failOn, got)
		}
	}
}
