package progress

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
)

func TestStepsOnlyOnATerminal(t *testing.T) {
	for _, tty := range []bool{true, false} {
		ios, _, _, errOut := iostreams.Test()
		ios.SetTTY(false, false, tty)
		s := NewSteps(ios, "create web01")
		s.Step("creating volume %s", "web01.qcow2")
		s.Step("waiting for an IP address")
		s.Finish()
		s.Finish()
		got := errOut.String()
		if !tty {
			if got != "" {
				t.Errorf("steps in a pipe: %q", got)
			}
			continue
		}
		if !strings.Contains(got, "create web01: creating volume web01.qcow2") || !strings.Contains(got, "create web01: waiting for an IP address") || !strings.HasSuffix(got, "\r\x1b[K") {
			t.Errorf("steps on a terminal: %q", got)
		}
	}
}
