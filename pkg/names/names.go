// Package names holds the one rule for VM, network, image, host and profile names, so that every
// part of hvctl accepts and refuses the same ones.
package names

import (
	"regexp"
	"sync"
)

// Pattern is the rule: 1-64 characters, letters, digits, '.', '_', '-', starting with a letter
// or a digit.
const Pattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`

// Compiled on first use: a short command that never checks a name pays nothing.
var re = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(Pattern) })

// Valid says whether s is a valid name.
func Valid(s string) bool { return re().MatchString(s) }
