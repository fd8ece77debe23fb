// Package p256 holds the P-256 helpers shared by the identity and pair-ec
// code: raw r ‖ s ECDSA signatures (the IEEE P1363 form pair-ec uses) over
// SHA-256, and the P-256 group order.
package p256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"math/big"
)

// SignatureSize is the size of a raw r ‖ s signature.
const SignatureSize = 64

// SignRaw signs digest with priv and returns r ‖ s, each 32 bytes big-endian.
func SignRaw(priv *ecdsa.PrivateKey, digest []byte) ([SignatureSize]byte, error) {
	var out [SignatureSize]byte
	// ecdsa.Sign is SignASN1 followed by a cheap DER decode (no reflection).
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
	if err != nil {
		return out, err
	}
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// VerifyRaw reports whether sig is a valid raw r ‖ s signature of digest
// under pub. A signature of any other length is invalid; r and s must be in
// [1, n-1] (checked by crypto/ecdsa).
func VerifyRaw(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != SignatureSize || pub.Curve != elliptic.P256() {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest, r, s)
}
