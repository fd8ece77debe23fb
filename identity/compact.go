package identity

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math/big"
)

// CompactKey is a P-256 public key in the compact form of protocol.md §2.3:
// the 32-byte big-endian x-coordinate alone. The y-coordinate is the smaller
// of the two square roots (y ≤ p − y), so only keys generated "compactable"
// (2·y ≤ p) survive the round trip; [GenerateCompactable] makes such keys.
//
// pair-ec sends the device key, the prekey and the ephemeral key this way.
type CompactKey [CompactKeySize]byte

// ParseCompactKey checks that b is 32 bytes and the x-coordinate of a point
// on P-256.
func ParseCompactKey(b []byte) (CompactKey, error) {
	var k CompactKey
	if len(b) != CompactKeySize {
		return k, errors.New("identity: compact key must be 32 bytes")
	}
	copy(k[:], b)
	if _, err := k.uncompressed(); err != nil {
		return CompactKey{}, err
	}
	return k, nil
}

// CompactKeyOf returns the compact form of pub. It returns an error if pub is
// not a P-256 key or is not compactable (its y is the larger root), since the
// compact form would then name a different key.
func CompactKeyOf(pub *ecdsa.PublicKey) (CompactKey, error) {
	var k CompactKey
	if pub == nil || pub.Curve != elliptic.P256() {
		return k, errors.New("identity: compact keys are P-256 keys")
	}
	point, err := pub.Bytes()
	if err != nil {
		return k, errors.New("identity: invalid P-256 key")
	}
	if !isCompactable(point) {
		return k, errors.New("identity: key is not compactable (y > p − y)")
	}
	copy(k[:], point[1:33])
	return k, nil
}

// uncompressed returns 04 ‖ x ‖ y with the smaller root y.
func (k CompactKey) uncompressed() ([]byte, error) {
	compressed := make([]byte, 1+CompactKeySize)
	compressed[0] = 2 // even y: one of the two roots; pick the smaller below
	copy(compressed[1:], k[:])
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), compressed)
	if x == nil {
		return nil, errors.New("identity: compact key is not the x-coordinate of a P-256 point")
	}
	p := elliptic.P256().Params().P
	if other := new(big.Int).Sub(p, y); other.Cmp(y) < 0 {
		y = other
	}
	out := make([]byte, 65)
	out[0] = 4
	x.FillBytes(out[1:33])
	y.FillBytes(out[33:])
	return out, nil
}

// PublicKey returns the ECDSA key named by k (the smaller y).
func (k CompactKey) PublicKey() (*ecdsa.PublicKey, error) {
	point, err := k.uncompressed()
	if err != nil {
		return nil, err
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}

// ECDH returns k as an ECDH key. Only x matters for ECDH, so the choice of
// root does not change any shared secret.
func (k CompactKey) ECDH() (*ecdh.PublicKey, error) {
	point, err := k.uncompressed()
	if err != nil {
		return nil, err
	}
	return ecdh.P256().NewPublicKey(point)
}

// Equal reports whether k and o are the same key, in constant time.
func (k CompactKey) Equal(o CompactKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// String returns "p256-compact:" followed by the hex of x.
func (k CompactKey) String() string { return "p256-compact:" + hex.EncodeToString(k[:]) }

// GenerateCompactable returns a fresh P-256 key whose public half survives
// the compact round trip. About half of all keys qualify, so it loops; each
// draw comes from crypto/rand.
func GenerateCompactable() (*ecdsa.PrivateKey, error) {
	for {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		point, err := priv.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		if isCompactable(point) {
			return priv, nil
		}
	}
}

// GenerateCompactableECDH is GenerateCompactable for an ephemeral ECDH key,
// returned with its compact form. It draws the same 32-byte scalars from
// crypto/rand, accepts the same ones (0 < d < n, compactable) and so returns
// the same key for the same random stream, but computes each candidate's
// public key once: converting an ecdsa key with ecdsa.PrivateKey.ECDH would
// compute it a second time.
func GenerateCompactableECDH() (*ecdh.PrivateKey, CompactKey, error) {
	var d [CompactKeySize]byte
	defer clear(d[:])
	for {
		if _, err := rand.Read(d[:]); err != nil {
			return nil, CompactKey{}, err
		}
		priv, err := ecdh.P256().NewPrivateKey(d[:])
		if err != nil {
			continue // d = 0 or d ≥ n: draw again, as ecdsa.GenerateKey does
		}
		point := priv.PublicKey().Bytes()
		if isCompactable(point) {
			var k CompactKey
			copy(k[:], point[1:1+CompactKeySize])
			return priv, k, nil
		}
	}
}

// isCompactable reports whether the uncompressed point 04 ‖ x ‖ y has
// 2·y ≤ p, i.e. y is the smaller root.
func isCompactable(point []byte) bool {
	y := new(big.Int).SetBytes(point[33:])
	p := elliptic.P256().Params().P
	return new(big.Int).Lsh(y, 1).Cmp(p) <= 0
}
