package vm

import (
	"context"
	"slices"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
)

func TestNewCmdDiff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    DiffOptions
		wantErr bool
	}{
		{name: "profiles", args: []string{"web01", "db01"}, want: DiffOptions{Profiles: []string{"web01", "db01"}}},
		{name: "exit code", args: []string{"web01", "--exit-code"}, want: DiffOptions{Profiles: []string{"web01"}, ExitCode: true}},
		{name: "no profile", args: nil, wantErr: true},
		{name: "apply's flag", args: []string{"web01", "--dry-run"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *DiffOptions
			err := parse(t, NewCmdDiff(f, func(_ context.Context, o *DiffOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if got != nil || err == nil {
					t.Fatalf("want an error, got %v (options %+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Profiles, tc.want.Profiles) {
				t.Errorf("profiles: got %q, want %q", got.Profiles, tc.want.Profiles)
			}
			if got.ExitCode != tc.want.ExitCode {
				t.Errorf("exit code: got %v, want %v", got.ExitCode, tc.want.ExitCode)
			}
		})
	}
}

func TestNewCmdApply(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    ApplyOptions
		wantErr bool
	}{
		{name: "profiles", args: []string{"web01", "db01"}, want: ApplyOptions{Profiles: []string{"web01", "db01"}}},
		{name: "dry run", args: []string{"web01", "--dry-run"}, want: ApplyOptions{Profiles: []string{"web01"}, DryRun: true}},
		{name: "no profile", args: nil, wantErr: true},
		{name: "diff's flag", args: []string{"web01", "--exit-code"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := cmdutiltest.NewFactory(t, nil)
			var got *ApplyOptions
			err := parse(t, NewCmdApply(f, func(_ context.Context, o *ApplyOptions) error { got = o; return nil }), f, tc.args...)
			if tc.wantErr {
				if got != nil || err == nil {
					t.Fatalf("want an error, got %v (options %+v)", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Profiles, tc.want.Profiles) {
				t.Errorf("profiles: got %q, want %q", got.Profiles, tc.want.Profiles)
			}
			if got.DryRun != tc.want.DryRun {
				t.Errorf("dry run: got %v, want %v", got.DryRun, tc.want.DryRun)
			}
		})
	}
}
