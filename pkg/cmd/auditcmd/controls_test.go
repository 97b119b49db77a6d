package auditcmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/model"
)

func TestNewCmdControls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "plain"},
		{name: "json", args: []string{"--json"}},
		{name: "arguments", args: []string{"VM-007"}, wantErr: `auditctl controls takes no arguments, got 1`},
		{name: "bad format", args: []string{"-o", "sarif"}, wantErr: `-o/--output "sarif": want one of`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			var got *ControlsOptions
			err := e.execute(NewCmdControls(e.f, func(_ context.Context, o *ControlsOptions) error { got = o; return nil }), tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || got != nil {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatal(err)
			}
			if got.Format.IsJSON() != (tc.name == "json") {
				t.Errorf("format %+v", got.Format)
			}
		})
	}
}

func TestControlsJSONCarriesReferencesAndDescription(t *testing.T) {
	e := newTestEnv(t)
	if err := e.execute(NewCmdControls(e.f, nil), "--json"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"references":`, `"description":`, `"how_checked":`, `"remediation":`} {
		if !strings.Contains(e.out.String(), key) {
			t.Errorf("controls --json lacks %s", key)
		}
	}
	var rows []model.AuditControl
	if err := json.Unmarshal(e.out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == "VM-007" && strings.Join(r.References, ",") != "V-207418,V-207501" {
			t.Errorf("VM-007 references %v", r.References)
		}
		if r.References == nil {
			t.Errorf("%s references are null, want []", r.ID)
		}
	}
	if err := e.execute(NewCmdControls(e.f, nil), "-o", "wide"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.out.String(), "SRG") || !strings.Contains(e.out.String(), "V-207418,V-207501") {
		t.Errorf("-o wide lacks the SRG column:\n%.300s", e.out)
	}
}
