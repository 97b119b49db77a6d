package auditcmd

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../../auditreport/testdata/sarif-schema-2.1.0.json")
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
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	return c.MustCompile("sarif.json")
}

func TestRunSARIF(t *testing.T) {
	e := newTestEnv(t)
	host := filepath.Join(e.dir, "host")
	e.write(t, "host/etc/libvirt/qemu.conf", "user = \"root\"\nsecurity_driver = \"none\"\n")
	w := e.write(t, "w.toml", "[[waiver]]\ncontrol = \"DAEMON-013\"\ntarget = \"*\"\nreason = \"lab box\"\nexpires = 2027-01-31\n")
	err := e.execute(NewCmdRun(e.f, nil), "-o", "sarif", "--root", host, "--waivers", w, "--fail-on", "critical")
	wantKind(t, err, errs.Findings)
	doc, jerr := jsonschema.UnmarshalJSON(bytes.NewReader(e.out.Bytes()))
	if jerr != nil {
		t.Fatal(jerr)
	}
	if verr := sarifSchema(t).Validate(doc); verr != nil {
		t.Fatalf("SARIF does not validate: %v", verr)
	}
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
						Region           *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				Suppressions []struct {
					Justification string `json:"justification"`
				} `json:"suppressions"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(e.out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) < 70 {
		t.Errorf("%d rules", len(run.Tool.Driver.Rules))
	}
	got := map[string]string{}
	for _, r := range run.Results {
		j := ""
		if len(r.Suppressions) > 0 {
			j = r.Suppressions[0].Justification
		}
		got[r.RuleID] = j
	}
	if j, ok := got["DAEMON-013"]; !ok || j != "lab box" {
		t.Errorf("DAEMON-013 not a suppressed result: %v", got)
	}
	if _, ok := got["DAEMON-016"]; !ok {
		t.Errorf("DAEMON-016 missing: %v", got)
	}
	// The engine's location of the setting becomes the physical location: file and line.
	for _, r := range run.Results {
		if r.RuleID != "DAEMON-016" {
			continue
		}
		pl := r.Locations[0].PhysicalLocation
		if pl == nil || pl.ArtifactLocation.URI != "file:///etc/libvirt/qemu.conf" || pl.Region == nil || pl.Region.StartLine != 1 {
			t.Errorf("DAEMON-016 physical location: %+v", pl)
		}
	}
}

func TestRunJUnit(t *testing.T) {
	e := newTestEnv(t)
	err := e.execute(NewCmdRun(e.f, nil), "-o", "junit", "-q")
	wantKind(t, err, errs.Findings)
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(e.out.Bytes(), &doc); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, e.out)
	}
	if doc.Failures != r0Failures(t) || doc.Tests < 70 {
		t.Errorf("tests %d, failures %d", doc.Tests, doc.Failures)
	}
	found := false
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Name == "VM-030 test" && c.Failure != nil && s.Name == "vm" {
				found = true
			}
		}
	}
	if !found {
		t.Error("no failing testcase VM-030 test in suite vm")
	}
}

func TestRunReportFiles(t *testing.T) {
	e := newTestEnv(t)
	sarif, js, junit := filepath.Join(e.dir, "a.sarif"), filepath.Join(e.dir, "a.json"), filepath.Join(e.dir, "a.xml")
	err := e.execute(NewCmdRun(e.f, nil), "-q", "--report", "sarif="+sarif, "--report", "json="+js, "--report", "junit="+junit)
	wantKind(t, err, errs.Findings)
	if !strings.Contains(e.out.String(), "VM-030") {
		t.Errorf("the table still goes to stdout: %q", e.out)
	}
	for _, p := range []string{sarif, js, junit} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s mode %v, want 0640", p, st.Mode().Perm())
		}
	}
	var r model.AuditReport
	data, _ := os.ReadFile(js)
	if err := json.Unmarshal(data, &r); err != nil || r.Totals.Failing != 3 {
		t.Errorf("json report: %v %+v", err, r.Totals)
	}
	data, _ = os.ReadFile(sarif)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err := sarifSchema(t).Validate(doc); err != nil {
		t.Errorf("sarif report: %v", err)
	}
}

// A report that cannot be written is a bad flag (exit 2), found before anything runs.
func TestRunReportFilesRefused(t *testing.T) {
	e := newTestEnv(t)
	dangling := filepath.Join(e.dir, "dangling")
	if err := os.Symlink(filepath.Join(e.dir, "nothing"), dangling); err != nil {
		t.Fatal(err)
	}
	same := filepath.Join(e.dir, "same")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--report", "json=" + filepath.Join(e.dir, "no/such/dir/a.json")}, "no directory " + filepath.Join(e.dir, "no/such/dir")},
		{[]string{"--report", "json=" + e.dir}, e.dir + " is a directory"},
		{[]string{"--report", "json=" + dangling}, dangling + " is a symbolic link to nothing"},
		{[]string{"--report", "json=" + same, "--report", "sarif=" + same}, "json= writes to that file already"},
	} {
		err := e.execute(NewCmdRun(e.f, nil), tc.args...)
		wantKind(t, err, errs.Usage)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if e.out.Len() != 0 {
			t.Errorf("%v: printed despite the bad report: %s", tc.args, e.out)
		}
	}
	if _, err := os.Lstat(same); err == nil {
		t.Error("a refused --report still wrote its file")
	}
}

// A report follows a symbolic link to its file and writes into a pipe or device in place:
// renaming a new file over the link, or over /dev/stdout, would destroy what the user named.
func TestRunReportThroughLinksAndPipes(t *testing.T) {
	e := newTestEnv(t)
	real := e.write(t, "reports/audit.json", "old")
	link := filepath.Join(e.dir, "audit.json")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(e.dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	err = e.execute(NewCmdRun(e.f, nil), "-q", "--report", "json="+link, "--report", "junit="+fifo)
	wantKind(t, err, errs.Findings)
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st.Mode(), err)
	}
	var r model.AuditReport
	if data, _ := os.ReadFile(real); json.Unmarshal(data, &r) != nil || r.Totals.Failing == 0 {
		t.Errorf("the link's target holds %.40q, not the report", data)
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the pipe was replaced: %v %v", st.Mode(), err)
	}
	data, err := io.ReadAll(reader)
	if err != nil || !bytes.Contains(data, []byte("<testsuites")) {
		t.Errorf("the pipe carried %.60q (%v), not the JUnit report", data, err)
	}

	// /dev/stdout is a link to /proc/self/fd/1, whose target ("pipe:[…]") only the kernel follows.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	stdout := filepath.Join(e.dir, "stdout")
	if err := os.Symlink(fmt.Sprintf("/proc/self/fd/%d", pw.Fd()), stdout); err != nil {
		t.Fatal(err)
	}
	err = e.execute(NewCmdRun(e.f, nil), "-q", "--report", "json="+stdout)
	pw.Close()
	wantKind(t, err, errs.Findings)
	if st, err := os.Lstat(stdout); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the /proc/self/fd link was replaced: %v %v", st.Mode(), err)
	}
	if data, _ := io.ReadAll(pr); json.Unmarshal(data, &r) != nil || r.Totals.Failing == 0 {
		t.Errorf("the pipe behind the link carried %.40q, not the report", data)
	}
}

// r0Failures is how many failures (any severity) the test driver's host has, from the JSON.
func r0Failures(t *testing.T) int {
	t.Helper()
	e := newTestEnv(t)
	r, _ := e.report(t, "-q")
	return r.Totals.ByStatus.Fail
}
