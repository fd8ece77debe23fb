package courier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameSize is the largest frame body a reader accepts by default: the
// largest payload (LargePayload) plus room for the other fields and a
// Connect's certificate. A longer frame is malformed.
const MaxFrameSize = 32 << 10

// MaxFields is the most fields a frame may have: 2,048 fields of 32 bytes
// each keep the field list at most twice MaxFrameSize. A frame with more
// is malformed.
const MaxFields = 2048

// Errors of the frame decoder. A malformed frame closes the connection.
var (
	ErrTruncated = errors.New("courier: frame is truncated")
	ErrTooLarge  = errors.New("courier: frame is larger than the limit")
	ErrMalformed = errors.New("courier: frame fields do not fill the frame exactly")
	ErrTooMany   = errors.New("courier: frame has too many fields")
)

// Field is one field of a frame: an id and a value of at most
// MaxFieldSize bytes.
type Field struct {
	ID    byte
	Value []byte
}

// Frame is one packet: a command and its fields in wire order. Fields of a
// parsed frame alias the bytes it was parsed from.
type Frame struct {
	Command byte
	Fields  []Field
}

// Get returns the value of the first field with id, or nil and false.
func (f *Frame) Get(id byte) ([]byte, bool) {
	for i := range f.Fields {
		if f.Fields[i].ID == id {
			return f.Fields[i].Value, true
		}
	}
	return nil, false
}

// Count returns how many fields have id.
func (f *Frame) Count(id byte) int {
	n := 0
	for i := range f.Fields {
		if f.Fields[i].ID == id {
			n++
		}
	}
	return n
}

// Add appends a field. It panics if v is longer than MaxFieldSize: that is
// a caller's mistake.
func (f *Frame) Add(id byte, v []byte) *Frame {
	if len(v) > MaxFieldSize {
		panic(fmt.Sprintf("courier: field %d of %d bytes exceeds %d", id, len(v), MaxFieldSize))
	}
	f.Fields = append(f.Fields, Field{ID: id, Value: v})
	return f
}

// Size returns the length of the frame's encoding, header included.
func (f *Frame) Size() int {
	n := HeaderSize
	for i := range f.Fields {
		n += FieldHeaderSize + len(f.Fields[i].Value)
	}
	return n
}

// AppendTo appends the encoding of f to dst.
func (f *Frame) AppendTo(dst []byte) []byte {
	body := f.Size() - HeaderSize
	dst = append(dst, f.Command)
	dst = binary.BigEndian.AppendUint32(dst, uint32(body))
	for i := range f.Fields {
		v := f.Fields[i].Value
		if len(v) > MaxFieldSize {
			panic(fmt.Sprintf("courier: field %d of %d bytes exceeds %d", f.Fields[i].ID, len(v), MaxFieldSize))
		}
		dst = append(dst, f.Fields[i].ID)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// Marshal returns the encoding of f.
func (f *Frame) Marshal() []byte { return f.AppendTo(make([]byte, 0, f.Size())) }

// Parse decodes exactly one frame from b, which must hold nothing else.
// The fields alias b. Parse allocates only the field list, at most one
// entry per three bytes of input.
func Parse(b []byte) (Frame, error) {
	if len(b) < HeaderSize {
		return Frame{}, ErrTruncated
	}
	n := binary.BigEndian.Uint32(b[1:HeaderSize])
	if uint64(n) != uint64(len(b)-HeaderSize) {
		if uint64(n) > uint64(len(b)-HeaderSize) {
			return Frame{}, ErrTruncated
		}
		return Frame{}, ErrMalformed
	}
	return ParseBody(b[0], b[HeaderSize:], nil)
}

// ParseBody decodes the fields of a frame body for cmd, appending them to
// fields (which may be nil, or a reused slice).
func ParseBody(cmd byte, body []byte, fields []Field) (Frame, error) {
	fields = fields[:0]
	count := 0
	for rest := body; len(rest) > 0; {
		if len(rest) < FieldHeaderSize {
			return Frame{}, ErrMalformed
		}
		l := int(binary.BigEndian.Uint16(rest[1:3]))
		if len(rest)-FieldHeaderSize < l {
			return Frame{}, ErrMalformed
		}
		rest = rest[FieldHeaderSize+l:]
		count++
		if count > MaxFields {
			return Frame{}, ErrTooMany
		}
	}
	if cap(fields) < count {
		fields = make([]Field, 0, count)
	}
	for rest := body; len(rest) > 0; {
		l := int(binary.BigEndian.Uint16(rest[1:3]))
		fields = append(fields, Field{ID: rest[0], Value: rest[FieldHeaderSize : FieldHeaderSize+l : FieldHeaderSize+l]})
		rest = rest[FieldHeaderSize+l:]
	}
	return Frame{Command: cmd, Fields: fields}, nil
}

// ReadHeader reads a frame header from r and returns the command and the
// body length, refusing bodies longer than max.
func ReadHeader(r io.Reader, max int) (cmd byte, n int, err error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, err
	}
	l := binary.BigEndian.Uint32(h[1:])
	if uint64(l) > uint64(max) {
		return 0, 0, ErrTooLarge
	}
	return h[0], int(l), nil
}

// ReadFrame reads one frame from r into buf (grown when too small; the
// grown buffer is returned for reuse) and parses it. Bodies longer than max
// are refused before anything is allocated for them. The frame aliases the
// returned buffer until the next call.
func ReadFrame(r io.Reader, buf []byte, max int) (Frame, []byte, error) {
	cmd, n, err := ReadHeader(r, max)
	if err != nil {
		return Frame{}, buf, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, buf, err
	}
	f, err := ParseBody(cmd, buf, nil)
	return f, buf, err
}
