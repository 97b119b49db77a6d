// Package snapshot holds the pure parts of snapshot handling: the retention policy of
// `vmctl snapshot prune`, with restic's semantics.
package snapshot

import (
	"fmt"
	"sort"
	"time"
)

// Policy says how many snapshots each rule keeps. Each rule picks its own set; what any rule
// picks survives. Zero means the rule is off.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly int
}

// Empty says whether no rule is on (prune then refuses, rather than delete everything).
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0
}

// Item is a snapshot as the policy sees it.
type Item struct {
	Name    string
	Created time.Time
}

// Decision is what the policy says of one snapshot.
type Decision struct {
	Item
	Keep    bool
	Reasons []string // the rules that keep it, e.g. "last", "daily 2026-11-26"
}

// Apply decides for every item, given oldest first. Buckets use loc (UTC for determinism unless told otherwise):
// within a bucket (an hour, a day, an ISO week, a month) the newest snapshot stands for it, and
// a rule keeps the newest N buckets that have one.
func (p Policy) Apply(items []Item, loc *time.Location) []Decision {
	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{Item: it}
	}
	// Newest first; snapshots taken in the same second keep the caller's order (oldest
	// first), reversed, so the later one counts as newer.
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ta, tb := ds[idx[a]].Created, ds[idx[b]].Created
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return idx[a] > idx[b]
	})
	sorted := make([]Decision, len(ds))
	for i, k := range idx {
		sorted[i] = ds[k]
	}
	ds = sorted
	for i := 0; i < len(ds) && i < p.Last; i++ {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, "last")
	}
	rules := []struct {
		n      int
		name   string
		bucket func(time.Time) string
	}{
		{p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02 15h") }},
		{p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }},
	}
	for _, r := range rules {
		if r.n == 0 {
			continue
		}
		seen := map[string]bool{}
		for i := range ds {
			b := r.bucket(ds[i].Created.In(loc))
			if seen[b] {
				continue
			}
			if len(seen) == r.n {
				break
			}
			seen[b] = true
			ds[i].Keep = true
			ds[i].Reasons = append(ds[i].Reasons, r.name+" "+b)
		}
	}
	return ds
}
