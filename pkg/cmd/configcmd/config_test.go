package configcmd

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestNewCmdShow(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true}, {[]string{"--json"}, true}, {[]string{"-o", "name"}, true}, {[]string{"extra"}, false}, {[]string{"--bogus"}, false},
	} {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		ran := false
		cmd := NewCmdShow(f, func(context.Context, *ShowOptions) error { ran = true; return nil })
		cmd.SetArgs(c.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if c.ok != (err == nil) || ran != c.ok {
			t.Errorf("%v: err %v, ran %v", c.args, err, ran)
		}
		if !c.ok && c.args[0] == "extra" && errs.KindOf(err) != errs.Usage {
			t.Errorf("%v: %v is not a usage error", c.args, err)
		}
	}
}

func TestShowSources(t *testing.T) {
	f, out, _ := cmdutiltest.NewFactory(t, map[string]string{"HVCTL_VM_DEFAULTS_VCPUS": "3"})
	f.Global.JQ = `.[] | select(.key == "vm.defaults.vcpus") | .source`
	if err := runShow(context.Background(), &ShowOptions{F: f}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "env HVCTL_VM_DEFAULTS_VCPUS" {
		t.Errorf("source: %q", got)
	}
}
