package pairec

import "google.golang.org/protobuf/encoding/protowire"

// Wire constants of the "pair-ec" payload (protocol.md §1.2).
const (
	// hkdfSalt is the HKDF-SHA256 salt of the message key schedule.
	hkdfSalt = "LastPawn-MessageKeys"
	// hkdfLength is the HKDF output: a 32-byte AES-256 key, then a 16-byte
	// initial counter block.
	hkdfLength = 48
	aesKeySize = 32

	keySize       = 32 // compact P-256 keys and the ECDH secret
	signatureSize = 64 // raw r ‖ s

	// validatorSize is the key validator: two bytes of each of three keys
	// and a version byte.
	validatorSize    = 7
	validatorVersion = 0x0C

	// padLenSize is the little-endian length of the random padding that
	// ends the plaintext; the padding makes len(inner)+len(R) a multiple of
	// blockAlign.
	padLenSize = 4
	blockAlign = 16
)

// OuterMessage field numbers.
const (
	outerPayload   protowire.Number = 1
	outerEphemeral protowire.Number = 2
	outerSignature protowire.Number = 3
	outerValidator protowire.Number = 99
)

// InnerMessage field numbers.
const (
	innerMessage   protowire.Number = 1
	innerCounter   protowire.Number = 2
	innerKTGossip  protowire.Number = 3
	innerDebugInfo protowire.Number = 99
)
