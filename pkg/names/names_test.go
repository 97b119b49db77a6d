package names

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, ok := range []string{"a", "web-01", "db_2.prod", strings.Repeat("x", 64)} {
		if !Valid(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "a/b", "évé", strings.Repeat("x", 65), "x\n"} {
		if Valid(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
