package auditreport

import (
	"time"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// Meta is what the command knows of the run besides its results.
type Meta struct {
	Host, URI                                 string
	Time                                      time.Time
	HvctlVersion                              string
	LibvirtLibrary, LibvirtDaemon, Hypervisor string
	FailOn                                    string
	// Local says whether the host's own files could be read: on a remote host the controls
	// that read them are skipped without being evaluated, so their skips make the audit
	// incomplete; on the host itself a skip means the control does not apply.
	Local bool
	All   bool // show passes and skips among the findings
}

// Run is one audit run as the reports see it.
type Run struct {
	Report   model.AuditReport // the envelope; Findings are the rows shown
	Results  []model.Finding   // every result, shown or not
	Controls []audit.Control   // the controls that ran, in catalogue order
}

// Build makes the run's report: totals over every result, the skipped summary, the waivers
// that did nothing or expired, and the rows to show (failures, waived and errors; all of them
// with Meta.All).
func Build(m Meta, controls []audit.Control, o Outcome) *Run {
	r := model.AuditReport{
		Host: m.Host, URI: m.URI, Time: m.Time.UTC().Format(time.RFC3339), HvctlVersion: m.HvctlVersion,
		LibvirtLibrary: m.LibvirtLibrary, LibvirtDaemon: m.LibvirtDaemon, Hypervisor: m.Hypervisor, FailOn: m.FailOn,
		Skipped: []model.AuditSkip{}, UnusedWaivers: []model.AuditWaiver{}, ExpiredWaivers: []model.AuditWaiver{},
		Findings: []model.Finding{},
	}
	t := &r.Totals
	for _, f := range o.Results {
		t.Results++
		switch f.Status {
		case "pass":
			t.ByStatus.Pass++
		case "fail":
			t.ByStatus.Fail++
			countSeverity(&t.FailedBySeverity, f.Severity)
			if Failing(f, m.FailOn) {
				t.Failing++
			}
		case "waived":
			t.ByStatus.Waived++
		case "error":
			t.ByStatus.Error++
		case "skipped":
			t.ByStatus.Skipped++
			r.Skipped = append(r.Skipped, model.AuditSkip{ID: f.ID, Target: f.Target, Reason: f.Detail})
		}
		if m.All || f.Status == "fail" || f.Status == "waived" || f.Status == "error" {
			r.Findings = append(r.Findings, f)
		}
	}
	for _, w := range o.Unused {
		r.UnusedWaivers = append(r.UnusedWaivers, w.Report())
	}
	for _, w := range o.Expired {
		r.ExpiredWaivers = append(r.ExpiredWaivers, w.Report())
	}
	r.Complete = t.ByStatus.Error == 0 && (m.Local || t.ByStatus.Skipped == 0)
	return &Run{Report: r, Results: o.Results, Controls: controls}
}

// Failing says whether f fails a run with --fail-on failOn: an unwaived failure at or above it.
// Info findings fail only a run that asks for them (--fail-on info): the default, low, leaves
// them out.
func Failing(f model.Finding, failOn string) bool {
	return f.Status == "fail" && audit.Rank(f.Severity) >= audit.Rank(failOn)
}

// Incomplete says whether the run must exit 6 (when nothing fails it): a result that could not
// be evaluated, or, with --require-complete, a control skipped without being evaluated.
func (r *Run) Incomplete(requireComplete bool) bool {
	return r.Report.Totals.ByStatus.Error > 0 || requireComplete && !r.Report.Complete
}

func countSeverity(b *model.AuditBySeverity, sev string) {
	switch sev {
	case "critical":
		b.Critical++
	case "high":
		b.High++
	case "medium":
		b.Medium++
	case "low":
		b.Low++
	case "info":
		b.Info++
	}
}
