package netcmd

import (
	"context"
	"testing"
)

func TestNewCmdXML(t *testing.T) {
	for _, c := range []struct {
		args     []string
		inactive bool
		wantErr  string
	}{
		{args: []string{"lab"}},
		{args: []string{"lab", "--inactive"}, inactive: true},
		{args: []string{}, wantErr: "takes one network"},
		// xml prints no data: output flags are refused, not ignored.
		{args: []string{"lab", "--json"}, wantErr: "unknown flag: --json"},
		{args: []string{"lab", "-o", "name"}, wantErr: "unknown shorthand flag"},
	} {
		f, _ := testFactory(t)
		var got *XMLOptions
		err := parse(f, NewCmdXML(f, func(_ context.Context, o *XMLOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || got.Name != "lab" || got.Inactive != c.inactive {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}
