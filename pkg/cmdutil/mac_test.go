package cmdutil

import (
	"testing"

	"github.com/hyper-nixos/hvctl/pkg/errs"
)

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{
		"52:54:00:AB:CD:EF": "52:54:00:ab:cd:ef",
		"52-54-00-ab-cd-ef": "52:54:00:ab:cd:ef",
		"5254.00ab.cdef":    "52:54:00:ab:cd:ef",
		"02:00:00:00:00:01": "02:00:00:00:00:01",
	} {
		if got, err := ParseMAC("--mac", in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "52:54:00:ab:cd", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
		"02:00:00:00:00:00:00:01", "52:54:00:zz:00:01"} {
		if _, err := ParseMAC("--mac", in); errs.KindOf(err) != errs.Usage {
			t.Errorf("%q: %v, want a usage error", in, err)
		}
	}
}
