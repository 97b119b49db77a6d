package auditcmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

func TestNewCmdExplain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantID  string
		wantErr string
	}{
		{name: "id", args: []string{"VM-007"}, wantID: "VM-007"},
		{name: "lower case", args: []string{"daemon-013", "--json"}, wantID: "DAEMON-013"},
		{name: "no id", wantErr: "explain takes one control ID, got 0 argument(s)"},
		{name: "two ids", args: []string{"VM-007", "VM-008"}, wantErr: "explain takes one control ID, got 2 argument(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			var got *ExplainOptions
			err := e.execute(NewCmdExplain(e.f, func(_ context.Context, o *ExplainOptions) error { got = o; return nil }), tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) || got != nil {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				wantKind(t, err, errs.Usage)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.wantID {
				t.Errorf("ID %q, want %q", got.ID, tc.wantID)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	e := newTestEnv(t)
	if err := e.execute(NewCmdExplain(e.f, nil), "vm-007"); err != nil {
		t.Fatal(err)
	}
	out := e.out.String()
	for _, want := range []string{
		"VM-007: Graphics on the network without a password\n",
		"group vm, severity critical, DISA VMM SRG V-207418, V-207501\n",
		"\nWhy it matters:\n  ", "\nHow it is checked:\n  ", "\nHow to fix:\n  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if err := e.execute(NewCmdExplain(e.f, nil), "VM-007", "--json"); err != nil {
		t.Fatal(err)
	}
	var c model.AuditControl
	if err := json.Unmarshal(e.out.Bytes(), &c); err != nil || c.ID != "VM-007" || c.Severity != "critical" || len(c.References) != 2 {
		t.Errorf("explain --json: %v %+v", err, c)
	}

	err := e.execute(NewCmdExplain(e.f, nil), "VM-07")
	wantKind(t, err, errs.NotFound)
	if err.Error() != `no control "VM-07"` || errs.HintOf(err) != "did you mean VM-007? 'hvctl audit controls' lists them all" {
		t.Errorf("error %q, hint %q", err, errs.HintOf(err))
	}
	err = e.execute(NewCmdExplain(e.f, nil), "ZZZ-999999")
	wantKind(t, err, errs.NotFound)
	if errs.HintOf(err) != "'hvctl audit controls' lists them all" {
		t.Errorf("hint %q", errs.HintOf(err))
	}
	// A group, as a new user types it, is said to be one (the closest ID was HOST-001 … or none).
	err = e.execute(NewCmdExplain(e.f, nil), "vm")
	wantKind(t, err, errs.NotFound)
	if errs.HintOf(err) != "vm is a group: explain takes one control ID; 'hvctl audit controls' lists the group's controls" {
		t.Errorf("explain vm: hint %q", errs.HintOf(err))
	}
}

func TestWrap(t *testing.T) {
	got := wrap("one two three four five six", 12, "  ")
	if got != "  one two\n  three four\n  five six" {
		t.Errorf("wrap: %q", got)
	}
}
