// Package pbwire reads the small protobuf messages of pair-ec (OuterMessage,
// InnerMessage, PublicDevicePrekey) in their one canonical encoding.
//
// A [Decoder] accepts fields only in increasing field-number order, each at
// most once, with minimal tags, lengths and varints, and without proto3
// default values (empty bytes, zero integers), which a proto3 encoder omits.
// Anything else, including unknown fields, is an error. So a message that
// decodes re-encodes to the same bytes, and a reordered or padded message is
// refused instead of being silently accepted.
//
// Encoding uses google.golang.org/protobuf/encoding/protowire directly.
package pbwire

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned by Finish for any non-canonical input.
var ErrMalformed = errors.New("pbwire: malformed or non-canonical protobuf")

// Decoder reads fields in order. Its methods record the first problem;
// Finish reports it.
type Decoder struct {
	b    []byte
	last protowire.Number
	bad  bool
}

// NewDecoder returns a decoder over b. It does not copy b: byte values it
// returns alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// next returns the value bytes of field num if it is the next field and of
// wire type typ, and advances past its tag.
func (d *Decoder) next(num protowire.Number, typ protowire.Type) bool {
	if d.bad || len(d.b) == 0 {
		return false
	}
	gotNum, gotTyp, n := protowire.ConsumeTag(d.b)
	if n < 0 || n != protowire.SizeTag(gotNum) || gotNum <= d.last {
		d.bad = true
		return false
	}
	if gotNum != num {
		return false // a later field, or an unknown one that Finish refuses
	}
	if gotTyp != typ {
		d.bad = true
		return false
	}
	d.last = num
	d.b = d.b[n:]
	return true
}

// Bytes reads length-delimited field num if it is next. A present field
// must not be empty.
func (d *Decoder) Bytes(num protowire.Number) ([]byte, bool) {
	if !d.next(num, protowire.BytesType) {
		return nil, false
	}
	v, n := protowire.ConsumeBytes(d.b)
	if n < 0 || len(v) == 0 || n != protowire.SizeBytes(len(v)) {
		d.bad = true
		return nil, false
	}
	d.b = d.b[n:]
	return v, true
}

// FixedBytes reads field num, which must be present and exactly size bytes.
func (d *Decoder) FixedBytes(num protowire.Number, size int) []byte {
	v, ok := d.Bytes(num)
	if !ok || len(v) != size {
		d.bad = true
		return nil
	}
	return v
}

// RequiredBytes reads field num, which must be present and at least min
// bytes long.
func (d *Decoder) RequiredBytes(num protowire.Number, min int) []byte {
	v, ok := d.Bytes(num)
	if !ok || len(v) < min {
		d.bad = true
		return nil
	}
	return v
}

// Uint32 reads varint field num if it is next. A present field must not be
// zero and must fit in 32 bits.
func (d *Decoder) Uint32(num protowire.Number) (uint32, bool) {
	if !d.next(num, protowire.VarintType) {
		return 0, false
	}
	v, n := protowire.ConsumeVarint(d.b)
	if n < 0 || v == 0 || v > 1<<32-1 || n != protowire.SizeVarint(v) {
		d.bad = true
		return 0, false
	}
	d.b = d.b[n:]
	return uint32(v), true
}

// Fixed64 reads field num, which must be present, as 8 little-endian bytes.
func (d *Decoder) Fixed64(num protowire.Number) uint64 {
	if !d.next(num, protowire.Fixed64Type) {
		d.bad = true
		return 0
	}
	v, n := protowire.ConsumeFixed64(d.b)
	if n < 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Finish returns ErrMalformed if any read failed or bytes are left over.
func (d *Decoder) Finish() error {
	if d.bad || len(d.b) != 0 {
		return ErrMalformed
	}
	return nil
}

// AppendBytes appends field num with value v, omitting it when v is empty
// (the proto3 default).
func AppendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// AppendUint32 appends varint field num, omitting it when v is zero.
func AppendUint32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}
