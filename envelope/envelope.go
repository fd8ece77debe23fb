// Package envelope seals and opens one device's copy of a message: the
// inner iMessage dictionary ([message.Message]) inside a per-device payload
// of either scheme, "pair" or "pair-ec" (the IDS "E" key).
//
// It is the one place where the receive pipeline is put together, in the
// order that keeps the 2016 format oracle closed:
//
//	payload ─▶ pair.Open / pairec.Open ─▶ message.Decode ─▶ *message.Message
//	           (parse, verify signature,   (gunzip under a cap,
//	            unwrap, decrypt, tag)       parse plist, validate)
//
// Nothing is decompressed or parsed before the payload has authenticated,
// and every failure, cryptographic or in the authenticated content, is the
// same [ErrCannotOpen]: a peer cannot tell one from another. The reason is
// kept for tests and local debug logs (internal/openerr).
//
// [Replay] drops duplicates by message ID, which is what a user sees; it
// is keyed on the decrypted ID rather than on payload bytes, because ECDSA
// signatures are malleable ((r, s) and (r, n−s) both verify).
//
// Functions here are safe for concurrent use; a Replay is too.
package envelope

import (
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/message"
	"github.com/sealpost/sealpost/pair"
	"github.com/sealpost/sealpost/pairec"
)

// Scheme names as the IDS "E" key carries them.
const (
	SchemePair   = "pair"
	SchemePairEC = "pair-ec"
)

// ErrCannotOpen is the one error Open returns for a payload it refuses.
var ErrCannotOpen = openerr.ErrCannotOpen

// Device is the public side of the other device, as the directory gives it.
type Device struct {
	// Identity is the device's "pair" identity. Required for both schemes:
	// "pair" uses it directly, and it names the device.
	Identity *identity.Public
	// DeviceKey is the pair-ec signing key; zero if the device has none.
	DeviceKey identity.CompactKey
	// Prekey is the device's current pair-ec prekey, already verified
	// under DeviceKey; needed only to seal to the device.
	Prekey identity.CompactKey
}

// HasPairEC reports whether the device published pair-ec keys.
func (d Device) HasPairEC() bool { return d.DeviceKey != identity.CompactKey{} }

// Scheme returns the scheme to seal to d with: pair-ec when the device has
// it, else pair.
func (d Device) Scheme() string {
	if d.HasPairEC() && d.Prekey != (identity.CompactKey{}) {
		return SchemePairEC
	}
	return SchemePair
}

// Opened is a message that authenticated and decoded.
type Opened struct {
	Message *message.Message
	// Counter is the pair-ec message counter (0 for "pair").
	Counter uint32
}

// Seal encodes m and seals it to the device to with scheme. counter is the
// pair-ec message counter (ignored for "pair").
func Seal(from *identity.Keys, to Device, scheme string, m *message.Message, counter uint32) ([]byte, error) {
	body, err := message.Encode(m)
	if err != nil {
		return nil, err
	}
	return SealEncoded(from, to, scheme, body, counter)
}

// SealEncoded is Seal for a message already encoded with message.Encode:
// a sender that seals one message to many devices encodes it once.
func SealEncoded(from *identity.Keys, to Device, scheme string, body []byte, counter uint32) ([]byte, error) {
	switch scheme {
	case SchemePair:
		if to.Identity == nil {
			return nil, errors.New("envelope: recipient has no pair identity")
		}
		return pair.Seal(from, to.Identity, body)
	case SchemePairEC:
		if to.Scheme() != SchemePairEC {
			return nil, errors.New("envelope: recipient has no pair-ec keys")
		}
		return pairec.Seal(from, pairec.Recipient{Device: to.DeviceKey, Prekey: to.Prekey}, &pairec.Inner{Message: body, Counter: counter})
	default:
		return nil, fmt.Errorf("envelope: unknown scheme %q", scheme)
	}
}

// Open authenticates and decrypts payload from the device from, then decodes
// the inner message. Every failure is ErrCannotOpen.
func Open(me *identity.Keys, from Device, scheme string, payload []byte) (*Opened, error) {
	var body []byte
	var counter uint32
	var err error
	switch scheme {
	case SchemePair:
		if from.Identity == nil {
			return nil, openerr.New(openerr.SignatureInvalid)
		}
		body, err = pair.Open(me, from.Identity, payload)
	case SchemePairEC:
		if !from.HasPairEC() {
			return nil, openerr.New(openerr.SignatureInvalid)
		}
		var inner *pairec.Inner
		if inner, err = pairec.Open(me, from.DeviceKey, payload); err == nil {
			body, counter = inner.Message, inner.Counter
		}
	default:
		return nil, openerr.New(openerr.Malformed)
	}
	if err != nil {
		return nil, err
	}
	m, err := message.Decode(body)
	clear(body)
	if err != nil {
		return nil, openerr.New(openerr.ContentInvalid)
	}
	return &Opened{Message: m, Counter: counter}, nil
}
