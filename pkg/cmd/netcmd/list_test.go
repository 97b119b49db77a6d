package netcmd

import (
	"context"
	"slices"
	"testing"
)

func TestNewCmdList(t *testing.T) {
	cases := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: nil, want: nil},
		{args: []string{"lab", "web-*"}, want: []string{"lab", "web-*"}},
		{args: []string{"[x"}, wantErr: "invalid pattern"},
	}
	for _, c := range cases {
		f, _ := testFactory(t)
		var got *ListOptions
		err := parse(f, NewCmdList(f, func(_ context.Context, o *ListOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || !slices.Equal(got.Patterns, c.want) {
			t.Errorf("%q: %v, patterns %q", c.args, err, got.Patterns)
		}
	}
}
