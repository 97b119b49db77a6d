package versioncmd

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/model"
)

func TestNewCmdVersion(t *testing.T) {
	for _, c := range []struct {
		args   []string
		ok     bool
		client bool
	}{
		{nil, true, false}, {[]string{"--client"}, true, true}, {[]string{"--client", "--json"}, true, true}, {[]string{"x"}, false, false},
	} {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		var got *Options
		cmd := NewCmdVersion(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(c.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if c.ok != (err == nil) || c.ok && (got == nil || got.Client != c.client) {
			t.Errorf("%v: err %v, options %+v", c.args, err, got)
		}
	}
}

// Without --client the connection's answer is part of the output, against the test driver here.
func TestVersionJSON(t *testing.T) {
	f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
	f.Global.JSON = true
	if err := run(context.Background(), &Options{F: f}); err != nil {
		t.Fatal(err)
	}
	var v model.Version
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Driver != "TEST" || v.URI != "test:///default" || v.LibvirtLibrary == "" {
		t.Errorf("version: %+v (%v)", v, err)
	}
}
