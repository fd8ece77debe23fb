package attachment

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Key is a fresh, random AES-256 attachment key. Its text form is the
// iMessage decryption-key attribute: upper-case hex of 00 ‖ key.
//
// Key never prints its bytes through the fmt package (every verb prints
// "attachment.Key(redacted)"); only MarshalText reveals it, because that is
// the attribute that goes into the (encrypted) message.
type Key [KeySize]byte

const redactedKey = "attachment.Key(redacted)"

// NewKey returns a random key from crypto/rand.
func NewKey() Key {
	var k Key
	rand.Read(k[:]) // never fails since Go 1.24 (it crashes the program instead)
	return k
}

// Equal reports whether k and o are the same key, in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// String never prints key material.
func (k Key) String() string { return redactedKey }

// GoString never prints key material.
func (k Key) GoString() string { return redactedKey }

// Format never prints key material, whatever the verb (%x, %d, %v, ...).
func (k Key) Format(f fmt.State, verb rune) { io.WriteString(f, redactedKey) }

// MarshalText returns the decryption-key attribute: hex of 00 ‖ key, upper case.
func (k Key) MarshalText() ([]byte, error) {
	var raw [1 + KeySize]byte
	raw[0] = keyPrefix
	copy(raw[1:], k[:])
	return appendHexUpper(make([]byte, 0, 2*len(raw)), raw[:]), nil
}

// UnmarshalText parses a decryption-key attribute: 66 hex digits of
// 00 ‖ key, upper or lower case (MarshalText writes upper case). On error k
// is left unchanged.
func (k *Key) UnmarshalText(b []byte) error {
	var raw [1 + KeySize]byte
	if !decodePrefixed(raw[:], b, keyPrefix) {
		return errors.New("attachment: decryption key must be 66 hex digits starting 00")
	}
	copy(k[:], raw[1:])
	return nil
}

// Signature is the mmcs-signature of an encrypted file: 0x81 ‖ SHA-1 over the
// salt and the encrypted bytes. Its text form is lower-case hex. A signature is
// not secret.
type Signature [SignatureSize]byte

// Equal reports whether s and o are the same signature, in constant time.
func (s Signature) Equal(o Signature) bool { return subtle.ConstantTimeCompare(s[:], o[:]) == 1 }

// String returns the hex form.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// MarshalText returns the mmcs-signature-hex attribute (lower case).
func (s Signature) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, s[:]), nil }

// UnmarshalText parses an mmcs-signature-hex attribute: 42 hex digits
// starting 81, upper or lower case (MarshalText writes lower case). On error s
// is left unchanged.
func (s *Signature) UnmarshalText(b []byte) error {
	var raw Signature
	if !decodePrefixed(raw[:], b, signatureType) {
		return errors.New("attachment: signature must be 42 hex digits starting 81")
	}
	*s = raw
	return nil
}

// decodePrefixed decodes exactly len(dst) bytes of hex (either case) from b
// into dst and reports whether that worked and dst[0] == prefix. It never
// allocates.
func decodePrefixed(dst, b []byte, prefix byte) bool {
	if len(b) != 2*len(dst) {
		return false
	}
	if _, err := hex.Decode(dst, b); err != nil {
		return false
	}
	return dst[0] == prefix
}

// appendHexUpper appends the upper-case hex form of src to dst.
func appendHexUpper(dst, src []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range src {
		dst = append(dst, digits[c>>4], digits[c&0x0f])
	}
	return dst
}
