package progress

import (
	"strings"
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/iostreams"
)

func TestBarOnlyOnATerminal(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	r := New(ios, 3, "start")
	r.Done(3)
	r.Finish()
	if errOut.Len() != 0 {
		t.Errorf("no terminal, yet wrote %q", errOut.String())
	}

	ios.SetTTY(false, false, true)
	r = New(ios, 3, "start")
	r.Done(1)
	r.Done(2)
	r.Finish()
	if !strings.Contains(errOut.String(), "start") || !strings.Contains(errOut.String(), "/3)") {
		t.Errorf("terminal: got %q", errOut.String())
	}

	errOut.Reset()
	ios.Quiet = true
	New(ios, 3, "start").Done(3)
	if errOut.Len() != 0 {
		t.Errorf("-q, yet wrote %q", errOut.String())
	}
}
