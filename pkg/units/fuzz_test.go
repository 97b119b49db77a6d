package units

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

// FuzzParseSize checks ParseSize against exact big-number arithmetic: an accepted size is the
// number times its unit, rounded down, and never an overflowed or NaN-derived value.
func FuzzParseSize(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSize(s)
		if err != nil {
			return
		}
		t2 := strings.ToUpper(strings.TrimSpace(s))
		mult := uint64(1)
		for _, suf := range suffixes {
			if strings.HasSuffix(t2, suf.s) {
				t2, mult = strings.TrimSpace(strings.TrimSuffix(t2, suf.s)), suf.m
				break
			}
		}
		want, _, perr := big.ParseFloat(t2, 10, 256, big.ToZero) // base 10: no 0x, no underscores
		if perr != nil || want.IsInf() || want.Sign() < 0 {
			t.Fatalf("ParseSize(%q) = %d, but %q is not a finite non-negative number", s, got, t2)
		}
		want.Mul(want, new(big.Float).SetUint64(mult))
		if want.Cmp(new(big.Float).SetUint64(math.MaxUint64)) > 0 {
			t.Fatalf("ParseSize(%q) = %d, but the size overflows 64 bits", s, got)
		}
		exact, _ := want.Uint64() // rounds toward zero
		// A fractional size goes through float64: allow its rounding (53 bits of mantissa).
		diff := new(big.Float).Sub(new(big.Float).SetUint64(got), new(big.Float).SetUint64(exact))
		tol := new(big.Float).Mul(new(big.Float).SetUint64(exact), big.NewFloat(1e-12))
		if diff.Abs(diff).Cmp(tol) > 0 && diff.Cmp(big.NewFloat(1)) > 0 {
			t.Fatalf("ParseSize(%q) = %d, want %d", s, got, exact)
		}
		if got >= 1<<62 {
			return // Human rounds this near 2^64, which ParseSize rightly refuses
		}
		// What Human prints parses back to about the same size.
		back, err := ParseSize(Human(got))
		if err != nil {
			t.Fatalf("Human(%d) = %q does not parse: %v", got, Human(got), err)
		}
		if g, b := float64(got), float64(back); math.Abs(g-b) > g*0.05+1 {
			t.Fatalf("Human(%d) = %q parses back as %d", got, Human(got), back)
		}
	})
}
