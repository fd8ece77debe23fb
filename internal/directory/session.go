package directory

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

// Session tokens. A lookup answers every device with a session token that
// the sender copies into each message for that device (as IDS's
// session-token, protocol.md §5). It lets the relay check, without asking
// the directory's database, that this sender looked this recipient up
// recently:
//
//	token = 01 ‖ expiry (u64-BE Unix seconds) ‖ HMAC-SHA256(K, label ‖ sender ‖ recipient ‖ expiry)[:16]
//	label = "sealpost session token v1"
//
// sender and recipient are the 32-byte identity hashes of the requesting
// and the listed device; K is a 32-byte server secret kept in the store
// under the name "session-token-key" (so every node of a PostgreSQL
// deployment shares it). The token is 25 bytes; it reveals the expiry and
// nothing else. Check one with Service.CheckSessionToken.
const (
	sessionTokenVersion = 0x01
	sessionTokenSize    = 1 + 8 + 16
	sessionTokenLabel   = "sealpost session token v1"
	sessionKeyName      = "session-token-key"
)

// Errors of CheckSessionToken.
var (
	ErrSessionTokenInvalid = errors.New("directory: session token is malformed or not for this sender and recipient")
	ErrSessionTokenExpired = errors.New("directory: session token expired; look the recipient up again")
)

type sessionKey struct{ key []byte }

func (k sessionKey) mac(sender, recipient storage.DeviceID, expiry uint64) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(sessionTokenLabel))
	m.Write(sender[:])
	m.Write(recipient[:])
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], expiry)
	m.Write(e[:])
	return m.Sum(nil)[:16]
}

func (k sessionKey) mint(sender, recipient storage.DeviceID, expires time.Time) []byte {
	exp := uint64(expires.Unix())
	tok := make([]byte, 0, sessionTokenSize)
	tok = append(tok, sessionTokenVersion)
	tok = binary.BigEndian.AppendUint64(tok, exp)
	return append(tok, k.mac(sender, recipient, exp)...)
}

func (k sessionKey) check(tok []byte, sender, recipient storage.DeviceID, now time.Time) error {
	if len(tok) != sessionTokenSize || tok[0] != sessionTokenVersion {
		return ErrSessionTokenInvalid
	}
	exp := binary.BigEndian.Uint64(tok[1:9])
	if !hmac.Equal(tok[9:], k.mac(sender, recipient, exp)) {
		return ErrSessionTokenInvalid
	}
	if exp > 1<<62 || now.Unix() >= int64(exp) {
		return ErrSessionTokenExpired
	}
	return nil
}
