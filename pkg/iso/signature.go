package iso

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// NormalizeFingerprint upper-cases and drops spaces and a 0x prefix.
func NormalizeFingerprint(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	return strings.TrimPrefix(s, "0X")
}

// pinnedKeys reads a keyring (armored or binary) and keeps only the keys whose primary
// fingerprint is pinned: a valid signature by any other key is not trusted.
func pinnedKeys(keys []byte, pinned []string) (openpgp.EntityList, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(keys))
	if err != nil {
		if ring, err = openpgp.ReadKeyRing(bytes.NewReader(keys)); err != nil {
			return nil, errs.New(errs.Verify, "cannot read the signing key: %w", err)
		}
	}
	want := map[string]bool{}
	for _, p := range pinned {
		want[NormalizeFingerprint(p)] = true
	}
	var kept openpgp.EntityList
	var seen []string
	for _, e := range ring {
		fpr := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
		seen = append(seen, fpr)
		if want[fpr] {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil, errs.New(errs.Verify, "the signing key %s is not pinned (pinned: %s)", strings.Join(seen, ", "), strings.Join(pinned, ", ")).
			WithHint("pin the publisher's fingerprint with --key, after checking it out of band")
	}
	return kept, nil
}

// VerifyDetached checks a detached signature (armored or binary) over signed, made by a pinned
// key; it returns the signer's fingerprint.
func VerifyDetached(signed, sig, keys []byte, pinned []string) (string, error) {
	ring, err := pinnedKeys(keys, pinned)
	if err != nil {
		return "", err
	}
	signer, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(signed), bytes.NewReader(sig), nil)
	if err != nil {
		signer, err = openpgp.CheckDetachedSignature(ring, bytes.NewReader(signed), bytes.NewReader(sig), nil)
	}
	if err != nil {
		return "", errs.New(errs.Verify, "bad signature: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(signer.PrimaryKey.Fingerprint)), nil
}

// VerifyDetachedReader is VerifyDetached over a stream (an image of gigabytes, read once).
func VerifyDetachedReader(signed io.Reader, sig, keys []byte, pinned []string) (string, error) {
	ring, err := pinnedKeys(keys, pinned)
	if err != nil {
		return "", err
	}
	var signer *openpgp.Entity
	if bytes.Contains(sig, []byte("-----BEGIN PGP SIGNATURE-----")) {
		signer, err = openpgp.CheckArmoredDetachedSignature(ring, signed, bytes.NewReader(sig), nil)
	} else {
		signer, err = openpgp.CheckDetachedSignature(ring, signed, bytes.NewReader(sig), nil)
	}
	if err != nil {
		return "", errs.New(errs.Verify, "bad signature: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(signer.PrimaryKey.Fingerprint)), nil
}

// IsClearsigned says whether doc is a clearsigned OpenPGP message (Fedora's CHECKSUM files).
func IsClearsigned(doc []byte) bool {
	return bytes.Contains(doc, []byte("-----BEGIN PGP SIGNED MESSAGE-----"))
}

// VerifyClearsigned checks a clearsigned document and returns only its signed text: lines
// outside the signature are not to be trusted.
func VerifyClearsigned(doc, keys []byte, pinned []string) ([]byte, string, error) {
	block, _ := clearsign.Decode(doc)
	if block == nil {
		return nil, "", errs.New(errs.Verify, "not a clearsigned document")
	}
	ring, err := pinnedKeys(keys, pinned)
	if err != nil {
		return nil, "", err
	}
	signer, err := block.VerifySignature(ring, nil)
	if err != nil {
		return nil, "", errs.New(errs.Verify, "bad signature: %w", err)
	}
	return block.Plaintext, fmt.Sprintf("%X", signer.PrimaryKey.Fingerprint), nil
}
