package pair

// Interoperability in both directions against the shared vectors
// (testdata/vectors, and $SEALPOST_VECTORS when set): the unexported key
// schedule reproduces every recorded intermediate byte for byte, and seal
// with the recorded 88-bit seed produces a payload that opens and whose RSA
// block unwraps to K ‖ C[:100].
//
// This file is in package pair (it needs seal, deriveKey, computeTag and
// ctr); it reads the vectors through internal/testkit and internal/vectors,
// which import no scheme.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestTkInteropPairVectors reproduces the recorded intermediates of every
// positive pair vector with the unexported key schedule, then seals with the
// recorded seed and checks the result opens and unwraps as recorded.
func TestTkInteropPairVectors(t *testing.T) {
	checked := testkit.InteropVectors(t, vectors.SchemePair, func(v *vectors.Vector) bool {
		return v.Seed != nil && v.HMAC != nil && v.AESKey != nil && v.Ciphertext != nil
	}, tkIPairVector)
	if checked == 0 {
		t.Fatal("no positive pair vectors with intermediates found")
	}
	t.Logf("interop pair: %d vectors checked (key schedule, CTR, seal → Open, RSA unwrap)", checked)
}

func tkIPairVector(t *testing.T, v *vectors.Vector, from, to *identity.Keys) {
	if len(v.Seed) != seedSize {
		t.Fatalf("seed is %d bytes, want %d", len(v.Seed), seedSize)
	}
	var seed [seedSize]byte
	copy(seed[:], v.Seed)
	hs, hr := from.Public().Hash(), to.Public().Hash()

	// The HMAC input, built independently of computeTag.
	if v.HMACInput != nil {
		in := append(append(append(append([]byte{}, v.Plaintext...), 0x02), hs[:]...), hr[:]...)
		if !bytes.Equal(in, v.HMACInput) {
			t.Errorf("HMAC input differs from hmac_input_hex")
		}
		m := hmac.New(sha256.New, seed[:])
		m.Write(v.HMACInput)
		if !bytes.Equal(m.Sum(nil), v.HMAC) {
			t.Errorf("HMAC-SHA256(seed, hmac_input_hex) differs from hmac_sha256_hex: vector is inconsistent")
		}
	}
	tag := computeTag(seed[:], v.Plaintext, hs, hr)
	if !bytes.Equal(tag[:], v.HMAC) {
		t.Errorf("computeTag = %x, want %x", tag, v.HMAC)
	}
	key := deriveKey(seed, v.Plaintext, hs, hr)
	if !bytes.Equal(key[:], v.AESKey) {
		t.Errorf("deriveKey = %x, want %x", key, v.AESKey)
	}

	// Encrypt as seal does, split at the RSA block, and as one stream.
	inline := min(len(v.Plaintext), inlineCiphertext)
	c := make([]byte, len(v.Plaintext))
	ctr(key, c[:inline], v.Plaintext[:inline], c[inline:], v.Plaintext[inline:])
	if !bytes.Equal(c, v.Ciphertext) {
		t.Errorf("ctr ciphertext differs from aes_ctr_ciphertext_hex")
	}
	whole := make([]byte, len(v.Plaintext))
	ctr(key, whole, v.Plaintext, nil, nil)
	if !bytes.Equal(whole, c) {
		t.Errorf("ctr over one slice differs from ctr over the split")
	}
	wantRSA := append(append([]byte{}, v.AESKey...), v.Ciphertext[:min(len(v.Ciphertext), inlineCiphertext)]...)
	if v.RSAPlaintext != nil && !bytes.Equal(v.RSAPlaintext, wantRSA) {
		t.Errorf("rsa_oaep_plaintext_hex is not aes_key ‖ C[:100]: vector is inconsistent")
	}

	// Sender direction: seal with the recorded seed.
	payload, err := seal(seed, from, to.Public(), v.Plaintext)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(to, from.Public(), payload)
	if err != nil || !bytes.Equal(got, v.Plaintext) {
		t.Fatalf("Open(seal(recorded seed)) = %x, %v; want the vector plaintext", got, err)
	}
	body, sig := tkIFraming(t, payload)
	if len(body) != rsaBlockSize+len(v.Ciphertext)-inline {
		t.Fatalf("body is %d bytes, want %d", len(body), rsaBlockSize+len(v.Ciphertext)-inline)
	}
	block, err := rsa.DecryptOAEP(sha1.New(), nil, to.EncryptionKey(), body[:rsaBlockSize], nil)
	if err != nil {
		t.Fatalf("RSA block of seal's payload does not unwrap with the receiver's key: %v", err)
	}
	if !bytes.Equal(block, wantRSA) {
		t.Errorf("RSA block unwraps to %x, want aes_key ‖ C[:100] = %x", block, wantRSA)
	}
	if w, err := unwrap(to.EncryptionKey(), body[:rsaBlockSize]); err != nil || !bytes.Equal(w, wantRSA) {
		t.Errorf("unwrap(receiver key, RSA block) = %x, %v; want aes_key ‖ C[:100]", w, err)
	}
	if !bytes.Equal(body[rsaBlockSize:], v.Ciphertext[inline:]) {
		t.Errorf("tail after the RSA block differs from C[100:]")
	}
	digest := sha1.Sum(body)
	if !ecdsa.VerifyASN1(&from.SigningKey().PublicKey, digest[:], sig) {
		t.Errorf("signature of seal's payload does not verify under the sender's key")
	}

	// The recorded payload has the same framing and tail, and its RSA block
	// unwraps to the same bytes.
	vbody, _ := tkIFraming(t, v.Payload)
	if !bytes.Equal(payload[:headerSize], v.Payload[:headerSize]) {
		t.Errorf("header %x, recorded %x", payload[:headerSize], v.Payload[:headerSize])
	}
	if !bytes.Equal(vbody[rsaBlockSize:], body[rsaBlockSize:]) {
		t.Errorf("recorded tail differs from seal's tail")
	}
	vblock, err := rsa.DecryptOAEP(sha1.New(), nil, to.EncryptionKey(), vbody[:rsaBlockSize], nil)
	if err != nil || !bytes.Equal(vblock, wantRSA) {
		t.Errorf("recorded RSA block unwraps to %x, %v; want %x", vblock, err, wantRSA)
	}
}

// tkIFraming splits a payload into body and signature, independently of parse.
func tkIFraming(t *testing.T, p []byte) (body, sig []byte) {
	t.Helper()
	if len(p) < 4 || p[0] != 0x02 {
		t.Fatalf("bad framing: % x", p[:min(len(p), 4)])
	}
	n := int(binary.BigEndian.Uint16(p[1:3]))
	if len(p) < 3+n+1 {
		t.Fatalf("payload of %d bytes is shorter than its body length %d", len(p), n)
	}
	s := int(p[3+n])
	if len(p) != 3+n+1+s {
		t.Fatalf("payload is %d bytes, framing says %d", len(p), 3+n+1+s)
	}
	return p[3 : 3+n], p[4+n:]
}
