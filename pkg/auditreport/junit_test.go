package auditreport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// junitDoc reads a JUnit document back the way a CI server does, into its own types.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		Hostname  string `xml:"hostname,attr"`
		Timestamp string `xml:"timestamp,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Errors    int    `xml:"errors,attr"`
		Skipped   int    `xml:"skipped,attr"`
		Cases     []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, JUnit(fixtureRun(false))); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Well-formed: every token decodes, and the document starts with its declaration.
	if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.60s", out)
	}
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// Every result is a testcase, passes included, whatever --all says.
	if doc.Tests != 7 || doc.Failures != 3 || doc.Errors != 1 || doc.Skipped != 2 {
		t.Errorf("totals tests=%d failures=%d errors=%d skipped=%d, want 7 3 1 2", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	var names []string
	for _, s := range doc.Suites {
		names = append(names, s.Name)
		if s.Hostname != "hv1" || s.Timestamp != "2026-12-03T09:30:00" {
			t.Errorf("suite %s: hostname %q timestamp %q", s.Name, s.Hostname, s.Timestamp)
		}
		if s.Tests != len(s.Cases) {
			t.Errorf("suite %s says %d tests, has %d", s.Name, s.Tests, len(s.Cases))
		}
	}
	if strings.Join(names, ",") != "host,daemon,vm,storage" {
		t.Errorf("suites %v, want catalogue order host,daemon,vm,storage", names)
	}
	cases := map[string]int{}
	for si, s := range doc.Suites {
		for ci, c := range s.Cases {
			cases[c.Name] = si*100 + ci
		}
	}
	get := func(name string) int {
		i, ok := cases[name]
		if !ok {
			t.Fatalf("no testcase %q (have %v)", name, cases)
		}
		return i
	}
	daemon := doc.Suites[get("DAEMON-016 qemu.conf")/100].Cases[get("DAEMON-016 qemu.conf")%100]
	if daemon.Classname != "hvctl.audit.daemon.DAEMON-016" || daemon.Failure == nil || daemon.Failure.Type != "critical" ||
		!strings.Contains(daemon.Failure.Body, "where: /etc/libvirt/qemu.conf:12\nfix: Set user = \"qemu\"") {
		t.Errorf("DAEMON-016 testcase: %+v %+v", daemon, daemon.Failure)
	}
	vm := doc.Suites[2]
	for _, c := range vm.Cases {
		switch c.Name {
		case "VM-011 par-open":
			if c.Skipped == nil || c.Skipped.Message != "waived until 2027-06-30: lab dongle" || c.Failure != nil {
				t.Errorf("waived testcase: %+v", c)
			}
		case "VM-030 web01":
			if c.Failure != nil || c.Error != nil || c.Skipped != nil {
				t.Errorf("passing testcase has a child: %+v", c)
			}
		}
	}
	st := doc.Suites[3].Cases[0]
	if st.Error == nil || st.Error.Message != "libvirt did not list its secrets" {
		t.Errorf("error testcase: %+v", st)
	}
	host := doc.Suites[0].Cases[0]
	if host.Skipped == nil || host.Skipped.Message != "does not apply: the libvirt host is remote" {
		t.Errorf("skipped testcase: %+v", host)
	}
}
