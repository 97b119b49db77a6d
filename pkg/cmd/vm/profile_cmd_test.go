package vm

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
)

func TestNewCmdProfileSchema(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr bool
	}{
		{args: nil},
		{args: []string{"--json"}},
		{args: []string{"extra"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *ProfileSchemaOptions
			err := parse(t, NewCmdProfileSchema(f, func(_ context.Context, o *ProfileSchemaOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr != (err != nil) || tc.wantErr != (got == nil) {
				t.Errorf("err %v, ran %v", err, got != nil)
			}
		})
	}
}

func TestNewCmdProfileImport(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    ProfileImportOptions
		wantErr bool
	}{
		{args: []string{"old.json"}, want: ProfileImportOptions{File: "old.json"}},
		{args: []string{"old.json", "--to", "new.toml", "--force"}, want: ProfileImportOptions{File: "old.json", To: "new.toml", Force: true}},
		{args: []string{"old.json", "--force"}, wantErr: true},
		{args: nil, wantErr: true},
		{args: []string{"a.json", "b.json"}, wantErr: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *ProfileImportOptions
			err := parse(t, NewCmdProfileImport(f, func(_ context.Context, o *ProfileImportOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if err == nil || got != nil {
					t.Fatalf("want an error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.File != tc.want.File || got.To != tc.want.To || got.Force != tc.want.Force {
				t.Errorf("got file %q to %q force %v, want %+v", got.File, got.To, got.Force, tc.want)
			}
		})
	}
}
