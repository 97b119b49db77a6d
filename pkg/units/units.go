// Package units parses and prints byte sizes the way sysadmins write them ("512MiB", "20G").
package units

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

var suffixes = []struct {
	s string
	m uint64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"PIB", 1 << 50},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"PB", 1000 * 1000 * 1000 * 1000 * 1000},
	// Bare letters are binary, as in qemu-img and libvirt.
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"P", 1 << 50}, {"B", 1},
}

// ParseSize reads "2GiB", "512M", "1.5G", "1048576" (bytes) into bytes. What Human prints
// parses back. Sizes that do not fit 64 bits, and "inf"/"nan" (which strconv accepts as
// floats), are refused rather than wrapped round.
func ParseSize(s string) (uint64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := uint64(1)
	for _, suf := range suffixes {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, suf.s)), suf.m
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil {
		if hi, lo := bits.Mul64(n, mult); hi == 0 {
			return lo, nil
		}
		return 0, fmt.Errorf("size %q is too large", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || !isDecimal(t) {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512MiB, 2G, 20GiB)", s)
	}
	if b := f * float64(mult); b < 1<<64 {
		return uint64(b), nil
	}
	return 0, fmt.Errorf("size %q is too large", s)
}

// isDecimal says whether t is written in decimal digits (with a point or an exponent):
// strconv also takes hexadecimal floats and underscores, which no one means as a size.
func isDecimal(t string) bool {
	return !strings.ContainsAny(t, "xX_pP")
}

// Human prints bytes in binary units with at most one decimal: 2GiB, 1.5MiB, 512B.
func Human(b uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(b)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	// Round to the one decimal printed before choosing the unit: 1 TiB less a few bytes is
	// 1023.99…GiB, which %.1f would print as "1024.0GiB".
	v = math.Round(v*10) / 10
	if v >= 1024 && i < len(units)-1 {
		v = math.Round(v/1024*10) / 10
		i++
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d%s", uint64(v), units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}
