package auditreport

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Suggest is the choice closest to word (case-insensitive edit distance), or "" when none is
// close enough to be what was meant.
func Suggest(word string, choices []string) string {
	w := strings.ToUpper(word)
	// VM-7 and vm-07 mean VM-007.
	if prefix, num, ok := strings.Cut(w, "-"); ok {
		if n, err := strconv.Atoi(num); err == nil {
			if id := fmt.Sprintf("%s-%03d", prefix, n); slices.Contains(choices, id) {
				return id
			}
		}
	}
	best, bestDist := "", len(w)/2+1
	for _, c := range choices {
		if d := distance(w, strings.ToUpper(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, by runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
