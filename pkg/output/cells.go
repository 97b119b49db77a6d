package output

import "cmp"

// Dash shows an empty value as "-" in a table cell.
func Dash(s string) string { return cmp.Or(s, "-") }

// YesNo is a boolean cell.
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ResultCell is the RESULT cell of one target's outcome: ok, or the error.
func ResultCell(ok bool, err string) string {
	if ok {
		return "ok"
	}
	return "error: " + err
}
