package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1w1d": 8 * 24 * time.Hour, " 7d ": 7 * 24 * time.Hour, "0": 0, "1500ms": 1500 * time.Millisecond,
	} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "-1h", "1d-5h", "1.5d", "30 days", "999999999999d", "106751d23h47m16s854775808ns", "h1"} {
		if got, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) = %v; want an error", in, got)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                        now.Add(-time.Hour),
		"2d":                        now.Add(-48 * time.Hour),
		"2026-12-03T10:00:00Z":      time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"2026-12-03T11:00:00+01:00": time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
		"2026-12-02":                time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		"2026-12-03 09:30":          time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC),
		"2026-12-03 09:30:15":       time.Date(2026, 12, 3, 9, 30, 15, 0, time.UTC),
		// Before Unix nanoseconds begin (1678) the stored times would wrap: the epoch instead.
		"1600-01-01":           time.Unix(0, 0),
		"0001-01-01T00:00:00Z": time.Unix(0, 0),
		"1969-12-31":           time.Unix(0, 0),
		"1970-01-02":           time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "2026-12-04", "2026-13-01", "-1h", "0", "0d", "0h0m"} {
		if got, err := ParseSince(in, now); err == nil {
			t.Errorf("ParseSince(%q) = %v; want an error", in, got)
		}
	}
	// A duration past 292 years is said to be one, too long; not "want a duration".
	if _, err := ParseSince("200000d", now); err == nil || err.Error() != `invalid duration "200000d": too long` {
		t.Errorf("ParseSince(200000d): %v", err)
	}
}

// TestParseSinceDurationErrors: a duration too long for time.Duration, or negative, is said
// to be that; both read as "invalid time … want a duration such as 1h", which they are.
func TestParseSinceDurationErrors(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"100000000h": `invalid duration "100000000h": too long`,
		"9999999d":   `invalid duration "9999999d": too long`,
		"1d9999999h": `invalid duration "1d9999999h": too long`,
		"-1h":        `invalid duration "-1h": want a positive span such as 90m, 12h, 30d or 2w`,
	} {
		if _, err := ParseSince(in, now); err == nil || err.Error() != want {
			t.Errorf("ParseSince(%q): %v, want %q", in, err, want)
		}
	}
	if _, err := ParseSince("garbage", now); err == nil || !strings.HasPrefix(err.Error(), `invalid time "garbage"`) {
		t.Errorf("ParseSince(garbage): %v", err)
	}
}
