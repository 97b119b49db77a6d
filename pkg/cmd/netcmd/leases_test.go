package netcmd

import (
	"context"
	"slices"
	"testing"
)

func TestNewCmdLeases(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: nil, want: nil},
		{args: []string{"default", "lab-*"}, want: []string{"default", "lab-*"}},
		{args: []string{"lab-["}, wantErr: "invalid pattern"},
	} {
		f, _ := testFactory(t)
		var got *LeasesOptions
		err := parse(f, NewCmdLeases(f, func(_ context.Context, o *LeasesOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || !slices.Equal(got.Targets, c.want) {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}
