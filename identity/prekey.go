package identity

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/internal/p256"
	"github.com/sealpost/sealpost/internal/pbwire"
)

// SignedPrekey is the PublicDevicePrekey record a device publishes under
// public-message-ngm-device-prekey-data-key: its pair-ec ECDH prekey, signed
// by its NGM device key.
//
// Wire form (protobuf): 1 prekey (32-byte compact x), 2 prekeySignature (64
// raw bytes r ‖ s), 3 timestamp (double, Unix seconds). The signature is
// ECDSA-SHA256 over "NGMPrekeySignature" ‖ prekey ‖ float64-LE(timestamp).
type SignedPrekey struct {
	Prekey    CompactKey
	Signature [PrekeySignatureSize]byte
	Timestamp float64
}

// Protobuf field numbers of PublicDevicePrekey.
const (
	prekeyFieldKey       = 1
	prekeyFieldSignature = 2
	prekeyFieldTimestamp = 3
)

// SignPrekey signs prekey with the device key, stamped with t in whole
// seconds (as the reference implementations do).
func SignPrekey(device *ecdsa.PrivateKey, prekey CompactKey, t time.Time) (*SignedPrekey, error) {
	sp := &SignedPrekey{Prekey: prekey, Timestamp: float64(t.Unix())}
	digest := sp.signedDigest()
	sig, err := p256.SignRaw(device, digest[:])
	if err != nil {
		return nil, err
	}
	sp.Signature = sig
	return sp, nil
}

func (sp *SignedPrekey) signedDigest() [32]byte {
	var buf [len(prekeySignatureLabel) + CompactKeySize + 8]byte
	n := copy(buf[:], prekeySignatureLabel)
	n += copy(buf[n:], sp.Prekey[:])
	binary.LittleEndian.PutUint64(buf[n:], math.Float64bits(sp.Timestamp))
	return sha256.Sum256(buf[:])
}

// Verify checks the signature under the device key.
func (sp *SignedPrekey) Verify(device CompactKey) error {
	pub, err := device.PublicKey()
	if err != nil {
		return err
	}
	digest := sp.signedDigest()
	if !p256.VerifyRaw(pub, digest[:], sp.Signature[:]) {
		return errors.New("identity: prekey signature does not verify under the device key")
	}
	return nil
}

// Time returns the timestamp as a time.Time.
func (sp *SignedPrekey) Time() time.Time {
	sec, frac := math.Modf(sp.Timestamp)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// Marshal returns the PublicDevicePrekey protobuf: fields 1, 2, 3 in order.
func (sp *SignedPrekey) Marshal() []byte {
	b := make([]byte, 0, 2+CompactKeySize+2+PrekeySignatureSize+1+8)
	b = protowire.AppendTag(b, prekeyFieldKey, protowire.BytesType)
	b = protowire.AppendBytes(b, sp.Prekey[:])
	b = protowire.AppendTag(b, prekeyFieldSignature, protowire.BytesType)
	b = protowire.AppendBytes(b, sp.Signature[:])
	b = protowire.AppendTag(b, prekeyFieldTimestamp, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(sp.Timestamp))
	return b
}

// ParseSignedPrekey decodes a PublicDevicePrekey. It accepts only the
// canonical form Marshal writes (each field once, in order, nothing else),
// checks that the prekey is a P-256 x-coordinate and that the timestamp is
// finite, and does not check the signature: call Verify.
func ParseSignedPrekey(b []byte) (*SignedPrekey, error) {
	d := pbwire.NewDecoder(b)
	key := d.FixedBytes(prekeyFieldKey, CompactKeySize)
	sig := d.FixedBytes(prekeyFieldSignature, PrekeySignatureSize)
	ts := math.Float64frombits(d.Fixed64(prekeyFieldTimestamp))
	if d.Finish() != nil || math.IsNaN(ts) || math.IsInf(ts, 0) {
		return nil, errors.New("identity: malformed signed prekey")
	}
	prekey, err := ParseCompactKey(key)
	if err != nil {
		return nil, err
	}
	sp := &SignedPrekey{Prekey: prekey, Timestamp: ts}
	copy(sp.Signature[:], sig)
	return sp, nil
}
