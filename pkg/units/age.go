package units

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrTooLong is a span past time.Duration's 292 years.
var ErrTooLong = errors.New("too long")

// ErrNegative is a span written with a minus sign.
var ErrNegative = errors.New("want a positive span such as 90m, 12h, 30d or 2w")

// durationShape is what time.ParseDuration reads, whatever the size of the numbers.
var durationShape = regexp.MustCompile(`^([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// ParseAge reads a span of time the way retention settings and --since are written: Go's
// durations ("90m", "1h30m") plus days and weeks ("30d", "2w", "1d12h"), which
// time.ParseDuration lacks. A day is 24 hours. Negative spans are refused.
func ParseAge(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90m, 12h, 30d or 2w", s)
	}
	var total time.Duration
	rest := t
	// Leading day and week parts, then whatever time.ParseDuration reads.
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || (rest[i] != 'd' && rest[i] != 'w') {
			break
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		if err != nil || n > int64((1<<63-1)/unit) || total > (1<<63-1)-time.Duration(n)*unit {
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrTooLong)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		switch {
		case err != nil && durationShape.MatchString(rest):
			// Written as a duration, and time.ParseDuration only refuses it for its size.
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrTooLong)
		case err != nil:
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90m, 12h, 30d or 2w", s)
		case d < 0:
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrNegative)
		case total > (1<<63-1)-d:
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrTooLong)
		}
		total += d
	}
	return total, nil
}

// sinceLayouts are the absolute times --since accepts besides RFC 3339; they are read in the
// local time zone, as people type them.
var sinceLayouts = []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"}

// ParseSince reads "how far back" as a duration before now ("1h", "7d") or a time (RFC 3339,
// or "2006-01-02[ 15:04[:05]]" in local time). A time after now is refused: nothing was
// recorded there.
func ParseSince(s string, now time.Time) (time.Time, error) {
	t := strings.TrimSpace(s)
	d, err := ParseAge(t)
	switch {
	case err == nil && d == 0:
		// "Since now" selects nothing, which looked like an empty history: a slip, say so.
		return time.Time{}, fmt.Errorf("%q: want a span more than 0, such as 1h or 7d", s)
	case err == nil:
		return now.Add(-d), nil
	case errors.Is(err, ErrTooLong), errors.Is(err, ErrNegative):
		return time.Time{}, err // a duration, not "want a duration such as 1h"
	}
	at, err := time.Parse(time.RFC3339, t)
	for _, layout := range sinceLayouts {
		if err == nil {
			break
		}
		at, err = time.ParseInLocation(layout, t, now.Location())
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q: want a duration such as 1h or 7d, or a time such as 2006-01-02, \"2006-01-02 15:04\" or RFC 3339", s)
	}
	if at.After(now) {
		return time.Time{}, fmt.Errorf("%q is in the future", s)
	}
	// The databases keep Unix nanoseconds, which end before 1678: a time before then wrapped
	// around to the far future and selected nothing. Nothing was recorded before 1970 either.
	if epoch := time.Unix(0, 0); at.Before(epoch) {
		at = epoch.In(at.Location())
	}
	return at, nil
}
