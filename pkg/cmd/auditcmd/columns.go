package auditcmd

import (
	"strings"

	"github.com/hyper-nixos/hvctl/pkg/auditreport"
	"github.com/hyper-nixos/hvctl/pkg/model"
	"github.com/hyper-nixos/hvctl/pkg/output"
)

// FindingColumns is the table view of model.Finding: what, where and (wide) how to fix it. A
// row stays one line so that awk and cut keep working; the long texts are in -o wide, JSON
// and 'audit explain'.
var FindingColumns = []output.Column[model.Finding]{
	{Header: "severity", Value: func(x model.Finding) string { return x.Severity }},
	{Header: "id", Value: func(x model.Finding) string { return x.ID }},
	{Header: "status", Value: func(x model.Finding) string { return x.Status }},
	{Header: "target", Value: func(x model.Finding) string { return x.Target }},
	{Header: "detail", Value: func(x model.Finding) string { return output.Dash(x.Detail) }},
	{Header: "where", Value: func(x model.Finding) string { return output.Dash(auditreport.Where(x)) }},
	{Header: "fix", Wide: true, Value: func(x model.Finding) string { return output.Dash(x.Remediation) }},
	{Header: "waiver", Wide: true, Value: func(x model.Finding) string {
		if x.Waiver == nil {
			return "-"
		}
		return "until " + x.Waiver.Expires + ": " + x.Waiver.Reason
	}},
	{Header: "group", Wide: true, Value: func(x model.Finding) string { return x.Group }},
	{Header: "title", Wide: true, Value: func(x model.Finding) string { return x.Title }},
	{Header: "srg", Wide: true, Value: func(x model.Finding) string { return output.Dash(strings.Join(x.References, ",")) }},
}

// ControlColumns is the table view of model.AuditControl.
var ControlColumns = []output.Column[model.AuditControl]{
	{Header: "id", Value: func(c model.AuditControl) string { return c.ID }},
	{Header: "group", Value: func(c model.AuditControl) string { return c.Group }},
	{Header: "severity", Value: func(c model.AuditControl) string { return c.Severity }},
	{Header: "title", Value: func(c model.AuditControl) string { return c.Title }},
	{Header: "srg", Wide: true, Value: func(c model.AuditControl) string { return output.Dash(strings.Join(c.References, ",")) }},
	{Header: "remediation", Wide: true, Value: func(c model.AuditControl) string { return output.Dash(c.Remediation) }},
}
