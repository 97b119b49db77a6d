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

// A message said between units starts on a line of its own, and the bar comes back after it.
func TestAboveClearsTheBar(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	ios.SetTTY(false, false, true)
	r := New(ios, 3, "evacuate")
	r.Done(1)
	r.Above(func() { errOut.WriteString("vmctl: migrating web01 to h2\n") })
	out := errOut.String()
	i := strings.Index(out, "vmctl: migrating")
	if i < 1 || out[i-1] != '\r' {
		t.Fatalf("the message runs into the bar: %q", out)
	}
	if !strings.Contains(out[i:], "(1/3)") {
		t.Errorf("the bar is not drawn again after the message: %q", out)
	}

	errOut.Reset()
	ios.SetTTY(false, false, false)
	New(ios, 3, "evacuate").Above(func() { errOut.WriteString("said\n") })
	if errOut.String() != "said\n" {
		t.Errorf("no terminal: got %q", errOut.String())
	}
}
