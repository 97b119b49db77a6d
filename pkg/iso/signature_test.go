package iso

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/hyper-nixos/hvctl/pkg/errs"
)

// key makes a signing key for the tests and returns it with its armored public key.
func key(t *testing.T, name string) (*openpgp.Entity, []byte, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, pub.Bytes(), strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

func TestDetachedSignatures(t *testing.T) {
	signer, pub, fpr := key(t, "publisher")
	other, otherPub, otherFpr := key(t, "mallory")
	sums := []byte(h256 + "  debian.iso\n")
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, signer, bytes.NewReader(sums), nil); err != nil {
		t.Fatal(err)
	}
	got, err := VerifyDetached(sums, sig.Bytes(), pub, []string{strings.ToLower(fpr[:4]) + " " + fpr[4:]})
	if err != nil || got != fpr {
		t.Fatalf("good signature: %v %s", err, got)
	}
	// The file changed after signing.
	if _, err := VerifyDetached(append(sums, 'x'), sig.Bytes(), pub, []string{fpr}); errs.KindOf(err) != errs.Verify || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("tampered: %v", err)
	}
	// A good signature by a key nobody pinned.
	var sig2 bytes.Buffer
	_ = openpgp.DetachSign(&sig2, other, bytes.NewReader(sums), nil)
	if _, err := VerifyDetached(sums, sig2.Bytes(), otherPub, []string{fpr}); errs.KindOf(err) != errs.Verify || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("unpinned: %v", err)
	}
	// The pinned key's ring, but the signature is mallory's.
	if _, err := VerifyDetached(sums, sig2.Bytes(), append(pub, otherPub...), []string{fpr}); errs.KindOf(err) != errs.Verify {
		t.Errorf("signature by an unpinned key in the ring: %v", err)
	}
	_ = otherFpr
}

func TestClearsigned(t *testing.T) {
	signer, pub, fpr := key(t, "fedora")
	var doc bytes.Buffer
	w, err := clearsign.Encode(&doc, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed := "SHA256 (Fedora.iso) = " + h256 + "\n"
	_, _ = w.Write([]byte(signed))
	w.Close()
	// Something appended outside the signature must not be trusted.
	full := append(doc.Bytes(), []byte("SHA256 (evil.iso) = "+h256+"\n")...)
	if !IsClearsigned(full) {
		t.Fatal("not recognised")
	}
	text, got, err := VerifyClearsigned(full, pub, []string{fpr})
	if err != nil || got != fpr {
		t.Fatalf("%v %s", err, got)
	}
	sums, err := ParseChecksums(text)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sums.For("evil.iso"); ok {
		t.Error("a line outside the signature was trusted")
	}
	if _, ok := sums.For("Fedora.iso"); !ok {
		t.Error("signed line lost")
	}
	tampered := bytes.Replace(doc.Bytes(), []byte("Fedora.iso"), []byte("Fedorb.iso"), 1)
	if _, _, err := VerifyClearsigned(tampered, pub, []string{fpr}); errs.KindOf(err) != errs.Verify {
		t.Errorf("tampered clearsigned: %v", err)
	}
}
