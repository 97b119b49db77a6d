package vm

import (
	"context"
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/cmdutil/cmdutiltest"
	"github.com/hyper-nixos/hvctl/pkg/errs"
	"github.com/hyper-nixos/hvctl/pkg/virt/virttest"
)

func TestNewCmdXML(t *testing.T) {
	for _, c := range []struct {
		args     []string
		ok       bool
		inactive bool
	}{
		{[]string{"web01"}, true, false}, {[]string{"web01", "--inactive"}, true, true},
		{[]string{"My VM (old)"}, true, false}, {nil, false, false}, {[]string{"a", "b"}, false, false},
		{[]string{"web01", "--json"}, false, false}, {[]string{"web01", "-o", "name"}, false, false},
	} {
		f, _, _ := cmdutiltest.NewFactory(t, nil)
		var got *XMLOptions
		err := parse(t, NewCmdXML(f, func(_ context.Context, o *XMLOptions) error { got = o; return nil }), f, c.args...)
		if c.ok != (err == nil) || c.ok && (got.Name != c.args[0] || got.Inactive != c.inactive) {
			t.Errorf("%q: err %v, options %+v", c.args, err, got)
		}
		if len(c.args) < 1 && errs.KindOf(err) != errs.Usage {
			t.Errorf("%q: %v is not a usage error", c.args, err)
		}
	}
}

// The XML goes out as libvirt has it in a pipe; on a terminal control characters are escaped.
func TestXMLOnATerminal(t *testing.T) {
	c := virttest.Open(t)
	virttest.Define(t, c, `<domain type='test'><name>ctl</name><description>a&#155;2Jb</description><memory>65536</memory><os><type>hvm</type></os></domain>`)
	for _, tty := range []bool{false, true} {
		f, out, _ := cmdutiltest.NewFactory(t, cmdutiltest.TestDriver(nil))
		f.IO.SetTTY(false, tty, false)
		if err := runXML(context.Background(), &XMLOptions{F: f, Name: "ctl"}); err != nil {
			t.Fatal(err)
		}
		raw, escaped := strings.Contains(out.String(), "a\u009b2Jb"), strings.Contains(out.String(), `a\u009b2Jb`)
		if raw == tty || escaped != tty {
			t.Errorf("terminal %v: %s", tty, out.String())
		}
	}
}
