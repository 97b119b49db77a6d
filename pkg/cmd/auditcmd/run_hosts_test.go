package auditcmd

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/auditreport"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// hostsEnv is a test environment whose configuration has three hosts: h1 (the test driver's
// default host: its VM "test" fails VM-030, VM-025 and STOR-010), h2 (a test driver host of its
// own with the VM web01, whose disk is under /guest too) and down (a loopback port nothing listens on); pair = h2, h1.
func hostsEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnv(t)
	h2 := e.write(t, "h2.xml", `<node><domain type='test'><name>web01</name><memory>65536</memory><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><source file='/guest/web01.img'/><target dev='vda' bus='virtio'/></disk></devices></domain></node>`)
	e.f.Global.ConfigFile = e.write(t, "config.toml", `[hosts.h1]
uri = "test:///default"
[hosts.h2]
uri = "test://`+h2+`"
[hosts.down]
uri = "qemu+tcp://127.0.0.1:1/system"
[groups]
pair = ["h2", "h1"]
`)
	return e
}

// reports runs `audit run --json` with args and decodes the list of reports.
func (e *testEnv) reports(t *testing.T, args ...string) ([]model.AuditReport, error) {
	t.Helper()
	err := e.execute(NewCmdRun(e.f, nil), append([]string{"--json"}, args...)...)
	var rs []model.AuditReport
	if jerr := json.Unmarshal(e.out.Bytes(), &rs); jerr != nil {
		t.Fatalf("%v: %s (stderr %s)", jerr, e.out, e.errOut)
	}
	return rs, err
}

func TestRunHostsReportsEachHost(t *testing.T) {
	e := hostsEnv(t)
	rs, err := e.reports(t, "--host", "pair", "--all")
	wantKind(t, err, errs.Findings) // h1's VM fails
	if len(rs) != 2 || rs[0].Host != "h1" || rs[1].Host != "h2" || !strings.HasPrefix(rs[1].URI, "test://") {
		var hosts []string
		for _, r := range rs {
			hosts = append(hosts, r.Host)
		}
		t.Fatalf("reports of %v, want h1 then h2", hosts)
	}
	for _, r := range rs {
		for _, x := range r.Findings {
			if x.Host != r.Host {
				t.Errorf("%s: finding %s %s names host %q", r.Host, x.ID, x.Target, x.Host)
			}
			// A control that reads the host's files cannot judge a host that is not this machine:
			// not applicable, never a pass. The test driver is not called remote.
			if x.Group == "host" && x.ID != "HOST-026" && (x.Status != "skipped" || !strings.HasPrefix(x.Detail, "not applicable on test:///") ||
				!strings.Contains(x.Detail, ", libvirt's test driver, not this machine: ")) {
				t.Errorf("%s: %s is %s: %s", r.Host, x.ID, x.Status, x.Detail)
			}
		}
	}
	// Each host's VMs are its own: h1's test fails VM-030, h2's web01 is audited there.
	if finding(rs[0], "VM-030", "test") == nil || finding(rs[1], "VM-030", "test") != nil || finding(rs[1], "VM-001", "web01") == nil {
		t.Errorf("per-host VM results are mixed up")
	}
	if !strings.Contains(err.Error(), "on h1") {
		t.Errorf("the exit error does not name the failing host: %v", err)
	}
	if !strings.Contains(e.errOut.String(), "host h2: ") || !strings.Contains(e.errOut.String(), "control result(s) skipped:\n  not applicable on test:///") {
		t.Errorf("no skipped summary per host:\n%s", e.errOut)
	}

	err = e.execute(NewCmdRun(e.f, nil), "--host", "pair")
	lines := strings.Split(strings.TrimSpace(e.out.String()), "\n")
	if errs.KindOf(err) != errs.Findings || !strings.HasPrefix(lines[0], "HOST ") || !strings.HasPrefix(lines[1], "h1 ") {
		t.Errorf("table: %v\n%s", err, e.out)
	}
}

func TestRunHostsUnreachable(t *testing.T) {
	e := hostsEnv(t)
	// HOST-026 passes on every host that answers: the host that did not is the exit status.
	rs, err := e.reports(t, "--host", "all", "--only", "HOST-026")
	wantKind(t, err, errs.Partial)
	if len(rs) != 2 {
		t.Errorf("%d reports", len(rs))
	}
	var body model.ErrorBody
	if jerr := json.Unmarshal(e.errOut.Bytes(), &body); jerr != nil || body.Error.Host != "down" {
		t.Errorf("stderr %s: %v", e.errOut, jerr)
	}
	// A finding outranks a host that did not answer.
	_, err = e.reports(t, "--host", "all")
	wantKind(t, err, errs.Findings)
	err = e.execute(NewCmdRun(e.f, nil), "--host", "all", "--strict")
	wantKind(t, err, errs.Unreachable)
	if e.out.Len() != 0 {
		t.Errorf("--strict printed a report: %s", e.out)
	}
	_, err = e.reports(t, "--host", "pair", "--only", "HOST-026,HOST-010", "--require-complete")
	wantKind(t, err, errs.Partial)
	if !strings.Contains(err.Error(), "skipped on h1, h2") {
		t.Errorf("--require-complete: %v", err)
	}
}

func TestRunHostsSelections(t *testing.T) {
	e := hostsEnv(t)
	// --vm picks the hosts that have such VMs; one none has is not found.
	rs, err := e.reports(t, "--host", "pair", "--vm", "web*", "--only", "vm", "--skip", "VM-030")
	if err != nil || len(rs) != 1 || rs[0].Host != "h2" {
		t.Errorf("--vm web*: %v %+v", err, rs)
	}
	err = e.execute(NewCmdRun(e.f, nil), "--host", "pair", "--vm", "nope")
	if errs.KindOf(err) != errs.NotFound || !strings.Contains(err.Error(), "no VM matches --vm nope on any host") {
		t.Errorf("--vm nope: %v", err)
	}
	err = e.execute(NewCmdRun(e.f, nil), "--host", "pair", "--root", e.dir)
	if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "--root") {
		t.Errorf("--root with --host: %v", err)
	}
}

func TestRunHostsSARIFAndJUnit(t *testing.T) {
	e := hostsEnv(t)
	_ = e.execute(NewCmdRun(e.f, nil), "--host", "pair", "-o", "sarif")
	var log auditreport.SARIFLog
	if err := json.Unmarshal(e.out.Bytes(), &log); err != nil || len(log.Runs) != 2 || log.Runs[0].Properties["host"] != "h1" || log.Runs[1].Properties["host"] != "h2" {
		t.Errorf("SARIF: %v, %d runs", err, len(log.Runs))
	}
	_ = e.execute(NewCmdRun(e.f, nil), "--host", "pair", "-o", "junit")
	var doc auditreport.JUnitSuites
	if err := xml.Unmarshal(e.out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tests := 0
	for _, s := range doc.Suites {
		names[s.Name] = true
		tests += s.Tests
	}
	if !names["h1/vm"] || !names["h2/vm"] || !names["h2/host"] || tests != doc.Tests || doc.Name != "hvctl audit h1, h2" {
		t.Errorf("JUnit suites %v, %d tests of %d", names, tests, doc.Tests)
	}
}

// A waiver is said to accept nothing only when it accepts nothing on any host, and an expired
// one is said once, not once per host.
func TestRunHostsWaivers(t *testing.T) {
	e := hostsEnv(t)
	w := e.write(t, "waivers.toml", waiversTOML)
	_, err := e.reports(t, "--host", "pair", "--waivers", w)
	wantKind(t, err, errs.Findings) // VM-025 is not waived
	stderr := e.errOut.String()
	if strings.Contains(stderr, "VM-030 te* accepted no failing result") {
		t.Errorf("the waiver that accepts h1's finding is called unused:\n%s", stderr)
	}
	if strings.Count(stderr, "VM-007 web01 accepted no failing result on any host") != 1 {
		t.Errorf("the waiver that accepts nothing anywhere is not said once:\n%s", stderr)
	}
	if strings.Count(stderr, "STOR-010 /guest/* expired on 2026-12-02") != 1 {
		t.Errorf("the expired waiver is not said once:\n%s", stderr)
	}
}
