package auditreport

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/audit"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

// SARIF 2.1.0 (OASIS), only the objects and properties hvctl fills.

// SARIFVersion and SARIFSchema identify the format.
const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// InformationURI is where the tool's rules are documented.
	InformationURI = "https://github.com/hyper-nixos/hvctl"
)

// SARIFLog is a sarifLog object.
type SARIFLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []SARIFRun `json:"runs"`
}

// SARIFRun is a run object.
type SARIFRun struct {
	Tool               SARIFTool                `json:"tool"`
	Invocations        []SARIFInvocation        `json:"invocations"`
	OriginalURIBaseIDs map[string]SARIFArtifact `json:"originalUriBaseIds,omitempty"`
	Results            []SARIFResult            `json:"results"`
	Properties         map[string]any           `json:"properties,omitempty"`
}

// AuditedBase is the uriBaseId of the artifacts that are no file: a VM, a network or the host
// as HOST/GROUP/TARGET. Code-scanning services (GitHub's) refuse a whole log when one result
// has only a logical location, so every result gets a physical one.
const AuditedBase = "AUDITED_HOST"

// SARIFTool is a tool object.
type SARIFTool struct {
	Driver SARIFDriver `json:"driver"`
}

// SARIFDriver is the tool's toolComponent.
type SARIFDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []SARIFRule `json:"rules"`
}

// SARIFRule is a reportingDescriptor for one control.
type SARIFRule struct {
	ID                   string             `json:"id"`
	ShortDescription     SARIFText          `json:"shortDescription"`
	FullDescription      SARIFText          `json:"fullDescription"`
	Help                 SARIFMultiformat   `json:"help"`
	DefaultConfiguration SARIFConfiguration `json:"defaultConfiguration"`
	Properties           map[string]any     `json:"properties"`
}

// SARIFText is a message or multiformatMessageString with text only.
type SARIFText struct {
	Text string `json:"text"`
}

// SARIFMultiformat is a multiformatMessageString with markdown.
type SARIFMultiformat struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

// SARIFConfiguration is a reportingConfiguration.
type SARIFConfiguration struct {
	Level string `json:"level"`
}

// SARIFInvocation is an invocation object.
type SARIFInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	EndTimeUTC                 string              `json:"endTimeUtc,omitempty"`
	ToolExecutionNotifications []SARIFNotification `json:"toolExecutionNotifications,omitempty"`
	Properties                 map[string]any      `json:"properties,omitempty"`
}

// SARIFNotification is a notification: a result that could not be evaluated, a waiver that
// did nothing or expired.
type SARIFNotification struct {
	Level          string          `json:"level"`
	Message        SARIFText       `json:"message"`
	Locations      []SARIFLocation `json:"locations,omitempty"`
	AssociatedRule *SARIFRuleRef   `json:"associatedRule,omitempty"`
	Properties     map[string]any  `json:"properties,omitempty"`
}

// SARIFRuleRef is a reportingDescriptorReference.
type SARIFRuleRef struct {
	ID    string `json:"id"`
	Index int    `json:"index"`
}

// SARIFResult is a result object.
type SARIFResult struct {
	RuleID              string             `json:"ruleId"`
	RuleIndex           int                `json:"ruleIndex"`
	Kind                string             `json:"kind"`
	Level               string             `json:"level"`
	Message             SARIFText          `json:"message"`
	Locations           []SARIFLocation    `json:"locations,omitempty"`
	PartialFingerprints map[string]string  `json:"partialFingerprints,omitempty"`
	Suppressions        []SARIFSuppression `json:"suppressions,omitempty"`
	Properties          map[string]any     `json:"properties,omitempty"`
}

// SARIFLocation is a location: physical (a file) and/or logical (a host, VM, network …).
type SARIFLocation struct {
	PhysicalLocation *SARIFPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []SARIFLogical `json:"logicalLocations,omitempty"`
	Message          *SARIFText     `json:"message,omitempty"`
}

// SARIFPhysical is a physicalLocation.
type SARIFPhysical struct {
	ArtifactLocation SARIFArtifact `json:"artifactLocation"`
	Region           *SARIFRegion  `json:"region,omitempty"`
}

// SARIFArtifact is an artifactLocation.
type SARIFArtifact struct {
	URI         string     `json:"uri,omitempty"`
	URIBaseID   string     `json:"uriBaseId,omitempty"`
	Description *SARIFText `json:"description,omitempty"`
}

// SARIFRegion is a region of lines.
type SARIFRegion struct {
	StartLine int `json:"startLine"`
}

// SARIFLogical is a logicalLocation.
type SARIFLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

// SARIFSuppression is a suppression: how a waiver appears.
type SARIFSuppression struct {
	Kind          string         `json:"kind"`
	Status        string         `json:"status"`
	Justification string         `json:"justification"`
	Location      *SARIFLocation `json:"location,omitempty"`
	Properties    map[string]any `json:"properties,omitempty"`
}

// Level is the SARIF level of a severity: critical and high are errors, medium a warning, low
// and info notes.
func Level(severity string) string {
	switch severity {
	case "critical", "high":
		return "error"
	case "medium":
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score code-scanning services read from a rule's
// "security-severity" property to rank alerts.
var securitySeverity = map[string]string{"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}

// SARIF makes the run's SARIF log: a rule per control that ran, a result per failure (waived
// ones carry their waiver as an accepted external suppression) and, with Meta.All, passes and
// skips as kind pass and notApplicable; results that could not be evaluated and waivers that
// did nothing or expired are tool execution notifications.
func SARIF(run *Run) *SARIFLog {
	rep := run.Report
	driver := SARIFDriver{Name: "hvctl", Version: rep.HvctlVersion, InformationURI: InformationURI, Rules: []SARIFRule{}}
	index := map[string]int{}
	for i, c := range run.Controls {
		index[c.ID] = i
		driver.Rules = append(driver.Rules, sarifRule(c))
	}
	inv := SARIFInvocation{ExecutionSuccessful: true, EndTimeUTC: rep.Time, Properties: map[string]any{
		"complete": rep.Complete, "skipped": len(rep.Skipped), "failOn": rep.FailOn, "failing": rep.Totals.Failing,
	}}
	results := []SARIFResult{}
	for _, f := range rep.Findings {
		ref := &SARIFRuleRef{ID: f.ID, Index: index[f.ID]}
		switch f.Status {
		case "error":
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, SARIFNotification{
				Level: "error", Message: SARIFText{Text: fmt.Sprintf("%s %s could not be evaluated: %s", f.ID, f.Target, f.Detail)},
				Locations: sarifLocations(rep.Host, f), AssociatedRule: ref,
			})
			continue
		}
		results = append(results, sarifResult(rep.Host, f, index[f.ID]))
	}
	for _, w := range rep.UnusedWaivers {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, waiverNotification(w, "accepted no failing result: remove it", index))
	}
	for _, w := range rep.ExpiredWaivers {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, waiverNotification(w, "expired on "+w.Expires+": its findings count again", index))
	}
	return &SARIFLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []SARIFRun{{
		Tool:        SARIFTool{Driver: driver},
		Invocations: []SARIFInvocation{inv},
		Results:     results,
		OriginalURIBaseIDs: map[string]SARIFArtifact{AuditedBase: {Description: &SARIFText{
			Text: "What hvctl audited that is no file, as HOST/GROUP/TARGET: a VM, network or pool by name, or the host itself."}}},
		Properties: map[string]any{
			"host": rep.Host, "uri": rep.URI, "libvirtLibrary": rep.LibvirtLibrary, "libvirtDaemon": rep.LibvirtDaemon, "hypervisor": rep.Hypervisor,
		},
	}}}
}

func sarifRule(c audit.Control) SARIFRule {
	refs := audit.References(c.ID)
	sev := string(c.Severity)
	full := c.Description
	if full == "" {
		full = c.Title
	}
	var text, md strings.Builder
	fmt.Fprintf(&text, "%s\n", full)
	fmt.Fprintf(&md, "**%s** (%s, %s)\n\n%s\n", c.Title, c.Group, sev, full)
	if c.HowChecked != "" {
		fmt.Fprintf(&text, "\nHow it is checked: %s\n", c.HowChecked)
		fmt.Fprintf(&md, "\n## How it is checked\n\n%s\n", c.HowChecked)
	}
	if c.Remediation != "" {
		fmt.Fprintf(&text, "\nHow to fix: %s\n", c.Remediation)
		fmt.Fprintf(&md, "\n## How to fix\n\n%s\n", c.Remediation)
	}
	if len(refs) > 0 {
		fmt.Fprintf(&text, "\nDISA VMM SRG: %s\n", strings.Join(refs, ", "))
		fmt.Fprintf(&md, "\n**DISA VMM SRG:** %s\n", strings.Join(refs, ", "))
	}
	tags := append([]string{"security", c.Group}, refs...)
	return SARIFRule{
		ID: c.ID, ShortDescription: SARIFText{Text: c.Title}, FullDescription: SARIFText{Text: full},
		Help:                 SARIFMultiformat{Text: strings.TrimSpace(text.String()), Markdown: strings.TrimSpace(md.String())},
		DefaultConfiguration: SARIFConfiguration{Level: Level(sev)},
		Properties: map[string]any{
			"severity": sev, "group": c.Group, "srg": refs, "tags": tags, "security-severity": securitySeverity[sev],
		},
	}
}

func sarifResult(host string, f model.Finding, ruleIndex int) SARIFResult {
	r := SARIFResult{RuleID: f.ID, RuleIndex: ruleIndex, Kind: "fail", Level: Level(f.Severity),
		Message: SARIFText{Text: message(f)}, Locations: sarifLocations(host, f),
		PartialFingerprints: map[string]string{"hvctl/v1": host + ":" + f.ID + ":" + f.Target},
		Properties:          map[string]any{"severity": f.Severity, "group": f.Group, "target": f.Target},
	}
	if f.Remediation != "" {
		r.Properties["remediation"] = f.Remediation
	}
	switch f.Status {
	case "pass":
		r.Kind, r.Level = "pass", "none"
	case "skipped":
		r.Kind, r.Level = "notApplicable", "none"
	case "waived":
		s := SARIFSuppression{Kind: "external", Status: "accepted", Justification: f.Waiver.Reason,
			Properties: map[string]any{"expires": f.Waiver.Expires}}
		if f.Waiver.File != "" {
			s.Location = &SARIFLocation{PhysicalLocation: physical(f.Waiver.File, f.Waiver.Line)}
		}
		r.Suppressions = []SARIFSuppression{s}
	}
	return r
}

// message is the result's text: what was found and, for a failure, how to fix it.
func message(f model.Finding) string {
	msg := f.Detail
	if msg == "" {
		msg = f.Title
	}
	if f.Remediation != "" && (f.Status == "fail" || f.Status == "waived") {
		msg += ". Fix: " + f.Remediation
	}
	return msg
}

// sarifLocations gives every result a logical location (the host and the target on it: a VM,
// network, pool, file) and, when the finding names a file (a configuration setting, a disk
// image, a socket), a physical one with the line when known.
func sarifLocations(host string, f model.Finding) []SARIFLocation {
	loc := SARIFLocation{}
	kind := "resource"
	name := f.Target
	if f.Location != nil && f.Location.VM != "" {
		name = f.Location.VM
	}
	loc.LogicalLocations = []SARIFLogical{{Name: name, FullyQualifiedName: host + "/" + f.Group + "/" + name, Kind: kind}}
	loc.PhysicalLocation = &SARIFPhysical{ArtifactLocation: SARIFArtifact{URIBaseID: AuditedBase,
		URI: url.PathEscape(host) + "/" + url.PathEscape(f.Group) + "/" + url.PathEscape(name)}}
	if l := f.Location; l != nil {
		switch {
		case l.File != "":
			loc.PhysicalLocation = physical(l.File, l.Line)
		case l.Path != "":
			loc.PhysicalLocation = physical(l.Path, 0)
		}
		var where []string
		for _, s := range []string{l.Device, l.Process} {
			if s != "" {
				where = append(where, s)
			}
		}
		if len(where) > 0 {
			loc.Message = &SARIFText{Text: strings.Join(where, ", ")}
		}
	}
	return []SARIFLocation{loc}
}

// physical is a file's location as a file:// URI. A relative path (a waivers file given as
// --waivers w.toml) is made absolute: SARIF resolves a relative URI against a base the log
// does not name, and code-scanning services against their repository.
func physical(file string, line int) *SARIFPhysical {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	u := url.URL{Path: file}
	if strings.HasPrefix(file, "/") {
		u.Scheme = "file"
	}
	p := &SARIFPhysical{ArtifactLocation: SARIFArtifact{URI: u.String()}}
	if line > 0 {
		p.Region = &SARIFRegion{StartLine: line}
	}
	return p
}

func waiverNotification(w model.AuditWaiver, what string, index map[string]int) SARIFNotification {
	n := SARIFNotification{Level: "warning",
		Message:   SARIFText{Text: fmt.Sprintf("waiver for %s %s %s", w.Control, w.Target, what)},
		Locations: []SARIFLocation{{PhysicalLocation: physical(w.File, w.Line)}},
	}
	if i, ok := index[w.Control]; ok {
		n.AssociatedRule = &SARIFRuleRef{ID: w.Control, Index: i}
	}
	return n
}
