package virt

import (
	"slices"
	"testing"
)

// Leases sort by address as a number, not as text: 10.0.0.9 before 10.0.0.10.
func TestCompareAddrs(t *testing.T) {
	got := []string{"10.0.0.10", "fd00::2", "10.0.0.9", "not-an-ip", "10.0.0.100", "fd00::10"}
	slices.SortFunc(got, compareAddrs)
	want := []string{"10.0.0.9", "10.0.0.10", "10.0.0.100", "fd00::2", "fd00::10", "not-an-ip"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %q, want %q", got, want)
	}
}
