package pairec

// Interoperability in both directions against the shared vectors
// (testdata/vectors, and $SEALPOST_VECTORS when set): with the vector's
// ephemeral key and padded inner message, seal reproduces the payload byte
// for byte except the ECDSA signature (randomized), which is checked by
// opening instead; the ECDH secret, HKDF key and IV are recomputed
// independently of seal and compared with the recorded ones.
//
// This file is in package pairec (it needs seal); it reads the vectors
// through internal/testkit and internal/vectors, which import no scheme.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/internal/vectors"
)

// tkIField is one top-level protobuf field, read with protowire directly
// (independently of pbwire and parseOuter).
type tkIField struct {
	num   protowire.Number
	start int // offset of the tag
	value []byte
}

func tkIFields(t *testing.T, b []byte) []tkIField {
	t.Helper()
	var out []tkIField
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 || typ != protowire.BytesType {
			t.Fatalf("bad protobuf tag at %d", off)
		}
		v, m := protowire.ConsumeBytes(b[off+n:])
		if m < 0 {
			t.Fatalf("bad protobuf length at %d", off+n)
		}
		out = append(out, tkIField{num: num, start: off, value: v})
		off += n + m
	}
	return out
}

// TestTkInteropPairECVectors reproduces every positive pair-ec vector that
// records its ephemeral key and intermediates.
func TestTkInteropPairECVectors(t *testing.T) {
	checked := testkit.InteropVectors(t, vectors.SchemePairEC, func(v *vectors.Vector) bool {
		return v.EphemeralPEM != "" && v.InnerPadded != nil && v.ECDHSecret != nil && v.AES256Key != nil && v.IV != nil
	}, tkIPairECVector)
	if checked == 0 {
		t.Fatal("no positive pair-ec vectors with intermediates found")
	}
	t.Logf("interop pair-ec: %d vectors checked (ECDH, HKDF, IV, seal fields 1/2/99, Open)", checked)
}

func tkIPairECVector(t *testing.T, v *vectors.Vector, from, to *identity.Keys) {
	eph, err := vectors.ParseEC(v.EphemeralPEM)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := Recipient{Device: to.DeviceKey(), Prekey: to.SignedPrekey().Prekey}

	// Key schedule, computed here with crypto/ecdh and crypto/hkdf.
	ephECDH, err := eph.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := ephECDH.ECDH(to.PrekeyECDH().PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(secret, v.ECDHSecret) {
		t.Errorf("ECDH(eph, receiver prekey) = %x, want ecdh_secret_hex %x", secret, v.ECDHSecret)
	}
	// The receiver's side of the same secret.
	if rs, err := to.PrekeyECDH().ECDH(ephECDH.PublicKey()); err != nil || !bytes.Equal(rs, secret) {
		t.Errorf("receiver-side ECDH differs from sender-side: %v", err)
	}
	okm, err := hkdf.Key(sha256.New, v.ECDHSecret, []byte("LastPawn-MessageKeys"), "", 48)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(okm[:32], v.AES256Key) {
		t.Errorf("HKDF key = %x, want aes256_key_hex %x", okm[:32], v.AES256Key)
	}
	if !bytes.Equal(okm[32:], v.IV) {
		t.Errorf("HKDF IV = %x, want ctr_iv_hex %x", okm[32:], v.IV)
	}
	if hkdfSalt != "LastPawn-MessageKeys" || hkdfLength != 48 || aesKeySize != 32 {
		t.Errorf("spec constants changed: salt %q, length %d, key %d", hkdfSalt, hkdfLength, aesKeySize)
	}

	// The inner message as Sealpost marshals it is the start of the padded
	// plaintext, and the padding is canonical.
	if v.Counter != nil {
		inner := (&Inner{Message: v.Plaintext, Counter: *v.Counter}).marshal()
		n := len(v.InnerPadded) - padLenSize
		if n < 0 || !bytes.HasPrefix(v.InnerPadded, inner) || n-len(inner) >= blockAlign ||
			int(binary.LittleEndian.Uint32(v.InnerPadded[n:])) != n-len(inner) || n%blockAlign != 0 {
			t.Errorf("inner_padded_plaintext_hex is not marshal(inner) ‖ R ‖ LE32(len R)")
		}
	}

	// Recorded payload: field layout and ciphertext under the vector's keys.
	vf := tkIFields(t, v.Payload)
	if len(vf) != 4 || vf[0].num != 1 || vf[1].num != 2 || vf[2].num != 3 || vf[3].num != 99 {
		t.Fatalf("recorded payload fields are not 1, 2, 3, 99")
	}
	block, err := aes.NewCipher(v.AES256Key)
	if err != nil {
		t.Fatal(err)
	}
	dec := make([]byte, len(vf[0].value))
	cipher.NewCTR(block, v.IV).XORKeyStream(dec, vf[0].value)
	if !bytes.Equal(dec, v.InnerPadded) {
		t.Errorf("recorded ciphertext does not decrypt to inner_padded_plaintext_hex")
	}

	// Sender direction: seal with the vector's ephemeral key and padding.
	padded := append([]byte{}, v.InnerPadded...) // seal encrypts in place
	payload, err := seal(eph, from, rcpt, padded)
	if err != nil {
		t.Fatal(err)
	}
	gf := tkIFields(t, payload)
	if len(gf) != 4 {
		t.Fatalf("seal produced %d fields, want 4", len(gf))
	}
	for i, want := range []string{"1 (ciphertext)", "2 (ephemeral x)", "3 (signature)", "99 (validator)"} {
		if gf[i].num != vf[i].num || gf[i].start != vf[i].start {
			t.Errorf("field %s: number %d at %d, recorded %d at %d", want, gf[i].num, gf[i].start, vf[i].num, vf[i].start)
		}
		if gf[i].num == 3 {
			continue // ECDSA is randomized: checked by Open below
		}
		if !bytes.Equal(gf[i].value, vf[i].value) {
			t.Errorf("field %s differs from payload_hex", want)
		}
	}
	// Byte for byte outside the 64 signature bytes.
	if len(payload) != len(v.Payload) {
		t.Fatalf("payload is %d bytes, recorded %d", len(payload), len(v.Payload))
	}
	masked := append([]byte{}, payload...)
	sigOff := gf[2].start + protowire.SizeTag(outerSignature) + protowire.SizeVarint(signatureSize)
	copy(masked[sigOff:sigOff+signatureSize], v.Payload[sigOff:sigOff+signatureSize])
	if !bytes.Equal(masked, v.Payload) {
		t.Errorf("payload differs from payload_hex outside the signature")
	}
	ephX, err := identity.CompactKeyOf(&eph.PublicKey)
	if err != nil || !bytes.Equal(gf[1].value, ephX[:]) {
		t.Errorf("field 2 is not the ephemeral key's x: %v", err)
	}

	inner, err := Open(to, from.DeviceKey(), payload)
	if err != nil {
		t.Fatalf("Open(seal(vector ephemeral)) failed: %v", err)
	}
	if !bytes.Equal(inner.Message, v.Plaintext) {
		t.Errorf("Open gave message %x, want %x", inner.Message, v.Plaintext)
	}
	if v.Counter != nil && inner.Counter != *v.Counter {
		t.Errorf("Open gave counter %d, want %d", inner.Counter, *v.Counter)
	}
}
