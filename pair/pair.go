// Package pair implements iMessage's classic per-device payload, "pair":
// RSA-OAEP-1280 key wrap, AES-128-CTR, a 40-bit HMAC tag that binds both
// devices' identities into the key, and an ECDSA P-256/SHA-1 signature
// (protocol.md §1.1). It is byte-compatible with the public
// reimplementations and with Apple devices.
//
// Use:
//
//	payload, err := pair.Seal(myKeys, theirIdentity, plaintext)
//	plaintext, err := pair.Open(myKeys, senderIdentity, payload)
//
// Seal derives the AES key from the message: K = r ‖ HMAC-SHA256(r, M ‖ 0x02 ‖
// H(sender) ‖ H(receiver))[0:5] with r 11 random bytes, encrypts M with
// AES-128-CTR starting at counter 1, wraps K and the first 100 ciphertext
// bytes with RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) to the receiver, and
// signs the wrapped block and the rest of the ciphertext with the sender's
// signing key. The payload is
//
//	02 ‖ len(body) u16 ‖ body = RSA block ‖ C[100:] ‖ len(sig) u8 ‖ DER signature
//
// Open runs the checks in this order and releases nothing before all pass:
// parse the framing, verify the signature, unwrap the key, decrypt, and
// recompute the 40-bit tag in constant time. (None of the public
// reimplementations checks the tag; without it, a server that re-signs
// payloads can maul them, as Garman et al. showed in 2016.) Every failure
// returns the same [ErrCannotOpen]; the plaintext is never decompressed or
// parsed here. Decompress and parse only what Open returned.
//
// Seal and Open are safe for concurrent use. Randomness comes from
// crypto/rand; tests make it deterministic with
// testing/cryptotest.SetGlobalRandom.
package pair

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
)

// ErrCannotOpen is returned by Open for every payload it refuses.
var ErrCannotOpen = openerr.ErrCannotOpen

// ErrTooLarge is returned by Seal for a plaintext over MaxPlaintext bytes.
var ErrTooLarge = errors.New("pair: plaintext too large for one payload")

// Seal encrypts plaintext from the device holding from to the device whose
// public identity is to, and signs it.
func Seal(from *identity.Keys, to *identity.Public, plaintext []byte) ([]byte, error) {
	var seed [seedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	return seal(seed, from, to, plaintext)
}

// seal is Seal with the 88-bit seed given, so tests can reproduce vectors.
func seal(seed [seedSize]byte, from *identity.Keys, to *identity.Public, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	key := deriveKey(seed, plaintext, from.Public().Hash(), to.Hash())

	inline := min(len(plaintext), inlineCiphertext)
	tail := len(plaintext) - inline
	bodyLen := rsaBlockSize + tail
	out := make([]byte, headerSize+bodyLen, headerSize+bodyLen+1+maxSignature)
	out[0] = version
	binary.BigEndian.PutUint16(out[1:], uint16(bodyLen))
	body := out[headerSize:]

	// The RSA plaintext is K ‖ C[:100]; the rest of C goes after the block.
	wrapped := make([]byte, keySize+inline)
	copy(wrapped, key[:])
	ctr(key, wrapped[keySize:], plaintext[:inline], body[rsaBlockSize:], plaintext[inline:])

	block, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, to.EncryptionKey(), wrapped, nil)
	if err != nil {
		return nil, err
	}
	copy(body, block)

	digest := sha1.Sum(body)
	sig, err := ecdsa.SignASN1(rand.Reader, from.SigningKey(), digest[:])
	if err != nil {
		return nil, err
	}
	out = append(out, byte(len(sig)))
	return append(out, sig...), nil
}

// deriveKey returns K = seed ‖ HMAC-SHA256(seed, M ‖ 0x02 ‖ H(sender) ‖ H(receiver))[:5].
func deriveKey(seed [seedSize]byte, plaintext []byte, sender, receiver [32]byte) [keySize]byte {
	tag := computeTag(seed[:], plaintext, sender, receiver)
	var k [keySize]byte
	copy(k[:], seed[:])
	copy(k[seedSize:], tag[:tagSize])
	return k
}

func computeTag(seed, plaintext []byte, sender, receiver [32]byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, seed)
	m.Write(plaintext)
	m.Write([]byte{hmacSeparator})
	m.Write(sender[:])
	m.Write(receiver[:])
	var t [sha256.Size]byte
	m.Sum(t[:0])
	return t
}

// ctr runs AES-128-CTR from the initial counter block over src1 then src2,
// writing dst1 then dst2: one keystream across the split between the RSA
// block and the tail.
func ctr(key [keySize]byte, dst1, src1, dst2, src2 []byte) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("pair: " + err.Error()) // unreachable: the key is 16 bytes
	}
	s := cipher.NewCTR(block, ivCounter[:])
	s.XORKeyStream(dst1, src1)
	s.XORKeyStream(dst2, src2)
}

// parsed is the framing of a payload, aliasing its bytes.
type parsed struct {
	body, sig []byte
}

func parse(payload []byte) (parsed, bool) {
	if len(payload) < headerSize || payload[0] != version {
		return parsed{}, false
	}
	n := int(binary.BigEndian.Uint16(payload[1:]))
	if n < rsaBlockSize || len(payload) < headerSize+n+1 {
		return parsed{}, false
	}
	body := payload[headerSize : headerSize+n]
	s := int(payload[headerSize+n])
	sig := payload[headerSize+n+1:]
	if s == 0 || s > maxSignature || len(sig) != s {
		return parsed{}, false
	}
	return parsed{body: body, sig: sig}, true
}

// Open checks and decrypts a payload sent by the device with identity from
// to the device holding me. It returns the plaintext only if every check
// passes, and ErrCannotOpen otherwise.
func Open(me *identity.Keys, from *identity.Public, payload []byte) ([]byte, error) {
	p, ok := parse(payload)
	if !ok {
		return nil, openerr.New(openerr.Malformed)
	}
	digest := sha1.Sum(p.body)
	if !ecdsa.VerifyASN1(from.SigningKey(), digest[:], p.sig) {
		return nil, openerr.New(openerr.SignatureInvalid)
	}
	wrapped, err := unwrap(me.EncryptionKey(), p.body[:rsaBlockSize])
	if err != nil || len(wrapped) < keySize {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	var key [keySize]byte
	copy(key[:], wrapped)
	inline := wrapped[keySize:]
	tail := p.body[rsaBlockSize:]

	plaintext := make([]byte, len(inline)+len(tail))
	ctr(key, plaintext[:len(inline)], inline, plaintext[len(inline):], tail)

	tag := computeTag(key[:seedSize], plaintext, from.Hash(), me.Public().Hash())
	if subtle.ConstantTimeCompare(tag[:tagSize], key[seedSize:]) != 1 {
		clear(plaintext)
		return nil, openerr.New(openerr.TagMismatch)
	}
	return plaintext, nil
}

// unwrap is the RSA-OAEP key unwrap: SHA-1, MGF1-SHA-1, empty label. The
// block must be exactly the modulus size. Any failure is the one opaque
// error.
func unwrap(priv *rsa.PrivateKey, block []byte) ([]byte, error) {
	return unwrapOAEP(priv, block, &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1})
}

// unwrapOAEP is unwrap with the OAEP hash, MGF1 hash and label given. Only
// unwrap calls it on the network path; the conformance tests run it with
// other parameters over the Wycheproof vectors.
func unwrapOAEP(priv *rsa.PrivateKey, block []byte, opts *rsa.OAEPOptions) ([]byte, error) {
	if len(block) != priv.Size() {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	wrapped, err := priv.Decrypt(nil, block, opts)
	if err != nil {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	return wrapped, nil
}
