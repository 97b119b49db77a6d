package auditreport

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// testdata/sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0 schema (errata 01), as published in
// oasis-tcs/sarif-spec at Schemata/sarif-schema-2.1.0.json: 112,768 bytes, 52 definitions.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, s *jsonschema.Schema, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

func TestSARIFValidatesAgainstTheSchema(t *testing.T) {
	schema := sarifSchema(t)
	for _, all := range []bool{false, true} {
		data, err := json.Marshal(SARIF(fixtureRun(all)))
		if err != nil {
			t.Fatal(err)
		}
		if err := validateSARIF(t, schema, data); err != nil {
			t.Errorf("--all=%v: %v", all, err)
		}
	}
	// Every control of the catalogue as a rule, with whatever metadata it has today.
	run := fixtureRun(true)
	run.Controls = audit.All()
	data, err := json.Marshal(SARIF(run))
	if err != nil {
		t.Fatal(err)
	}
	if err := validateSARIF(t, schema, data); err != nil {
		t.Errorf("catalogue rules: %v", err)
	}
}

// The validator is not a rubber stamp: a level SARIF does not know fails.
func TestSARIFSchemaRejectsWhatIsWrong(t *testing.T) {
	schema := sarifSchema(t)
	log := SARIF(fixtureRun(false))
	log.Runs[0].Results[0].Level = "critical"
	data, _ := json.Marshal(log)
	if err := validateSARIF(t, schema, data); err == nil {
		t.Error(`level "critical" passed the schema`)
	}
	log = SARIF(fixtureRun(false))
	log.Runs[0].Results[0].Locations[0].PhysicalLocation.Region.StartLine = 0
	data, _ = json.Marshal(log)
	if err := validateSARIF(t, schema, data); err == nil {
		t.Error("startLine 0 passed the schema")
	}
}

func TestSARIFContent(t *testing.T) {
	log := SARIF(fixtureRun(false))
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("version %s, %d runs", log.Version, len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "hvctl" || d.Version != "1.2.3" || len(d.Rules) != len(fixtureControls) {
		t.Fatalf("driver %s %s with %d rules", d.Name, d.Version, len(d.Rules))
	}
	var vm007 SARIFRule
	for _, r := range d.Rules {
		if r.ID == "VM-007" {
			vm007 = r
		}
	}
	if vm007.ShortDescription.Text != "Graphics on the network without a password" || vm007.FullDescription.Text != "Anyone who reaches the port gets the console." {
		t.Errorf("VM-007 descriptions: %+v %+v", vm007.ShortDescription, vm007.FullDescription)
	}
	if !strings.Contains(vm007.Help.Markdown, "## How to fix\n\nListen on 127.0.0.1 or a socket, or set a password.") ||
		!strings.Contains(vm007.Help.Text, "How it is checked: Each <graphics> listen address and password.") ||
		!strings.Contains(vm007.Help.Text, "DISA VMM SRG: V-207418, V-207501") {
		t.Errorf("VM-007 help:\n%s\n---\n%s", vm007.Help.Text, vm007.Help.Markdown)
	}
	p := vm007.Properties
	if p["severity"] != "critical" || p["group"] != "vm" || strings.Join(p["srg"].([]string), ",") != "V-207418,V-207501" || p["security-severity"] != "9.5" {
		t.Errorf("VM-007 properties: %v", p)
	}
	if vm007.DefaultConfiguration.Level != "error" {
		t.Errorf("critical rule level %s", vm007.DefaultConfiguration.Level)
	}

	// Results: the three failures and the waived one; the error is a notification.
	if len(run.Results) != 4 {
		t.Fatalf("%d results, want 4", len(run.Results))
	}
	conf := run.Results[0]
	if conf.RuleID != "DAEMON-016" || d.Rules[conf.RuleIndex].ID != "DAEMON-016" || conf.Level != "error" || conf.Kind != "fail" {
		t.Errorf("config result: %+v", conf)
	}
	pl := conf.Locations[0].PhysicalLocation
	if pl == nil || pl.ArtifactLocation.URI != "file:///etc/libvirt/qemu.conf" || pl.Region == nil || pl.Region.StartLine != 12 {
		t.Errorf("config result's physical location: %+v", pl)
	}
	if !strings.Contains(conf.Message.Text, `user = "root". Fix: Set user = "qemu"`) {
		t.Errorf("message %q lacks the fix", conf.Message.Text)
	}
	vm := run.Results[1]
	ll := vm.Locations[0].LogicalLocations
	if vm.RuleID != "VM-007" || len(ll) != 1 || ll[0].Name != "web01" || ll[0].FullyQualifiedName != "hv1/vm/web01" {
		t.Errorf("VM result's locations: %+v", vm.Locations)
	}
	// GitHub code scanning refuses a whole log when a result has only a logical location
	// ("locationFromSarifResult: expected artifact location"): a VM gets a physical one too,
	// under a base the run declares.
	if pl := vm.Locations[0].PhysicalLocation; pl == nil || pl.ArtifactLocation != (SARIFArtifact{URI: "hv1/vm/web01", URIBaseID: AuditedBase}) {
		t.Errorf("VM result's physical location: %+v", pl)
	}
	if b, ok := run.OriginalURIBaseIDs[AuditedBase]; !ok || b.Description == nil {
		t.Errorf("run declares no %s: %+v", AuditedBase, run.OriginalURIBaseIDs)
	}
	for _, all := range []bool{false, true} {
		for _, r := range SARIF(fixtureRun(all)).Runs[0].Results {
			for _, l := range r.Locations {
				if l.PhysicalLocation == nil || l.PhysicalLocation.ArtifactLocation.URI == "" {
					t.Errorf("--all=%v: %s %s has a location without an artifact URI", all, r.RuleID, r.Kind)
				}
			}
		}
	}
	if vm.Locations[0].Message == nil || vm.Locations[0].Message.Text != "graphics vnc" {
		t.Errorf("VM result's device: %+v", vm.Locations[0].Message)
	}
	waived := run.Results[2]
	if len(waived.Suppressions) != 1 {
		t.Fatalf("waived result has %d suppressions", len(waived.Suppressions))
	}
	s := waived.Suppressions[0]
	if s.Kind != "external" || s.Status != "accepted" || s.Justification != "lab dongle" ||
		s.Location.PhysicalLocation.ArtifactLocation.URI != "file:///etc/hvctl/audit-waivers.toml" || s.Location.PhysicalLocation.Region.StartLine != 2 {
		t.Errorf("suppression: %+v", s)
	}
	disk := run.Results[3]
	if disk.Level != "note" || disk.Locations[0].PhysicalLocation.ArtifactLocation.URI != "file:///var/lib/libvirt/images/test%20disk.img" {
		t.Errorf("disk result: %+v", disk)
	}
	inv := run.Invocations[0]
	var texts []string
	for _, n := range inv.ToolExecutionNotifications {
		texts = append(texts, n.Level+": "+n.Message.Text)
	}
	want := []string{
		"error: STOR-006 storage could not be evaluated: libvirt did not list its secrets",
		"warning: waiver for VM-007 db* accepted no failing result: remove it",
		"warning: waiver for VM-007 web01 expired on 2026-01-01: its findings count again",
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("notifications:\n%s\nwant\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}

	// A waivers file named relatively (--waivers w.toml) is still a file:// URI, absolute.
	rel := fixtureRun(false)
	for i := range rel.Report.Findings {
		if w := rel.Report.Findings[i].Waiver; w != nil {
			w.File = "w.toml"
		}
	}
	wd, _ := os.Getwd()
	for _, r := range SARIF(rel).Runs[0].Results {
		for _, s := range r.Suppressions {
			if got := s.Location.PhysicalLocation.ArtifactLocation.URI; got != "file://"+filepath.ToSlash(filepath.Join(wd, "w.toml")) {
				t.Errorf("relative waivers file: %s", got)
			}
		}
	}

	all := SARIF(fixtureRun(true)).Runs[0].Results
	kinds := map[string]string{}
	for _, r := range all {
		kinds[r.RuleID+" "+r.Kind] = r.Level
	}
	if kinds["VM-030 pass"] != "none" || kinds["HOST-010 notApplicable"] != "none" {
		t.Errorf("--all results: %v", kinds)
	}
}
