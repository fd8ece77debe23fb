// Package pairec implements "pair-ec", the elliptic-curve per-device payload
// of iMessage (Apple's "ECIES", internally NGM; iOS 13 and later), byte for
// byte as protocol.md §1.2 describes it. It is not standard ECIES.
//
// Use:
//
//	payload, err := pairec.Seal(myKeys, pairec.Recipient{Device: d, Prekey: p}, &pairec.Inner{Message: m, Counter: n})
//	inner, err := pairec.Open(myKeys, senderDeviceKey, payload)
//
// Seal draws a fresh compactable ephemeral P-256 key e and computes
// S = ECDH(e, receiver prekey). HKDF-SHA256(S, salt "LastPawn-MessageKeys",
// 48 bytes) gives an AES-256 key and an initial counter block. The
// InnerMessage protobuf (message, counter, ...) is padded with 0–15 random
// bytes and their count as a 4-byte little-endian integer, and encrypted
// with AES-256-CTR. The sender's device key signs
// S ‖ prekey ‖ ephemeral ‖ receiver device key ‖ ciphertext (ECDSA-SHA256,
// raw r ‖ s): because S is signed, a server that swaps in its own signing
// key cannot forge a signature without the ECDH secret. A 7-byte key
// validator names the three keys involved. The payload is the OuterMessage
// protobuf: 1 ciphertext, 2 ephemeral x, 3 signature, 99 validator.
//
// Open recomputes S, verifies the signature, checks the validator, derives
// the keys, decrypts, strips the padding and parses the InnerMessage; it
// releases nothing before all of that passed, and every failure is the same
// [ErrCannotOpen]. The message inside is returned as is (usually a gzip'd
// plist): decompress and parse it only after Open succeeded. Counter checks
// (replay) belong to the caller, which knows the conversation.
//
// Encodings are canonical: fields in order, each once, nothing unknown, so a
// reordered or padded payload is refused.
//
// Seal and Open are safe for concurrent use. Randomness comes from
// crypto/rand; tests make it deterministic with
// testing/cryptotest.SetGlobalRandom.
package pairec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"slices"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/p256"
	"github.com/sealpost/sealpost/internal/pbwire"
)

// ErrCannotOpen is returned by Open for every payload it refuses.
var ErrCannotOpen = openerr.ErrCannotOpen

// Recipient names a receiving device by its published pair-ec keys: the
// device key (its signing key, which Key Transparency logs) and its current
// prekey. The caller must have verified the prekey's signature under the
// device key (identity.SignedPrekey.Verify) before sealing to it.
type Recipient struct {
	Device identity.CompactKey
	Prekey identity.CompactKey
}

// Inner is the InnerMessage: the application payload and its metadata.
type Inner struct {
	// Message is the application payload, typically a gzip'd binary plist.
	Message []byte
	// Counter counts messages from this sender to this receiving device.
	Counter uint32
	// KTGossip carries Key Transparency gossip, if any.
	KTGossip []byte
	// DebugInfo is opaque debugging data, if any.
	DebugInfo []byte
}

// Seal encrypts inner from the device holding from to the device to.
func Seal(from *identity.Keys, to Recipient, inner *Inner) ([]byte, error) {
	eph, ephX, err := identity.GenerateCompactableECDH()
	if err != nil {
		return nil, err
	}
	plain := inner.marshal()
	padLen := (blockAlign - len(plain)%blockAlign) % blockAlign
	// marshal leaves room for the padding: no second buffer, no copy.
	padded := slices.Grow(plain, padLen+padLenSize)[:len(plain)+padLen+padLenSize]
	if _, err := rand.Read(padded[len(plain) : len(plain)+padLen]); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(padded[len(plain)+padLen:], uint32(padLen))
	return sealECDH(eph, ephX, from, to, padded)
}

// seal finishes Seal with the ephemeral key and the padded plaintext given,
// so tests can reproduce vectors. It encrypts padded in place.
func seal(eph *ecdsa.PrivateKey, from *identity.Keys, to Recipient, padded []byte) ([]byte, error) {
	ephX, err := identity.CompactKeyOf(&eph.PublicKey)
	if err != nil {
		return nil, err
	}
	ephECDH, err := eph.ECDH()
	if err != nil {
		return nil, err
	}
	return sealECDH(ephECDH, ephX, from, to, padded)
}

// sealECDH is seal with the ephemeral key already in ECDH form and its
// compact public key ephX. Seal calls it directly, so that the ephemeral
// public key is computed only once.
func sealECDH(eph *ecdh.PrivateKey, ephX identity.CompactKey, from *identity.Keys, to Recipient, padded []byte) ([]byte, error) {
	prekey, err := to.Prekey.ECDH()
	if err != nil {
		return nil, err
	}
	secret, err := eph.ECDH(prekey)
	if err != nil {
		return nil, err
	}
	if err := crypt(secret, padded, padded); err != nil {
		return nil, err
	}
	sig, err := p256.SignRaw(from.DeviceSigningKey(), signedDigest(secret, to.Prekey, ephX, to.Device, padded))
	if err != nil {
		return nil, err
	}
	v := validator(from.DeviceKey(), to.Device, to.Prekey)

	out := make([]byte, 0, len(padded)+keySize+signatureSize+validatorSize+12)
	out = pbwire.AppendBytes(out, outerPayload, padded)
	out = pbwire.AppendBytes(out, outerEphemeral, ephX[:])
	out = pbwire.AppendBytes(out, outerSignature, sig[:])
	return pbwire.AppendBytes(out, outerValidator, v[:]), nil
}

// crypt derives the message key and counter from the ECDH secret and runs
// AES-256-CTR (the whole 128-bit block counts, as in Go's cipher.NewCTR).
func crypt(secret, dst, src []byte) error {
	okm, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), "", hkdfLength)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(okm[:aesKeySize])
	if err != nil {
		return err
	}
	cipher.NewCTR(block, okm[aesKeySize:]).XORKeyStream(dst, src)
	return nil
}

// signedDigest is SHA-256(S ‖ prekey ‖ ephemeral ‖ receiver device ‖ ciphertext).
func signedDigest(secret []byte, prekey, eph, device identity.CompactKey, ciphertext []byte) []byte {
	h := sha256.New()
	h.Write(secret)
	h.Write(prekey[:])
	h.Write(eph[:])
	h.Write(device[:])
	h.Write(ciphertext)
	return h.Sum(nil)
}

func validator(sender, receiver, prekey identity.CompactKey) [validatorSize]byte {
	return [validatorSize]byte{sender[0], sender[1], receiver[0], receiver[1], prekey[0], prekey[1], validatorVersion}
}

// outer is the parsed OuterMessage, aliasing the payload.
type outer struct {
	ciphertext, ephemeral, signature, validator []byte
}

func parseOuter(b []byte) (outer, bool) {
	d := pbwire.NewDecoder(b)
	o := outer{
		ciphertext: d.RequiredBytes(outerPayload, padLenSize),
		ephemeral:  d.FixedBytes(outerEphemeral, keySize),
		signature:  d.FixedBytes(outerSignature, signatureSize),
		validator:  d.FixedBytes(outerValidator, validatorSize),
	}
	return o, d.Finish() == nil
}

// Open checks and decrypts a payload sent by the device whose device key is
// from to the device holding me. It returns the inner message only if every
// check passes, and ErrCannotOpen otherwise.
func Open(me *identity.Keys, from identity.CompactKey, payload []byte) (*Inner, error) {
	o, ok := parseOuter(payload)
	if !ok {
		return nil, openerr.New(openerr.Malformed)
	}
	eph, err := identity.CompactKey(o.ephemeral).ECDH()
	if err != nil {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	secret, err := me.PrekeyECDH().ECDH(eph)
	if err != nil {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	own := me.SignedPrekey().Prekey
	sender, err := from.PublicKey()
	if err != nil || !p256.VerifyRaw(sender, signedDigest(secret, own, identity.CompactKey(o.ephemeral), me.DeviceKey(), o.ciphertext), o.signature) {
		return nil, openerr.New(openerr.SignatureInvalid)
	}
	want := validator(from, me.DeviceKey(), own)
	if subtle.ConstantTimeCompare(want[:], o.validator) != 1 {
		return nil, openerr.New(openerr.ValidatorMismatch)
	}
	padded := make([]byte, len(o.ciphertext))
	if err := crypt(secret, padded, o.ciphertext); err != nil {
		return nil, openerr.New(openerr.UnwrapFailed)
	}
	inner, ok := unpadAndParse(padded)
	if !ok {
		clear(padded)
		return nil, openerr.New(openerr.Malformed)
	}
	return inner, nil
}

// unpadAndParse strips the padding, which must be the canonical 0–15 bytes,
// and parses the InnerMessage.
func unpadAndParse(padded []byte) (*Inner, bool) {
	if len(padded) < padLenSize {
		return nil, false
	}
	n := len(padded) - padLenSize
	padLen := binary.LittleEndian.Uint32(padded[n:])
	if padLen >= blockAlign || int(padLen) > n || n%blockAlign != 0 {
		return nil, false
	}
	return parseInner(padded[:n-int(padLen)])
}

func (in *Inner) marshal() []byte {
	// 24 bytes cover the tags and lengths; the rest is room for Seal's
	// padding (up to blockAlign-1 bytes and the length).
	b := make([]byte, 0, len(in.Message)+len(in.KTGossip)+len(in.DebugInfo)+24+blockAlign-1+padLenSize)
	b = pbwire.AppendBytes(b, innerMessage, in.Message)
	b = pbwire.AppendUint32(b, innerCounter, in.Counter)
	b = pbwire.AppendBytes(b, innerKTGossip, in.KTGossip)
	return pbwire.AppendBytes(b, innerDebugInfo, in.DebugInfo)
}

func parseInner(b []byte) (*Inner, bool) {
	d := pbwire.NewDecoder(b)
	in := new(Inner)
	in.Message, _ = d.Bytes(innerMessage)
	in.Counter, _ = d.Uint32(innerCounter)
	in.KTGossip, _ = d.Bytes(innerKTGossip)
	in.DebugInfo, _ = d.Bytes(innerDebugInfo)
	return in, d.Finish() == nil
}
