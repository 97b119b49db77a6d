package netcmd

import (
	"context"
	"testing"
)

func TestNewCmdShow(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"lab"}, want: "lab"},
		{args: []string{"My net (old)"}, want: "My net (old)"}, // any existing libvirt name can be looked up
		{args: nil, wantErr: "takes one network"},
		{args: []string{"a", "b"}, wantErr: "takes one network"},
	} {
		f, _ := testFactory(t)
		var got *ShowOptions
		err := parse(f, NewCmdShow(f, func(_ context.Context, o *ShowOptions) error { got = o; return nil }), c.args...)
		if c.wantErr != "" {
			wantUsage(t, c.args, err, c.wantErr)
			continue
		}
		if err != nil || got.Name != c.want {
			t.Errorf("%q: %v, %+v", c.args, err, got)
		}
	}
}
