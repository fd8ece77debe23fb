package embedded

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Record format (see the package documentation):
//
//	u32 BE body length ‖ u32 BE CRC-32C(body) ‖ body
//	body = type (1 byte) ‖ fields
const (
	recHeader = 8
	recEnq    = 'E'
	recAck    = 'A'
	recDedup  = 'D'

	// enqFixed is the size of an E body before its variable parts.
	enqFixed  = 1 + 32 + 8 + 16 + 20 + 8 + 8 + 1 + 32
	ackBody   = 1 + 32 + 8
	dedupBody = 1 + 32 + 8 + 16 + 8
	// dedupSize is the size of a whole D record, used to account for the
	// space the dedup keys of acknowledged deliveries take.
	dedupSize = recHeader + dedupBody

	// maxBody bounds a record body: an E record with the largest fields.
	maxBody = enqFixed + 1 + mailbox.MaxScheme + 2 + mailbox.MaxSender + 4 + mailbox.MaxPayload

	flagMessageExpiry = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errRecord = errors.New("embedded: bad record")

func appendHeader(b []byte, bodyStart int) []byte {
	body := b[bodyStart:]
	binary.BigEndian.PutUint32(b[bodyStart-8:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[bodyStart-4:], crc32.Checksum(body, castagnoli))
	return b
}

// appendEnq appends the E record of d (with its Seq set).
func appendEnq(b []byte, d *mailbox.Delivery) []byte {
	b = append(b, make([]byte, recHeader)...)
	start := len(b)
	b = append(b, recEnq)
	b = append(b, d.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, d.Seq)
	b = append(b, d.UUID[:]...)
	b = append(b, d.Topic[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Time.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(d.Expires.UnixNano()))
	var flags byte
	if d.MessageExpiry {
		flags |= flagMessageExpiry
	}
	b = append(b, flags)
	b = append(b, d.SenderToken[:]...)
	b = append(b, byte(len(d.Scheme)))
	b = append(b, d.Scheme...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Sender)))
	b = append(b, d.Sender...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Payload)))
	b = append(b, d.Payload...)
	return appendHeader(b, start)
}

func appendAck(b []byte, dev *mailbox.Token, seq uint64) []byte {
	b = append(b, make([]byte, recHeader)...)
	start := len(b)
	b = append(b, recAck)
	b = append(b, dev[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return appendHeader(b, start)
}

func appendDedup(b []byte, dev *mailbox.Token, seq uint64, uuid *mailbox.UUID, expires int64) []byte {
	b = append(b, make([]byte, recHeader)...)
	start := len(b)
	b = append(b, recDedup)
	b = append(b, dev[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, uuid[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	return appendHeader(b, start)
}

// record is a decoded record. For E records, d.Payload aliases the input.
type record struct {
	typ     byte
	d       mailbox.Delivery // E: everything; A, D: Device, Seq (D: UUID, Expires)
	expires int64            // Unix ns, E and D
}

// recordLen reads a record header: the whole record's length, or an error
// if the header is impossible.
func recordLen(h []byte) (int, error) {
	n := binary.BigEndian.Uint32(h[0:4])
	if n == 0 || n > maxBody {
		return 0, errRecord
	}
	return recHeader + int(n), nil
}

// decode checks and decodes one whole record (header included).
func decode(b []byte) (record, error) {
	var r record
	if len(b) < recHeader+1 {
		return r, errRecord
	}
	body := b[recHeader:]
	if int(binary.BigEndian.Uint32(b[0:4])) != len(body) || binary.BigEndian.Uint32(b[4:8]) != crc32.Checksum(body, castagnoli) {
		return r, errRecord
	}
	r.typ = body[0]
	switch r.typ {
	case recAck:
		if len(body) != ackBody {
			return r, errRecord
		}
		copy(r.d.Device[:], body[1:33])
		r.d.Seq = binary.BigEndian.Uint64(body[33:41])
		return r, nil
	case recDedup:
		if len(body) != dedupBody {
			return r, errRecord
		}
		copy(r.d.Device[:], body[1:33])
		r.d.Seq = binary.BigEndian.Uint64(body[33:41])
		copy(r.d.UUID[:], body[41:57])
		r.expires = int64(binary.BigEndian.Uint64(body[57:65]))
		r.d.Expires = time.Unix(0, r.expires)
		return r, nil
	case recEnq:
	default:
		return r, errRecord
	}
	if len(body) < enqFixed+1 {
		return r, errRecord
	}
	p := 1
	take := func(n int) []byte { v := body[p : p+n]; p += n; return v }
	copy(r.d.Device[:], take(32))
	r.d.Seq = binary.BigEndian.Uint64(take(8))
	copy(r.d.UUID[:], take(16))
	copy(r.d.Topic[:], take(20))
	r.d.Time = time.Unix(0, int64(binary.BigEndian.Uint64(take(8))))
	r.expires = int64(binary.BigEndian.Uint64(take(8)))
	r.d.Expires = time.Unix(0, r.expires)
	r.d.MessageExpiry = take(1)[0]&flagMessageExpiry != 0
	copy(r.d.SenderToken[:], take(32))
	n := int(take(1)[0])
	if len(body)-p < n+2 {
		return r, errRecord
	}
	r.d.Scheme = string(take(n))
	n = int(binary.BigEndian.Uint16(take(2)))
	if len(body)-p < n+4 {
		return r, errRecord
	}
	r.d.Sender = string(take(n))
	n = int(binary.BigEndian.Uint32(take(4)))
	if len(body)-p != n {
		return r, errRecord
	}
	r.d.Payload = body[p : p+n : p+n]
	return r, nil
}
