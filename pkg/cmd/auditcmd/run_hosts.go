package auditcmd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/auditreport"
	"github.com/hyper-nixos/hvctl/pkg/cmdutil"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// hostAudit is the audit of one host of --host.
type hostAudit struct {
	host string
	audited
}

// runRunHosts audits several hosts at once, each through its own libvirt, and reports them
// together: the worst exit status over the hosts wins, then a host that did not answer.
func runRunHosts(ctx context.Context, o *RunOptions, waivers []auditreport.Waiver) error {
	f := o.F
	hosts, err := f.ResolveHosts(&o.Hosts)
	if err != nil {
		return err
	}
	// auditOne opens each host's connection itself: read-write where it may (the secure XML).
	per := make([]audited, len(hosts))
	failures := cmdutil.EachHost(ctx, &o.Hosts, hosts, func(ctx context.Context, i int, h cmdutil.Host) error {
		a, err := auditOne(ctx, f.ForHost(h.URI), o, waivers)
		if a.run != nil {
			nameHost(a.run, h.Name)
		}
		per[i] = a
		return err
	})
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return err
	}
	fanErr := f.HostsOutcome(o.Cmd, &o.Hosts, hosts, failures)
	if fanErr != nil && errs.KindOf(fanErr) != errs.Partial {
		return fanErr
	}
	var runs []hostAudit
	for i, a := range per {
		if failures[i] == nil && a.run != nil { // no run: --vm matched nothing there
			runs = append(runs, hostAudit{hosts[i].Name, a})
		}
	}
	slices.SortStableFunc(runs, func(a, b hostAudit) int { return cmp.Compare(a.host, b.host) })
	if len(o.VMs) > 0 && len(runs) == 0 {
		if fanErr != nil { // a host that did not answer may have them
			return fanErr
		}
		return errs.New(errs.NotFound, "no VM matches --vm %s on any host", strings.Join(o.VMs, ","))
	}
	if err := writeReports(o, func(w io.Writer, kind string, format output.Format) error {
		return writeHostReports(w, kind, format, runs)
	}); err != nil {
		return err
	}
	tellHostWaivers(f, runs)
	for _, a := range runs {
		if !a.local || o.RequireComplete {
			tellSkipped(f, a.host, a.run.Report.Skipped)
		}
	}
	if err := hostsExitStatus(runs, o); err != nil {
		return err
	}
	return fanErr
}

// nameHost puts the configured host's name on the report and every result: a --json or jq
// consumer that flattens the findings still knows where each is.
func nameHost(run *auditreport.Run, host string) {
	run.Report.Host = host
	for i := range run.Report.Findings {
		run.Report.Findings[i].Host = host
	}
	for i := range run.Results {
		run.Results[i].Host = host
	}
}

// writeHostReports renders several hosts' audits in one format: the table with a HOST column,
// JSON as a list of reports, SARIF with a run per host, JUnit with suites per host.
func writeHostReports(w io.Writer, kind string, format output.Format, runs []hostAudit) error {
	switch kind {
	case FormatSARIF:
		var log *auditreport.SARIFLog
		for _, a := range runs {
			one := auditreport.SARIF(a.run)
			if log == nil {
				log = one
				continue
			}
			log.Runs = append(log.Runs, one.Runs...)
		}
		data, err := json.MarshalIndent(log, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(data, '\n'))
		return err
	case FormatJUnit:
		doc := &auditreport.JUnitSuites{Time: "0"}
		var names []string
		for _, a := range runs {
			one := auditreport.JUnit(a.run)
			names = append(names, a.host)
			for _, s := range one.Suites {
				s.Name = a.host + "/" + s.Name // suites are keyed by name: one per host and group
				doc.Suites = append(doc.Suites, s)
			}
			doc.Tests += one.Tests
			doc.Failures += one.Failures
			doc.Errors += one.Errors
			doc.Skipped += one.Skipped
		}
		doc.Name = "hvctl audit " + strings.Join(names, ", ")
		return auditreport.WriteJUnit(w, doc)
	}
	reports := make([]model.AuditReport, 0, len(runs))
	var findings []model.Finding
	for _, a := range runs {
		reports = append(reports, a.run.Report)
		findings = append(findings, a.run.Report.Findings...)
	}
	if kind == "json" || format.IsJSON() {
		return output.WriteJSON(w, format, reports)
	}
	// Hosts come in name order, each with its rows in theirs (worst first).
	cols := append([]output.Column[model.Finding]{{Header: "host", Value: func(x model.Finding) string { return x.Host }}}, FindingColumns...)
	return output.List(w, format, findings, cols, func(x model.Finding) string { return x.Host + " " + x.ID + " " + x.Target })
}

// tellHostWaivers warns once per waiver: about one that expired, and about one that accepted
// nothing on any host (a waiver for one host's VM accepts nothing on the others).
func tellHostWaivers(f *cmdutil.Factory, runs []hostAudit) {
	key := func(w model.AuditWaiver) string { return fmt.Sprintf("%s:%d", w.File, w.Line) }
	expired := map[string]bool{}
	unusedOn := map[string]int{}
	var unused []model.AuditWaiver
	for _, a := range runs {
		for _, w := range a.run.Report.ExpiredWaivers {
			if !expired[key(w)] {
				expired[key(w)] = true
				f.Infof("%s:%d: waiver for %s %s expired on %s: its findings count again", w.File, w.Line, w.Control, w.Target, w.Expires)
			}
		}
		for _, w := range a.run.Report.UnusedWaivers {
			if unusedOn[key(w)]++; unusedOn[key(w)] == 1 {
				unused = append(unused, w)
			}
		}
	}
	for _, w := range unused {
		if unusedOn[key(w)] == len(runs) {
			f.Infof("%s:%d: waiver for %s %s accepted no failing result on any host: remove it, or fix its target", w.File, w.Line, w.Control, w.Target)
		}
	}
}

// hostsExitStatus is exitStatus over several hosts: unwaived failures on any (9), else an
// incomplete audit on any (6), naming the hosts.
func hostsExitStatus(runs []hostAudit, o *RunOptions) error {
	var failing, waived, errored, skipped int
	var failHosts, errHosts, skipHosts []string
	for _, a := range runs {
		t := a.run.Report.Totals
		waived += t.ByStatus.Waived
		if t.Failing > 0 {
			failing += t.Failing
			failHosts = append(failHosts, a.host)
		}
		if t.ByStatus.Error > 0 {
			errored += t.ByStatus.Error
			errHosts = append(errHosts, a.host)
		}
		if a.run.Incomplete(o.RequireComplete) && t.ByStatus.Error == 0 {
			skipped += t.ByStatus.Skipped
			skipHosts = append(skipHosts, a.host)
		}
	}
	switch {
	case failing > 0:
		e := errs.New(errs.Findings, "%d finding(s) at or above %s on %s", failing, o.FailOn, strings.Join(failHosts, ", "))
		if waived > 0 {
			e.WithHint("%d more accepted by waivers", waived)
		}
		return e
	case errored > 0:
		return errs.New(errs.Partial, "audit incomplete: %d control result(s) could not be evaluated on %s", errored, strings.Join(errHosts, ", ")).
			WithHint("run it as root on the host itself")
	case len(skipHosts) > 0:
		return errs.New(errs.Partial, "audit incomplete: %d control result(s) skipped on %s (--require-complete)", skipped, strings.Join(skipHosts, ", ")).
			WithHint("run the audit on each host itself for the host's files and processes")
	}
	return nil
}
