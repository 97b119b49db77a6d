package auditreport

import (
	"strings"
	"testing"
	"time"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

var knownIDs = []string{"HOST-001", "VM-007", "VM-011", "VM-030", "STOR-010"}

func TestParseWaivers(t *testing.T) {
	data := `# accepted risks of this host
[[waiver]]
control = "VM-011"
target = "par-*"
reason = "the parallel port is the lab's dongle"
expires = 2027-06-30

[[waiver]]
control = "STOR-010"
target = "/guest/*"
reason = "  imported disks, moved next quarter  "
expires = 2026-12-31
`
	ws, err := ParseWaivers("w.toml", []byte(data), knownIDs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("got %d waivers, want 2", len(ws))
	}
	w := ws[0]
	if w.Control != "VM-011" || w.Target != "par-*" || w.Expires.String() != "2027-06-30" || w.File != "w.toml" || w.Line != 2 {
		t.Errorf("first waiver = %+v", w)
	}
	if ws[1].Line != 8 || ws[1].Reason != "imported disks, moved next quarter" {
		t.Errorf("second waiver: line %d, reason %q", ws[1].Line, ws[1].Reason)
	}
}

// A file saved as "UTF-8 with BOM" is read; positions stay those the editor shows.
func TestParseWaiversByteOrderMark(t *testing.T) {
	ws, err := ParseWaivers("w.toml", []byte("\uFEFF[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"par-*\"\nreason = \"r\"\nexpires = 2027-06-30\n"), knownIDs)
	if err != nil || len(ws) != 1 || ws[0].Line != 1 {
		t.Fatalf("%+v %v", ws, err)
	}
	_, err = ParseWaivers("w.toml", []byte("\uFEFF[[waiver]]\ncontrol = 11\n"), knownIDs)
	if err == nil || !strings.HasPrefix(err.Error(), "w.toml:2:1: waiver 1: control must be a string") {
		t.Errorf("error %v", err)
	}
}

// Control IDs are taken without regard to case, as --only and --skip take them.
func TestParseWaiversControlCase(t *testing.T) {
	ws, err := ParseWaivers("w.toml", []byte("[[waiver]]\ncontrol = \"vm-011\"\ntarget = \"par-*\"\nreason = \"r\"\nexpires = 2027-06-30\n"), knownIDs)
	if err != nil {
		t.Fatal(err)
	}
	if ws[0].Control != "VM-011" {
		t.Errorf("control %q, want VM-011", ws[0].Control)
	}
}

func TestParseWaiversErrors(t *testing.T) {
	const head = "[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"par-open\"\n"
	for _, tc := range []struct{ name, data, want string }{
		{"unknown key", head + "reason = \"r\"\nexpires = 2027-06-30\nowner = \"bob\"\n",
			`w.toml:6:1: unknown key "waiver.owner" (a waiver has control, target, reason and expires)`},
		{"no reason", head + "expires = 2027-06-30\n",
			`w.toml:1:3: waiver 1: reason is missing: say why the finding is accepted`},
		{"blank reason", head + "reason = \"  \"\nexpires = 2027-06-30\n",
			`w.toml:4:1: waiver 1: reason is missing: say why the finding is accepted`},
		{"no expiry", head + "reason = \"r\"\n",
			`w.toml:1:3: waiver 1: expires is missing (a TOML date such as 2027-06-30)`},
		{"expiry is a string", head + "reason = \"r\"\nexpires = \"2027-06-30\"\n",
			`w.toml:5:1: waiver 1: expires must be a TOML date such as 2027-06-30 (no quotes, no time), not a string`},
		{"expiry has a time", head + "reason = \"r\"\nexpires = 2027-06-30T12:00:00\n",
			`w.toml:5:1: waiver 1: expires must be a TOML date such as 2027-06-30 (no quotes, no time), not a date and time`},
		{"unknown control", "[[waiver]]\ncontrol = \"VM-11\"\ntarget = \"x\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:2:1: waiver 1: control "VM-11" is not a control of the audit (did you mean VM-011?)`},
		{"a group", "[[waiver]]\ncontrol = \"vm\"\ntarget = \"x\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:2:1: waiver 1: control "vm" is a group: a waiver accepts the findings of one control ID (such as VM-007)`},
		{"no target", "[[waiver]]\ncontrol = \"VM-011\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:1:3: waiver 1: target is missing (a VM, network, path or host; globs allowed)`},
		{"bad glob", "[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"par-[\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:3:1: waiver 1: target "par-[" is not a valid glob`},
		{"twice", head + "reason = \"r\"\nexpires = 2027-06-30\n" + head + "reason = \"r2\"\nexpires = 2027-06-30\n",
			`w.toml:8:1: waiver 2: a second waiver for VM-011 par-open (the first is at line 1)`},
		{"syntax", "[[waiver]\n", "w.toml:1:"},
		// Shapes that decode into the same Go value but have no [[waiver]] header (these panicked).
		{"one table", "[waiver]\ncontrol = \"VM-011\"\ntarget = \"x\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:1:2: write each waiver as a [[waiver]] table (two brackets), one per accepted finding`},
		{"inline array", "waiver = [{control = \"VM-011\", target = \"x\", reason = \"r\", expires = 2027-06-30}]\n",
			`w.toml:1:1: write each waiver as a [[waiver]] table (two brackets), one per accepted finding`},
		// A wrong type names the key and its line, not the decoder's Go types.
		{"control is a number", "[[waiver]]\ncontrol = 11\ntarget = \"x\"\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:2:1: waiver 1: control must be a string, not a number`},
		{"target is an array", "[[waiver]]\ncontrol = \"VM-011\"\ntarget = [\"a\", \"b\"]\nreason = \"r\"\nexpires = 2027-06-30\n",
			`w.toml:3:1: waiver 1: target must be a string, not an array`},
		{"reason is a boolean", head + "reason = true\nexpires = 2027-06-30\n",
			`w.toml:4:1: waiver 1: reason must be a string, not a boolean`},
		{"twice, in another case", head + "reason = \"r\"\nexpires = 2027-06-30\n" + "[[waiver]]\ncontrol = \"vm-011\"\ntarget = \"par-open\"\nreason = \"r2\"\nexpires = 2027-06-30\n",
			`w.toml:8:1: waiver 2: a second waiver for VM-011 par-open (the first is at line 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWaivers("w.toml", []byte(tc.data), knownIDs)
			if err == nil {
				t.Fatal("no error")
			}
			if errs.KindOf(err) != errs.Usage {
				t.Errorf("kind %v, want usage (exit 2)", errs.KindOf(err))
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tc.want)
			}
		})
	}
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestApplyWaivers(t *testing.T) {
	ws, err := ParseWaivers("w.toml", []byte(`
[[waiver]]
control = "VM-011"
target = "par-*"
reason = "lab dongle"
expires = 2027-06-30

[[waiver]]
control = "VM-007"
target = "web01"
reason = "old exception"
expires = 2026-12-02

[[waiver]]
control = "VM-030"
target = "gone"
reason = "VM deleted since"
expires = 2027-01-01

[[waiver]]
control = "HOST-001"
target = "host"
reason = "not run today"
expires = 2027-01-01

[[waiver]]
control = "VM-011"
target = "ok-vm"
reason = "passes anyway"
expires = 2027-01-01
`), knownIDs)
	if err != nil {
		t.Fatal(err)
	}
	results := []model.Finding{
		{ID: "VM-011", Status: "fail", Target: "par-open", Severity: "high"},
		{ID: "VM-011", Status: "fail", Target: "other", Severity: "high"},
		{ID: "VM-011", Status: "pass", Target: "ok-vm"},
		{ID: "VM-007", Status: "fail", Target: "web01", Severity: "critical"},
		{ID: "VM-030", Status: "pass", Target: "test"},
	}
	ran := []string{"VM-007", "VM-011", "VM-030"}
	o := ApplyWaivers(results, ws, Scope{Controls: ran}, day("2026-12-03 23:59"))

	status := func(i int) string { return o.Results[i].Status }
	if status(0) != "waived" || o.Results[0].Waiver == nil || o.Results[0].Waiver.Reason != "lab dongle" || o.Results[0].Waiver.Line != 2 {
		t.Errorf("par-open: %+v, want waived by line 2", o.Results[0])
	}
	if status(1) != "fail" || status(2) != "pass" {
		t.Errorf("waivers touched what they do not match: %s, %s", status(1), status(2))
	}
	if status(3) != "fail" || o.Results[3].Waiver != nil {
		t.Errorf("VM-007 web01 under an expired waiver is %s, want fail", status(3))
	}
	if len(o.Expired) != 1 || o.Expired[0].Control != "VM-007" {
		t.Errorf("expired = %+v, want the VM-007 waiver", o.Expired)
	}
	// VM-030 gone and VM-011 ok-vm accepted nothing; HOST-001 did not run, so it is not reported.
	var unused []string
	for _, w := range o.Unused {
		unused = append(unused, w.Control+" "+w.Target)
	}
	if strings.Join(unused, ",") != "VM-030 gone,VM-011 ok-vm" {
		t.Errorf("unused = %v", unused)
	}
	if results[0].Status != "fail" {
		t.Error("ApplyWaivers changed its input")
	}
	// With --vm, a waiver whose target matched no result was about a VM outside the run.
	o = ApplyWaivers(results, ws, Scope{Controls: ran, SomeVMs: true}, day("2026-12-03 23:59"))
	unused = nil
	for _, w := range o.Unused {
		unused = append(unused, w.Control+" "+w.Target)
	}
	if strings.Join(unused, ",") != "VM-011 ok-vm" {
		t.Errorf("unused with --vm = %v, want only the waiver whose VM was audited", unused)
	}
}

func TestWaiverHoldsThroughItsExpiryDay(t *testing.T) {
	ws, err := ParseWaivers("w.toml", []byte("[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"*\"\nreason = \"r\"\nexpires = 2026-12-03\n"), knownIDs)
	if err != nil {
		t.Fatal(err)
	}
	if ws[0].Expired(day("2026-12-03 23:59")) {
		t.Error("expired on its expiry day")
	}
	if !ws[0].Expired(day("2026-12-04 00:00")) {
		t.Error("still holds the day after its expiry")
	}
	// A later waiver that still holds wins over an expired one; the expired one is not reported.
	ws2, err := ParseWaivers("w.toml", []byte("[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"a*\"\nreason = \"old\"\nexpires = 2025-01-01\n"+
		"[[waiver]]\ncontrol = \"VM-011\"\ntarget = \"ab\"\nreason = \"renewed\"\nexpires = 2027-01-01\n"), knownIDs)
	if err != nil {
		t.Fatal(err)
	}
	o := ApplyWaivers([]model.Finding{{ID: "VM-011", Status: "fail", Target: "ab"}}, ws2, Scope{Controls: []string{"VM-011"}}, day("2026-12-03 12:00"))
	if o.Results[0].Status != "waived" || o.Results[0].Waiver.Reason != "renewed" || len(o.Expired) != 0 {
		t.Errorf("got %+v, expired %v", o.Results[0], o.Expired)
	}
}
