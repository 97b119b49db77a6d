// Package iso holds the trust machinery of isoctl: checksum files, verified downloads, the
// image store and its provenance records.
package iso

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"regexp"
	"strings"
	"sync"
)

// Digest is an expected hash.
type Digest struct {
	Algo string // sha256 or sha512
	Hex  string // lower case
}

func (d Digest) String() string { return d.Algo + ":" + d.Hex }

// NewHash returns a hash for the digest's algorithm.
func (d Digest) NewHash() hash.Hash {
	if d.Algo == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

// ParseDigest reads "HEX", "sha256:HEX" or "sha512:HEX"; the algorithm follows from the length.
func ParseDigest(s string) (Digest, error) {
	algo, hexs, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found {
		hexs, algo = algo, ""
	}
	hexs = strings.ToLower(hexs)
	if _, err := hex.DecodeString(hexs); err != nil {
		return Digest{}, fmt.Errorf("checksum %q is not hexadecimal", s)
	}
	switch {
	case len(hexs) == 64 && (algo == "" || algo == "sha256"):
		return Digest{"sha256", hexs}, nil
	case len(hexs) == 128 && (algo == "" || algo == "sha512"):
		return Digest{"sha512", hexs}, nil
	}
	return Digest{}, fmt.Errorf("checksum %q is neither SHA-256 nor SHA-512", s)
}

// Compiled on first use, like every pattern here: most invocations never read a checksum file.
var (
	gnuLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([0-9a-fA-F]{64}|[0-9a-fA-F]{128}) [ *](.+)$`)
	})
	bsdLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$`)
	})
)

// Checksums maps file names to digests, as listed by a checksum file.
type Checksums map[string]Digest

// ParseChecksums reads GNU ("HASH  name", "HASH *name") and BSD ("SHA256 (name) = HASH")
// lines, SHA-256 and SHA-512, ignoring everything else (comments, PGP armour). A name listed
// twice with different digests is an error: the file cannot be trusted to mean one thing.
func ParseChecksums(data []byte) (Checksums, error) { return ParseChecksumsAs(data, "") }

// ParseChecksumsAs reads only lines of format ("gnu" or "bsd"; "" reads both), for publishers
// whose format is known: a line of the other shape is then not theirs to trust.
func ParseChecksumsAs(data []byte, format string) (Checksums, error) {
	if format != "" && format != "gnu" && format != "bsd" {
		return nil, fmt.Errorf("unknown checksum format %q (gnu or bsd)", format)
	}
	out := Checksums{}
	add := func(name, h string) error {
		d, err := ParseDigest(h)
		if err != nil {
			return err
		}
		name = strings.TrimPrefix(name, "./")
		if name == "" {
			return nil // "HASH  ./" names no file: not a line of the list (found by fuzzing)
		}
		if old, ok := out[name]; ok && old.Algo == d.Algo && old != d {
			return fmt.Errorf("checksum file lists %s twice with different %s digests", name, d.Algo)
		}
		// Prefer SHA-512 when both are listed.
		if old, ok := out[name]; !ok || old.Algo == "sha256" {
			out[name] = d
		}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if m := gnuLine().FindStringSubmatch(line); m != nil && format != "bsd" {
			if err := add(m[2], m[1]); err != nil {
				return nil, err
			}
			continue
		}
		if m := bsdLine().FindStringSubmatch(line); m != nil && format != "gnu" {
			d, err := ParseDigest(strings.ToLower(m[1]) + ":" + m[3])
			if err != nil {
				return nil, err
			}
			if err := add(m[2], d.String()); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		if format != "" {
			return nil, fmt.Errorf("no %s-style checksum lines found", strings.ToUpper(format))
		}
		return nil, fmt.Errorf("no checksum lines found")
	}
	return out, nil
}

// For finds the digest for exactly this file name: no substring matches (the old script's
// grep matched debian-12.iso against debian-12.iso.torrent).
func (c Checksums) For(name string) (Digest, bool) {
	d, ok := c[name]
	return d, ok
}
