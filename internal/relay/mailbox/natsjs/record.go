package natsjs

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Record kinds: the first byte of every message body in the stream.
const (
	kindQueued = 'Q' // a delivery waiting for its device's ack
	kindKept   = 'K' // the dedup record of a delivery that left the queue
	kindHead   = 'H' // a head marker that keeps an idle device's Seq alive
)

// Subject tokens after <prefix>.<device hex>.
const (
	tokQueued = "q"
	tokKept   = "k"
	tokHead   = "h"
)

const (
	fixedQ = 1 + mailbox.TokenSize + 8 + 8 + mailbox.UUIDSize + mailbox.TopicSize + 8 + 8 + 1 + mailbox.TokenSize + 1 + 2
	fixedK = 1 + mailbox.TokenSize + 8 + 8 + mailbox.UUIDSize + 8
	fixedH = 1 + mailbox.TokenSize + 8 + 8

	flagMessageExpiry = 1
)

var errRecord = errors.New("natsjs: malformed record")

// record is one message body of the stream, decoded. Every kind carries
// the device, the delivery's Seq (0 for a head marker) and the device's
// head: the largest Seq ever assigned to the device when the record was
// written. The next Seq for a device is the head of the device's last
// record plus one.
type record struct {
	kind byte
	seq  uint64
	head uint64
	d    mailbox.Delivery // Device always; the rest for Q, UUID and Expires for K
}

// marshal appends the encoding of r to b.
//
//	Q  'Q' ‖ device 32 ‖ seq u64 ‖ head u64 ‖ UUID 16 ‖ topic 20 ‖ time i64 ns ‖ expires i64 ns ‖
//	   flags u8 ‖ sender token 32 ‖ scheme (u8 len ‖ bytes) ‖ sender (u16 len ‖ bytes) ‖ payload (the rest)
//	K  'K' ‖ device 32 ‖ seq u64 ‖ head u64 ‖ UUID 16 ‖ expires i64 ns
//	H  'H' ‖ device 32 ‖ seq u64 (0) ‖ head u64
//
// Integers are big-endian. marshal panics on a delivery that Check
// refuses (callers check first).
func (r *record) marshal(b []byte) []byte {
	d := &r.d
	b = append(b, r.kind)
	b = append(b, d.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, r.seq)
	b = binary.BigEndian.AppendUint64(b, r.head)
	switch r.kind {
	case kindQueued:
		if len(d.Scheme) > mailbox.MaxScheme || len(d.Sender) > mailbox.MaxSender || len(d.Payload) > mailbox.MaxPayload {
			panic("natsjs: marshal of an unchecked delivery")
		}
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
		b = append(b, d.Payload...)
	case kindKept:
		b = append(b, d.UUID[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(d.Expires.UnixNano()))
	case kindHead:
	default:
		panic("natsjs: marshal of an unknown record kind")
	}
	return b
}

// parseRecord decodes a message body. The Payload of a Q record aliases
// b. Any other length or kind than marshal produces is an error.
func parseRecord(b []byte) (record, error) {
	var r record
	if len(b) < fixedH {
		return r, errRecord
	}
	r.kind = b[0]
	copy(r.d.Device[:], b[1:])
	r.seq = binary.BigEndian.Uint64(b[33:])
	r.head = binary.BigEndian.Uint64(b[41:])
	p := b[49:]
	switch r.kind {
	case kindHead:
		if len(b) != fixedH || r.seq != 0 {
			return r, errRecord
		}
	case kindKept:
		if len(b) != fixedK {
			return r, errRecord
		}
		copy(r.d.UUID[:], p)
		r.d.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(p[16:])))
	case kindQueued:
		if len(b) < fixedQ {
			return r, errRecord
		}
		d := &r.d
		copy(d.UUID[:], p)
		p = p[16:]
		copy(d.Topic[:], p)
		p = p[20:]
		d.Time = time.Unix(0, int64(binary.BigEndian.Uint64(p)))
		d.Expires = time.Unix(0, int64(binary.BigEndian.Uint64(p[8:])))
		flags := p[16]
		if flags&^flagMessageExpiry != 0 {
			return r, errRecord
		}
		d.MessageExpiry = flags&flagMessageExpiry != 0
		copy(d.SenderToken[:], p[17:])
		p = p[17+32:]
		n := int(p[0])
		p = p[1:]
		if len(p) < n+2 {
			return r, errRecord
		}
		d.Scheme = string(p[:n])
		p = p[n:]
		n = int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if n > mailbox.MaxSender || len(p) < n {
			return r, errRecord
		}
		d.Sender = string(p[:n])
		p = p[n:]
		if len(p) > mailbox.MaxPayload {
			return r, errRecord
		}
		d.Payload = p
		if r.head != r.seq {
			return r, errRecord
		}
	default:
		return r, errRecord
	}
	if r.kind != kindHead && (r.seq == 0 || r.head < r.seq) {
		return r, errRecord
	}
	return r, nil
}

// subjects names the subjects of one device under a prefix.
type subjects struct {
	prefix string // <prefix>.<device hex>
}

func deviceSubjects(prefix string, dev mailbox.Token) subjects {
	return subjects{prefix: prefix + "." + hex.EncodeToString(dev[:])}
}

func (s subjects) all() string                 { return s.prefix + ".>" }
func (s subjects) queued() string              { return s.prefix + "." + tokQueued + ".*" }
func (s subjects) head() string                { return s.prefix + "." + tokHead }
func (s subjects) anyOf(u mailbox.UUID) string { return s.prefix + ".*." + hex.EncodeToString(u[:]) }
func (s subjects) queuedOf(u mailbox.UUID) string {
	return s.prefix + "." + tokQueued + "." + hex.EncodeToString(u[:])
}
func (s subjects) keptOf(u mailbox.UUID) string {
	return s.prefix + "." + tokKept + "." + hex.EncodeToString(u[:])
}
