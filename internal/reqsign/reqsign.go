// Package reqsign signs and verifies device requests to the Sealpost HTTP
// services (directory, blob store), modelled on IDS's signed headers
// (protocol.md §5).
//
// A device signs every request that changes state or looks up handles with
// its "pair" signing key (ECDSA P-256). Three headers carry the proof:
//
//	X-Sealpost-Key        hex of the device's identity hash (identity.Public.Hash)
//	X-Sealpost-Nonce      hex of 17 bytes: 01 ‖ u64-BE Unix milliseconds ‖ 8 random bytes
//	X-Sealpost-Signature  base64 (standard, padded) of the DER ECDSA-SHA256 signature
//
// The signed data binds the nonce, the method, the path with its query, the
// body and the key:
//
//	nonce ‖ u32-BE len ‖ method ‖ u32-BE len ‖ path?query ‖ u32-BE 32 ‖ SHA-256(body) ‖ u32-BE len ‖ key
//
// A [Verifier] accepts a nonce only once and only within its window of the
// server clock (5 minutes by default), so a captured request cannot be
// replayed. The verifier is safe for concurrent use.
package reqsign

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Header names.
const (
	HeaderKey       = "X-Sealpost-Key"
	HeaderNonce     = "X-Sealpost-Nonce"
	HeaderSignature = "X-Sealpost-Signature"
)

const (
	nonceSize    = 17
	nonceVersion = 0x01
	// DefaultWindow is how far a nonce's time may be from the server clock.
	DefaultWindow = 5 * time.Minute
	maxSigB64     = 128 // DER P-256 signatures are at most 72 bytes
)

// Errors a Verifier returns. They say what to fix without revealing keys.
var (
	ErrMissing   = errors.New("request is not signed: X-Sealpost-Key, X-Sealpost-Nonce and X-Sealpost-Signature are required")
	ErrMalformed = errors.New("request signature headers are malformed")
	ErrStale     = errors.New("request nonce is outside the accepted time window; check the device clock")
	ErrReplayed  = errors.New("request nonce was already used")
	ErrBadSig    = errors.New("request signature does not verify")
	ErrUnknown   = errors.New("request is signed by an unknown device")
)

// Sign adds the signature headers to r for body, with the device key and
// its key id (the hex identity hash), at time now.
func Sign(r *http.Request, body []byte, key *ecdsa.PrivateKey, keyID string, now time.Time) error {
	var nonce [nonceSize]byte
	nonce[0] = nonceVersion
	binary.BigEndian.PutUint64(nonce[1:], uint64(now.UnixMilli()))
	if _, err := rand.Read(nonce[9:]); err != nil {
		return err
	}
	digest := signedDigest(nonce[:], r.Method, r.URL.RequestURI(), body, keyID)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return err
	}
	r.Header.Set(HeaderKey, keyID)
	r.Header.Set(HeaderNonce, hex.EncodeToString(nonce[:]))
	r.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}

func signedDigest(nonce []byte, method, uri string, body []byte, keyID string) [32]byte {
	bodyHash := sha256.Sum256(body)
	h := sha256.New()
	h.Write(nonce)
	for _, part := range [][]byte{[]byte(method), []byte(uri), bodyHash[:], []byte(keyID)} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// KeyFunc returns the signing key of the device with key id, or ErrUnknown.
type KeyFunc func(keyID string) (*ecdsa.PublicKey, error)

// Verifier checks signed requests and remembers nonces for replay
// protection.
type Verifier struct {
	window time.Duration
	now    func() time.Time

	// seen holds used nonces in buckets by the minute of their timestamp.
	// A replay carries the same timestamp, so one bucket answers; buckets
	// older than the window are dropped whole.
	mu   sync.Mutex
	seen map[int64]map[[nonceSize]byte]struct{}
}

// NewVerifier returns a verifier with the given window (DefaultWindow if
// zero) and clock (time.Now if nil).
func NewVerifier(window time.Duration, now func() time.Time) *Verifier {
	if window <= 0 {
		window = DefaultWindow
	}
	if now == nil {
		now = time.Now
	}
	return &Verifier{window: window, now: now, seen: make(map[int64]map[[nonceSize]byte]struct{})}
}

// Verify checks the signature headers of r over body and returns the key
// id of the signing device. keyFor resolves key ids; a key id the caller
// wants to accept before registration (a device proving possession of its
// own key) can be resolved by keyFor too. The nonce is consumed only when
// the signature verifies, so an attacker cannot burn a device's nonces.
func (v *Verifier) Verify(r *http.Request, body []byte, keyFor KeyFunc) (string, error) {
	keyID := r.Header.Get(HeaderKey)
	nonceHex := r.Header.Get(HeaderNonce)
	sigB64 := r.Header.Get(HeaderSignature)
	if keyID == "" || nonceHex == "" || sigB64 == "" {
		return "", ErrMissing
	}
	var nonce [nonceSize]byte
	if len(nonceHex) != 2*nonceSize || len(keyID) > 128 || len(sigB64) > maxSigB64 {
		return "", ErrMalformed
	}
	if _, err := hex.Decode(nonce[:], []byte(nonceHex)); err != nil || nonce[0] != nonceVersion {
		return "", ErrMalformed
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return "", ErrMalformed
	}
	now := v.now()
	ts := time.UnixMilli(int64(binary.BigEndian.Uint64(nonce[1:])))
	if ts.Before(now.Add(-v.window)) || ts.After(now.Add(v.window)) {
		return "", ErrStale
	}
	pub, err := keyFor(keyID)
	if err != nil {
		return "", err
	}
	digest := signedDigest(nonce[:], r.Method, r.URL.RequestURI(), body, keyID)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return "", ErrBadSig
	}
	if !v.remember(nonce, ts, now) {
		return "", ErrReplayed
	}
	return keyID, nil
}

// remember records nonce, stamped ts, and reports whether it was new.
func (v *Verifier) remember(nonce [nonceSize]byte, ts, now time.Time) bool {
	minute := ts.Unix() / 60
	oldest := now.Add(-v.window).Unix()/60 - 1
	v.mu.Lock()
	defer v.mu.Unlock()
	for m := range v.seen {
		if m < oldest {
			delete(v.seen, m)
		}
	}
	bucket := v.seen[minute]
	if bucket == nil {
		bucket = make(map[[nonceSize]byte]struct{})
		v.seen[minute] = bucket
	}
	if _, dup := bucket[nonce]; dup {
		return false
	}
	bucket[nonce] = struct{}{}
	return true
}
