package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// Public is a device's "pair" public identity: its P-256 ECDSA signing key and
// its RSA-1280 encryption key, as published in the directory under
// public-message-identity-key. A Public is immutable and safe to share
// between goroutines.
type Public struct {
	blob    [PublicSize]byte
	hash    [32]byte
	signing *ecdsa.PublicKey
	enc     *rsa.PublicKey
}

// NewPublic builds the identity of a signing key and an encryption key. It
// returns an error if the keys are not P-256 and RSA-1280 with e = 65537.
func NewPublic(signing *ecdsa.PublicKey, enc *rsa.PublicKey) (*Public, error) {
	if signing == nil || signing.Curve != elliptic.P256() {
		return nil, errors.New("identity: signing key must be ECDSA P-256")
	}
	if enc == nil || enc.N == nil || enc.N.BitLen() != RSABits || enc.N.Bit(0) == 0 || enc.E != rsaExponent {
		return nil, fmt.Errorf("identity: encryption key must be RSA-%d with e = %d", RSABits, rsaExponent)
	}
	point, err := signing.Bytes()
	if err != nil {
		return nil, fmt.Errorf("identity: invalid signing key: %w", err)
	}
	p := &Public{signing: signing, enc: enc}
	b := p.blob[:0]
	b = append(b, blobHeader...)
	b = append(b, point...)
	b = append(b, rsaHeader...)
	b = b[:modulusOffset+RSAModulusSize]
	enc.N.FillBytes(b[modulusOffset:])
	b = append(b, exponentTail...)
	if len(b) != PublicSize {
		panic("identity: blob layout is inconsistent")
	}
	p.hash = hashBlob(&p.blob)
	return p, nil
}

// ParsePublic decodes a 249-byte public-message-identity-key blob. Only the
// exact layout of protocol.md §2.1 is accepted: a P-256 point on the curve
// and a 1280-bit RSA modulus with e = 65537, so ParsePublic(b).Bytes() is b.
func ParsePublic(b []byte) (*Public, error) {
	if len(b) != PublicSize {
		return nil, fmt.Errorf("identity: public identity is %d bytes, want %d", len(b), PublicSize)
	}
	if !bytes.Equal(b[:sigKeyOffset], blobHeader) ||
		!bytes.Equal(b[sigKeyOffset+sigKeySize:modulusOffset], rsaHeader) ||
		!bytes.Equal(b[modulusOffset+RSAModulusSize:], exponentTail) {
		return nil, errors.New("identity: public identity does not have the 2.1 layout (P-256 + RSA-1280)")
	}
	signing, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b[sigKeyOffset:sigKeyOffset+sigKeySize])
	if err != nil {
		return nil, errors.New("identity: signing key is not a P-256 point")
	}
	n := new(big.Int).SetBytes(b[modulusOffset : modulusOffset+RSAModulusSize])
	if n.BitLen() != RSABits || n.Bit(0) == 0 {
		return nil, fmt.Errorf("identity: encryption key is not an odd %d-bit RSA modulus", RSABits)
	}
	p := &Public{signing: signing, enc: &rsa.PublicKey{N: n, E: rsaExponent}}
	copy(p.blob[:], b)
	p.hash = hashBlob(&p.blob)
	return p, nil
}

func hashBlob(b *[PublicSize]byte) [32]byte {
	h := sha256.New()
	h.Write(b[hashPart1Start:hashPart1End])
	h.Write(b[hashPart2Start:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Bytes returns the 249-byte blob.
func (p *Public) Bytes() []byte { return bytes.Clone(p.blob[:]) }

// Hash returns the identity hash of protocol.md §2.2: SHA-256 over the two
// length-prefixed keys, without the ASN.1 tags. The "pair" scheme binds the
// sender's and the receiver's hashes into every message key.
func (p *Public) Hash() [32]byte { return p.hash }

// SigningKey returns the ECDSA P-256 key that verifies this device's "pair"
// signatures.
func (p *Public) SigningKey() *ecdsa.PublicKey { return p.signing }

// EncryptionKey returns the RSA key that "pair" payloads to this device are
// wrapped to.
func (p *Public) EncryptionKey() *rsa.PublicKey { return p.enc }

// Equal reports whether p and o are the same identity, in constant time.
func (p *Public) Equal(o *Public) bool {
	return subtle.ConstantTimeCompare(p.blob[:], o.blob[:]) == 1
}

// String names the identity by the first bytes of its hash.
func (p *Public) String() string { return "pair-identity:" + hex.EncodeToString(p.hash[:8]) }
