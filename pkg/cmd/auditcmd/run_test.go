package auditcmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

func TestNewCmdRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // prefix; "" when the flags are good
		check   func(t *testing.T, o *RunOptions)
	}{
		{name: "defaults", check: func(t *testing.T, o *RunOptions) {
			if o.FailOn != "low" || o.Root != "/" || o.All || o.RequireComplete || o.Waivers != "" || len(o.Controls) < 70 || o.Output != "" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{name: "selection and the rest", args: []string{"--only", "vm,host-010", "--skip", "VM-030", "--vm", "web-*", "--vm", "db01",
			"--fail-on", "high", "--all", "--waivers", "w.toml", "--require-complete", "--report", "sarif=/tmp/a.sarif", "--report", "json=/tmp/a.json"},
			check: func(t *testing.T, o *RunOptions) {
				ids := controlIDs(o.Controls)
				if !slices.Contains(ids, "VM-007") || !slices.Contains(ids, "HOST-010") || slices.Contains(ids, "VM-030") || slices.Contains(ids, "HOST-001") {
					t.Errorf("controls %v", ids)
				}
				if strings.Join(o.VMs, " ") != "web-* db01" || o.FailOn != "high" || !o.All || o.Waivers != "w.toml" || !o.RequireComplete ||
					o.Reports["sarif"] != "/tmp/a.sarif" || o.Reports["json"] != "/tmp/a.json" {
					t.Errorf("options %+v", o)
				}
			}},
		{name: "group is only", args: []string{"--group", "network"}, check: func(t *testing.T, o *RunOptions) {
			for _, c := range o.Controls {
				if c.Group != "network" {
					t.Errorf("--group network runs %s", c.ID)
				}
			}
		}},
		{name: "sarif", args: []string{"-o", "sarif"}, check: func(t *testing.T, o *RunOptions) {
			if o.Output != FormatSARIF {
				t.Errorf("output %q", o.Output)
			}
		}},
		{name: "junit", args: []string{"-o", "junit"}, check: func(t *testing.T, o *RunOptions) {
			if o.Output != FormatJUnit {
				t.Errorf("output %q", o.Output)
			}
		}},
		{name: "json", args: []string{"--json"}, check: func(t *testing.T, o *RunOptions) {
			if o.Output != "" || !o.Format.IsJSON() {
				t.Errorf("output %q, format %+v", o.Output, o.Format)
			}
		}},
		{name: "sarif and json", args: []string{"-o", "sarif", "--json"}, wantErr: "-o sarif and --json/--jq contradict each other"},
		{name: "unknown format", args: []string{"-o", "pdf"}, wantErr: `-o/--output "pdf": want one of table, wide, json, name, sarif, junit`},
		{name: "bad severity", args: []string{"--fail-on", "severe"}, wantErr: `--fail-on "severe": want one of info, low, medium, high, critical`},
		{name: "bad group", args: []string{"--group", "kernel"}, wantErr: `--group "kernel": want one of host, daemon, vm, network, storage`},
		{name: "bad id", args: []string{"--only", "VM-99"}, wantErr: `--only "VM-99": not a control ID or group (did you mean VM-009?)`},
		{name: "bad skip", args: []string{"--skip", "HOST-1000"}, wantErr: `--skip "HOST-1000": not a control ID or group`},
		{name: "bad glob", args: []string{"--vm", "web-["}, wantErr: `--vm "web-[": not a valid glob`},
		{name: "bad report", args: []string{"--report", "audit.sarif"}, wantErr: `--report "audit.sarif": want FORMAT=FILE`},
		{name: "bad report format", args: []string{"--report", "pdf=a.pdf"}, wantErr: `--report "pdf=a.pdf": format "pdf" is not one of json, sarif, junit`},
		{name: "report twice", args: []string{"--report", "json=a", "--report", "json=b"}, wantErr: `--report json= given twice`},
		{name: "arguments", args: []string{"web01"}, wantErr: `auditctl run takes no arguments, got 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			var got *RunOptions
			err := e.execute(NewCmdRun(e.f, func(_ context.Context, o *RunOptions) error { got = o; return nil }), tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if got != nil {
					t.Error("runF ran despite bad flags")
				}
				wantKind(t, err, errs.Usage)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}
}

// report runs `run --json` and decodes the envelope.
func (e *testEnv) report(t *testing.T, args ...string) (model.AuditReport, error) {
	t.Helper()
	err := e.execute(NewCmdRun(e.f, nil), append([]string{"--json"}, args...)...)
	var r model.AuditReport
	if jerr := json.Unmarshal(e.out.Bytes(), &r); jerr != nil {
		t.Fatalf("%v: %s (stderr %s)", jerr, e.out, e.errOut)
	}
	return r, err
}

func finding(r model.AuditReport, id, target string) *model.Finding {
	for i, f := range r.Findings {
		if f.ID == id && f.Target == target {
			return &r.Findings[i]
		}
	}
	return nil
}

// The test driver's VM fails VM-030 and VM-025; its disk STOR-010.
const waiversTOML = `[[waiver]]
control = "VM-030"
target = "te*"
reason = "the test driver's disk has no format"
expires = 2027-06-30

[[waiver]]
control = "STOR-010"
target = "/guest/*"
reason = "imported disk"
expires = 2026-12-02

[[waiver]]
control = "VM-007"
target = "web01"
reason = "gone"
expires = 2027-01-01

[[waiver]]
control = "VM-025"
target = "test"
reason = "no nwfilter on the test driver"
expires = 2027-01-01
`

func TestRunWaivers(t *testing.T) {
	e := newTestEnv(t)
	w := e.write(t, "waivers.toml", waiversTOML)

	r, err := e.report(t, "--waivers", w)
	// STOR-010's waiver expired yesterday: its finding counts again and fails the run.
	wantKind(t, err, errs.Findings)
	if err.Error() != "1 finding(s) at or above low" || errs.HintOf(err) != "2 more accepted by waivers" {
		t.Errorf("error %q, hint %q", err, errs.HintOf(err))
	}
	vm030 := finding(r, "VM-030", "test")
	if vm030 == nil || vm030.Status != "waived" || vm030.Waiver == nil || vm030.Waiver.Line != 1 || vm030.Waiver.Expires != "2027-06-30" || vm030.Waiver.File != w {
		t.Errorf("VM-030: %+v", vm030)
	}
	if f := finding(r, "STOR-010", "/guest/diskimage1"); f == nil || f.Status != "fail" {
		t.Errorf("STOR-010 under an expired waiver: %+v", f)
	}
	if len(r.ExpiredWaivers) != 1 || r.ExpiredWaivers[0].Control != "STOR-010" || len(r.UnusedWaivers) != 1 || r.UnusedWaivers[0].Control != "VM-007" {
		t.Errorf("expired %+v, unused %+v", r.ExpiredWaivers, r.UnusedWaivers)
	}
	for _, want := range []string{
		w + ":7: waiver for STOR-010 /guest/* expired on 2026-12-02: its findings count again\n",
		w + ":13: waiver for VM-007 web01 accepted no failing result: remove it, or fix its target\n",
	} {
		if !strings.Contains(e.errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, e.errOut)
		}
	}

	// A day earlier both waivers hold: nothing unwaived fails, the exit status is 0.
	e.f.Now = func() time.Time { return testNow.AddDate(0, 0, -2) }
	r, err = e.report(t, "--waivers", w)
	if err != nil {
		t.Fatalf("all findings waived, yet %v", err)
	}
	if r.Totals.ByStatus.Waived != 3 || r.Totals.Failing != 0 || r.Time != "2026-12-01T09:30:00Z" {
		t.Errorf("totals %+v at %s", r.Totals, r.Time)
	}
}

func TestRunWaiversFromConfig(t *testing.T) {
	e := newTestEnv(t)
	w := e.write(t, "waivers.toml", strings.ReplaceAll(waiversTOML, "2026-12-02", "2027-12-02"))
	e.write(t, "config/hvctl/config.toml", "[audit]\nwaivers = \""+w+"\"\n")
	if _, err := e.report(t); err != nil {
		t.Fatalf("config's waivers not applied: %v", err)
	}
	// --waivers replaces the config's file.
	other := e.write(t, "other.toml", "")
	if _, err := e.report(t, "--waivers", other); errs.KindOf(err) != errs.Findings {
		t.Errorf("--waivers did not replace the config's file: %v", err)
	}
}

// A relative audit.waivers is found next to the config file that names it, whatever the
// working directory (a timer runs in /); a missing one names the setting it came from.
func TestRunWaiversRelativeToConfig(t *testing.T) {
	e := newTestEnv(t)
	e.write(t, "config/hvctl/audit-waivers.toml", strings.ReplaceAll(waiversTOML, "2026-12-02", "2027-12-02"))
	e.write(t, "config/hvctl/config.toml", "[audit]\nwaivers = \"audit-waivers.toml\"\n")
	if _, err := e.report(t); err != nil {
		t.Fatalf("the config's relative waivers file not applied: %v", err)
	}
	e = newTestEnv(t) // the factory keeps the config it loaded
	cfg := e.write(t, "config/hvctl/config.toml", "[audit]\nwaivers = \"gone.toml\"\n")
	err := e.execute(NewCmdRun(e.f, nil))
	wantKind(t, err, errs.Usage)
	want := "waivers " + filepath.Join(filepath.Dir(cfg), "gone.toml") + " (audit.waivers in " + cfg + "): no such file"
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
}

func TestRunBadWaivers(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ content, want string }{
		{"[[waiver]]\ncontrol = \"VM-030\"\ntarget = \"x\"\nexpires = 2027-06-30\n", "bad.toml:1:3: waiver 1: reason is missing"},
		{"[[waiver]]\ncontrol = \"VM-030\"\ntarget = \"x\"\nreason = \"r\"\nexpires = 2027-06-30\napprover = \"me\"\n", `bad.toml:6:1: unknown key "waiver.approver"`},
	} {
		p := e.write(t, "bad.toml", tc.content)
		err := e.execute(NewCmdRun(e.f, nil), "--waivers", p)
		wantKind(t, err, errs.Usage)
		if !strings.HasPrefix(err.Error(), filepath.Dir(p)+"/"+tc.want) {
			t.Errorf("error %q, want %q", err, tc.want)
		}
		if e.out.Len() != 0 {
			t.Errorf("a bad waivers file still printed a report: %s", e.out)
		}
	}
	err := e.execute(NewCmdRun(e.f, nil), "--waivers", filepath.Join(e.dir, "missing.toml"))
	wantKind(t, err, errs.Usage)
}

func TestRunSelection(t *testing.T) {
	e := newTestEnv(t)
	r, err := e.report(t, "--only", "vm-030", "--all")
	wantKind(t, err, errs.Findings)
	for _, f := range r.Findings {
		if f.ID != "VM-030" {
			t.Errorf("--only VM-030 reported %s", f.ID)
		}
	}
	if r.Totals.Results != 1 {
		t.Errorf("%d results for one control on one VM", r.Totals.Results)
	}
	// --skip what fails: the run passes.
	if _, err := e.report(t, "--skip", "VM-030,STOR-010,VM-025"); err != nil {
		t.Errorf("--skip of every failing control: %v", err)
	}
	// VM-032 is derived from the other results of an autostarted VM; skipping it drops it.
	conn := virttest.Open(t)
	virttest.Define(t, conn, "<domain type='test'><name>t-auditux-auto</name><memory>65536</memory><os><type>hvm</type></os></domain>")
	dom, err := conn.Raw().LookupDomainByName("t-auditux-auto")
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.SetAutostart(true); err != nil {
		t.Fatal(err)
	}
	_ = dom.Free()
	r, _ = e.report(t, "--all", "--only", "vm")
	if finding(r, "VM-032", "t-auditux-auto") == nil {
		t.Fatal("no VM-032 row for an autostarted VM: the fixture does not exercise --skip VM-032")
	}
	r, _ = e.report(t, "--skip", "VM-032", "--all")
	for _, f := range r.Findings {
		if f.ID == "VM-032" {
			t.Error("--skip VM-032 still reports VM-032")
		}
	}
	// --vm: the test driver's VM is "test".
	if _, err := e.report(t, "--vm", "te?t", "--only", "vm"); errs.KindOf(err) != errs.Findings {
		t.Errorf("--vm te?t: %v", err)
	}
	err = e.execute(NewCmdRun(e.f, nil), "--vm", "web-*")
	wantKind(t, err, errs.NotFound)
	if err.Error() != "no VM matches --vm web-*" {
		t.Errorf("error %q", err)
	}
}

func TestRunCompleteness(t *testing.T) {
	e := newTestEnv(t)
	// Not this machine (the test driver, which is not called remote either): host-file controls
	// are skipped, summarised on stderr and in JSON; exit 0 unless --require-complete.
	r, err := e.report(t, "--skip", "VM-030,STOR-010,VM-025")
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || len(r.Skipped) < 20 {
		t.Errorf("complete %v with %d skipped", r.Complete, len(r.Skipped))
	}
	if !strings.Contains(e.errOut.String(), "control result(s) skipped:\n  not applicable on test:///default, libvirt's test driver, not this machine: ") {
		t.Errorf("stderr has no skipped summary:\n%s", e.errOut)
	}
	_, err = e.report(t, "--skip", "VM-030,STOR-010,VM-025", "--require-complete")
	wantKind(t, err, errs.Partial)
	if !strings.Contains(err.Error(), "skipped on a host that is not this machine (--require-complete)") {
		t.Errorf("error %q", err)
	}
	// -q: no summary.
	if err := e.execute(NewCmdRun(e.f, nil), "-q", "--skip", "VM-030,STOR-010,VM-025"); err != nil || e.errOut.Len() != 0 {
		t.Errorf("-q: %v, stderr %q", err, e.errOut)
	}

	// On a host tree whose qemu.conf libvirt would refuse, the error rows make the audit
	// incomplete.
	host := filepath.Join(e.dir, "broken")
	e.write(t, "broken/etc/libvirt/qemu.conf", "user = \"qemu\"\nsecurity_driver = none\n")
	r, err = e.report(t, "--root", host, "--only", "daemon", "--fail-on", "critical")
	wantKind(t, err, errs.Partial)
	if r.Totals.ByStatus.Error == 0 || r.Complete {
		t.Errorf("errors %d, complete %v", r.Totals.ByStatus.Error, r.Complete)
	}
}

func TestRunEnvelope(t *testing.T) {
	e := newTestEnv(t)
	r, _ := e.report(t)
	host, _ := os.Hostname()
	if r.Host != host || r.URI != "test:///default" || r.Time != "2026-12-03T09:30:00Z" || r.HvctlVersion == "" || r.LibvirtLibrary == "" ||
		r.LibvirtDaemon == "" || r.FailOn != "low" {
		t.Errorf("envelope: %+v", r)
	}
	if r.Totals.Results != r.Totals.ByStatus.Pass+r.Totals.ByStatus.Fail+r.Totals.ByStatus.Waived+r.Totals.ByStatus.Error+r.Totals.ByStatus.Skipped {
		t.Errorf("totals do not add up: %+v", r.Totals)
	}
	if r.Totals.FailedBySeverity.Low != 2 || r.Totals.FailedBySeverity.Medium != 1 || r.Totals.Failing != 3 {
		t.Errorf("totals %+v", r.Totals)
	}
	// Empty lists are [] in JSON, never null.
	if err := e.execute(NewCmdRun(e.f, nil), "--json", "--skip", "VM-030,STOR-010,VM-025,STOR-008", "-q"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"unused_waivers":[]`, `"expired_waivers":[]`, `"findings":[]`} {
		if !strings.Contains(e.out.String(), key) {
			t.Errorf("JSON lacks %s: %s", key, e.out)
		}
	}
}

func TestRunTable(t *testing.T) {
	e := newTestEnv(t)
	host := filepath.Join(e.dir, "host")
	e.write(t, "host/etc/libvirt/qemu.conf", "user = \"root\"\nsecurity_driver = \"none\"\n")
	w := e.write(t, "w.toml", "[[waiver]]\ncontrol = \"DAEMON-013\"\ntarget = \"*\"\nreason = \"lab box\"\nexpires = 2027-01-31\n")
	err := e.execute(NewCmdRun(e.f, nil), "--root", host, "--only", "DAEMON-016,DAEMON-013", "-o", "wide", "--waivers", w)
	wantKind(t, err, errs.Findings)
	lines := strings.Split(strings.TrimSpace(e.out.String()), "\n")
	if !strings.HasPrefix(lines[0], "SEVERITY   ID") || !strings.Contains(lines[0], "WHERE") || !strings.Contains(lines[0], "FIX") || !strings.Contains(lines[0], "WAIVER") {
		t.Errorf("header %q", lines[0])
	}
	var waived string
	for _, l := range lines {
		if strings.Contains(l, "DAEMON-013") {
			waived = l
		}
	}
	if !strings.Contains(waived, " waived ") || !strings.Contains(waived, "until 2027-01-31: lab box") {
		t.Errorf("waived row %q", waived)
	}
}

// -o offers the formats run renders itself, in help and shell completion.
func TestRunOutputFormatsOffered(t *testing.T) {
	e := newTestEnv(t)
	cmd := NewCmdRun(e.f, nil)
	comp, ok := cmd.GetFlagCompletionFunc("output")
	if !ok {
		t.Fatal("no completion for -o")
	}
	got, _ := comp(cmd, nil, "")
	if !slices.Contains(got, "sarif") || !slices.Contains(got, "junit") || !slices.Contains(got, "wide") {
		t.Errorf("-o completes %v", got)
	}
	if u := cmd.Flags().Lookup("output").Usage; !strings.Contains(u, "table, wide, json, name, sarif, junit") {
		t.Errorf("-o help %q", u)
	}
}
