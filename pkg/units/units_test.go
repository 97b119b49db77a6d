package units

import "testing"

func TestParseSize(t *testing.T) {
	ok := map[string]uint64{"512MiB": 512 << 20, "2G": 2 << 30, "1.5GiB": 3 << 29, "100": 100, "1kb": 1000, " 4 GiB ": 4 << 30}
	for in, want := range ok {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1G", "twelve", "1.2.3M"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestHuman(t *testing.T) {
	for in, want := range map[uint64]string{
		0: "0B", 1023: "1023B", 1 << 30: "1GiB", 3 << 29: "1.5GiB", 974 << 20: "974MiB",
		// Just under a unit rounds up to that unit, not to "1024.0" of the one below.
		1<<40 - 1: "1TiB", 1<<20 - 1: "1MiB", 1023<<10 + 1000: "1MiB",
		// 1023.94MiB rounds down and stays below the unit.
		1023<<20 + 94<<20/100: "1023.9MiB",
		// PiB is the last unit: nothing to roll over to.
		1<<60 - 1: "1024PiB",
	} {
		if got := Human(in); got != want {
			t.Errorf("Human(%d) = %q, want %q", in, got, want)
		}
	}
}
