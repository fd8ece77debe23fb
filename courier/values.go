package courier

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"time"
)

// Topic is the SHA-1 hash of a topic name, as Filter and SendMessage carry
// it.
type Topic [TopicSize]byte

// TopicOf returns the hash of a topic name, e.g. TopicOf(TopicIMessage).
func TopicOf(name string) Topic { return sha1.Sum([]byte(name)) }

// U16 returns v as 2 big-endian bytes.
func U16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// U32 returns v as 4 big-endian bytes.
func U32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// U64 returns v as 8 big-endian bytes.
func U64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// ErrNonce is returned by ParseNonce for a nonce of the wrong form.
var ErrNonce = errors.New("courier: nonce is not 00 ‖ u64 ms ‖ 8 bytes")

// Nonce builds a Connect nonce for time t: 00 ‖ u64-BE Unix ms ‖ random.
func Nonce(t time.Time, random [8]byte) [NonceSize]byte {
	var n [NonceSize]byte
	n[0] = NonceVersion
	binary.BigEndian.PutUint64(n[1:9], uint64(t.UnixMilli()))
	copy(n[9:], random[:])
	return n
}

// ParseNonce returns the time a Connect nonce carries.
func ParseNonce(n []byte) (time.Time, error) {
	if len(n) != NonceSize || n[0] != NonceVersion {
		return time.Time{}, ErrNonce
	}
	ms := binary.BigEndian.Uint64(n[1:9])
	if ms > 1<<62 {
		return time.Time{}, ErrNonce
	}
	return time.UnixMilli(int64(ms)), nil
}
