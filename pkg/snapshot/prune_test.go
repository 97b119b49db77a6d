package snapshot

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func kept(ds []Decision) string {
	var k []string
	for _, d := range ds {
		if d.Keep {
			k = append(k, d.Name)
		}
	}
	return strings.Join(k, " ")
}

// Hourly snapshots over three days (an injected clock, not time.Now).
func series() []Item {
	var items []Item
	start := at("2026-11-24 00:00")
	for h := 0; h < 72; h += 6 {
		t := start.Add(time.Duration(h) * time.Hour)
		items = append(items, Item{Name: t.Format("d02-15h"), Created: t})
	}
	return items
}

func TestPolicies(t *testing.T) {
	cases := []struct {
		p    Policy
		want string
	}{
		{Policy{Last: 3}, "d26-18h d26-12h d26-06h"},
		{Policy{Daily: 2}, "d26-18h d25-18h"},
		{Policy{Hourly: 2}, "d26-18h d26-12h"},
		// Each rule keeps its own set; the union survives.
		{Policy{Last: 1, Daily: 3}, "d26-18h d25-18h d24-18h"},
		{Policy{Last: 2, Daily: 2}, "d26-18h d26-12h d25-18h"},
		// 2026-11-24..26 all fall in ISO week 48: one bucket, its newest snapshot.
		{Policy{Weekly: 5}, "d26-18h"},
		{Policy{Monthly: 1}, "d26-18h"},
		{Policy{}, ""},
	}
	for _, c := range cases {
		got := kept(c.p.Apply(series(), time.UTC))
		if got != c.want {
			t.Errorf("%+v: kept %q, want %q", c.p, got, c.want)
		}
	}
}

func TestReasonsAndTimeZone(t *testing.T) {
	items := []Item{{"a", at("2026-11-25 23:30")}, {"b", at("2026-11-26 00:30")}}
	// In UTC they are on two days; in UTC+2 both fall on the 26th.
	if got := kept(Policy{Daily: 5}.Apply(items, time.UTC)); got != "b a" {
		t.Errorf("utc: %q", got)
	}
	if got := kept(Policy{Daily: 5}.Apply(items, time.FixedZone("x", 2*3600))); got != "b" {
		t.Errorf("utc+2: %q", got)
	}
	ds := Policy{Last: 1, Daily: 1}.Apply(items, time.UTC)
	if strings.Join(ds[0].Reasons, ",") != "last,daily 2026-11-26" {
		t.Errorf("reasons: %v", ds[0].Reasons)
	}
	if !(Policy{}).Empty() || (Policy{Monthly: 1}).Empty() {
		t.Error("Empty")
	}
}

func TestWeeklyAcrossWeeks(t *testing.T) {
	var items []Item
	for d := 0; d < 28; d++ {
		t := at("2026-11-02 12:00").AddDate(0, 0, d) // Monday of ISO week 45, four weeks
		items = append(items, Item{Name: t.Format("01-02"), Created: t})
	}
	if got := kept(Policy{Weekly: 3}.Apply(items, time.UTC)); got != "11-29 11-22 11-15" {
		t.Errorf("weekly: %q", got)
	}
}

func TestSameSecondKeepsTheLaterOne(t *testing.T) {
	same := at("2026-11-26 10:00")
	items := []Item{{"first", same}, {"second", same}}
	if got := kept(Policy{Last: 1}.Apply(items, time.UTC)); got != "second" {
		t.Errorf("kept %q", got)
	}
}
