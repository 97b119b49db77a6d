package virt

import (
	"regexp"
	"strconv"
	"strings"
)

// ValidXML returns s with every character XML 1.0 does not allow replaced by U+FFFD, raw or as
// a character reference. libvirt serves such definitions (virsh desc --title takes a raw ESC),
// and Go's decoder refuses the whole document for one: one odd title must not make a VM
// unreadable, nor a host-wide command that reads every VM fail.
func ValidXML(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !xmlChar(r) }) < 0 && !strings.Contains(s, "&#") {
		return s
	}
	s = strings.Map(func(r rune) rune {
		if xmlChar(r) {
			return r
		}
		return '\uFFFD'
	}, s)
	return charRef.ReplaceAllStringFunc(s, func(ref string) string {
		digits, base := ref[2:len(ref)-1], 10
		if digits[0] == 'x' || digits[0] == 'X' {
			digits, base = digits[1:], 16
		}
		if n, err := strconv.ParseUint(digits, base, 32); err == nil && xmlChar(rune(n)) {
			return ref
		}
		return "&#xFFFD;"
	})
}

var charRef = regexp.MustCompile(`&#([xX][0-9a-fA-F]+|[0-9]+);`)

// xmlChar is XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
