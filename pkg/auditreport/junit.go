package auditreport

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// JUnit XML in the shape CI servers read (Jenkins/Ant's JUnit.xsd): one testsuite per group,
// one testcase per control and target.

// JUnitSuites is the document's root.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is the testcases of one group of controls.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
}

// JUnitProperty is a name/value pair of a suite.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one control's result for one target.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitProblem `xml:"failure,omitempty"`
	Error     *JUnitProblem `xml:"error,omitempty"`
	Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
}

// JUnitProblem is a failure or an error: the message attribute says what, the body where and
// how to fix it.
type JUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// JUnitSkipped is a waived result or one that does not apply.
type JUnitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnit makes the run's JUnit document from every result (passes included, whatever --all
// says: a passing testcase is a result too). Failures are <failure>, results that could not be
// evaluated <error>, waived ones and those that do not apply <skipped>.
func JUnit(run *Run) *JUnitSuites {
	rep := run.Report
	doc := &JUnitSuites{Name: "hvctl audit " + rep.Host, Time: "0"}
	byGroup := map[string]*JUnitSuite{}
	var order []string
	for _, f := range run.Results {
		s, ok := byGroup[f.Group]
		if !ok {
			s = &JUnitSuite{Name: f.Group, Time: "0", Timestamp: strings.TrimSuffix(rep.Time, "Z"), Hostname: rep.Host,
				Properties: []JUnitProperty{{"uri", rep.URI}, {"hvctl_version", rep.HvctlVersion}, {"libvirt_daemon", rep.LibvirtDaemon}, {"fail_on", rep.FailOn}}}
			byGroup[f.Group] = s
			order = append(order, f.Group)
		}
		c := JUnitCase{Name: f.ID + " " + f.Target, Classname: "hvctl.audit." + f.Group + "." + f.ID, Time: "0"}
		switch f.Status {
		case "fail":
			c.Failure = &JUnitProblem{Message: message(f), Type: f.Severity, Body: problemBody(f)}
			s.Failures++
		case "error":
			c.Error = &JUnitProblem{Message: f.Detail, Type: "error", Body: problemBody(f)}
			s.Errors++
		case "waived":
			c.Skipped = &JUnitSkipped{Message: fmt.Sprintf("waived until %s: %s", f.Waiver.Expires, f.Waiver.Reason)}
			s.Skipped++
		case "skipped":
			c.Skipped = &JUnitSkipped{Message: "does not apply: " + f.Detail}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	// Suites in the catalogue's group order.
	for _, g := range audit.Groups {
		for _, name := range order {
			if name != g {
				continue
			}
			s := byGroup[name]
			doc.Tests += s.Tests
			doc.Failures += s.Failures
			doc.Errors += s.Errors
			doc.Skipped += s.Skipped
			doc.Suites = append(doc.Suites, *s)
		}
	}
	return doc
}

func problemBody(f model.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, %s): %s\n", f.Title, f.ID, f.Severity, f.Detail)
	if w := Where(f); w != "" {
		fmt.Fprintf(&b, "where: %s\n", w)
	}
	if f.Remediation != "" {
		fmt.Fprintf(&b, "fix: %s\n", f.Remediation)
	}
	if len(f.References) > 0 {
		fmt.Fprintf(&b, "srg: %s\n", strings.Join(f.References, ", "))
	}
	return b.String()
}

// WriteJUnit writes the document with its XML declaration.
func WriteJUnit(w io.Writer, doc *JUnitSuites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Where is a finding's location in a few words: "/etc/libvirt/qemu.conf:12",
// "disk vda /var/lib/libvirt/images/a.qcow2", "pid 1234 (qemu-system-x86)"; the VM is named
// when it is not the finding's target already; "" when the finding has no location.
func Where(f model.Finding) string {
	l := f.Location
	if l == nil {
		return ""
	}
	var parts []string
	if l.File != "" {
		if l.Line > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", l.File, l.Line))
		} else {
			parts = append(parts, l.File)
		}
	}
	if l.VM != "" && l.VM != f.Target {
		parts = append(parts, "vm "+l.VM)
	}
	for _, s := range []string{l.Device, l.Path, l.Process} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}
