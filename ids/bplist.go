package ids

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict reader and a small writer of binary property lists ("bplist00"),
// enough for the IDS message dictionaries: dictionaries with string keys,
// arrays, integers, booleans, data and strings.
//
// The reader only walks what the schema asks for, from the top object
// down, and checks every offset, count and reference against the input
// before using it: it never reads outside the input, never follows more
// than two levels of containers, allocates at most in proportion to the
// input (data values alias it; each string object is converted once), and
// refuses lists with more destinations than MaxDestinations. Objects the
// schema does not ask for (values of unknown keys, unreferenced objects)
// are not parsed at all.
//
// Why not howett.net/plist for this: the relay decodes one dictionary and
// encodes one per delivery, at tens of thousands per second; the library
// takes about 40 µs and 25 µs for these (reflection), and trusts the
// counts of hostile lists (see package message). The library is the
// independent implementation the tests compare against.

const (
	bplistMagic   = "bplist00"
	trailerSize   = 32
	markerBool    = 0x0
	markerInt     = 0x1
	markerData    = 0x4
	markerASCII   = 0x5
	markerUTF16   = 0x6
	markerArray   = 0xA
	markerDict    = 0xD
	boolFalse     = 0x08
	boolTrue      = 0x09
	maxKeyLen     = 8 // longer keys are never ours; they are skipped unread
	maxStringSize = 1024
)

// MaxDestinations is the most entries a dtl list may have.
const MaxDestinations = 512

var errPlist = errors.New("ids: not a valid binary property list")

func plistErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errPlist}, a...)...)
}

type reader struct {
	b        []byte
	offSize  int
	refSize  int
	nObjects uint64
	offTable int // start of the offset table = end of the object area
	strings  map[uint64]string
}

func newReader(b []byte) (*reader, uint64, error) {
	if len(b) < len(bplistMagic)+trailerSize || string(b[:len(bplistMagic)]) != bplistMagic {
		return nil, 0, plistErr("no bplist00 header")
	}
	t := b[len(b)-trailerSize:]
	r := &reader{b: b, offSize: int(t[6]), refSize: int(t[7])}
	r.nObjects = binary.BigEndian.Uint64(t[8:16])
	top := binary.BigEndian.Uint64(t[16:24])
	offTable := binary.BigEndian.Uint64(t[24:32])
	if r.offSize < 1 || r.offSize > 8 || r.refSize < 1 || r.refSize > 8 {
		return nil, 0, plistErr("integer sizes %d/%d", r.offSize, r.refSize)
	}
	end := uint64(len(b) - trailerSize)
	if offTable < uint64(len(bplistMagic)) || offTable > end ||
		r.nObjects == 0 || r.nObjects > (end-offTable)/uint64(r.offSize) || top >= r.nObjects {
		return nil, 0, plistErr("trailer does not fit the input")
	}
	r.offTable = int(offTable)
	return r, top, nil
}

func readUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// object returns the marker of object ref, the start of its contents and
// its count (elements, bytes or UTF-16 units), checking that the contents
// of width unit per element lie inside the object area.
func (r *reader) object(ref uint64) (marker byte, start, count int, err error) {
	if ref >= r.nObjects {
		return 0, 0, 0, plistErr("reference %d out of range", ref)
	}
	p := r.offTable + int(ref)*r.offSize
	off := readUint(r.b[p : p+r.offSize])
	if off < uint64(len(bplistMagic)) || off >= uint64(r.offTable) {
		return 0, 0, 0, plistErr("object offset out of range")
	}
	pos := int(off)
	m := r.b[pos]
	marker = m >> 4
	pos++
	n := uint64(m & 0x0F)
	switch marker {
	case markerBool:
		if m != boolFalse && m != boolTrue {
			return 0, 0, 0, plistErr("unsupported simple object %#x", m)
		}
		return marker, pos, 0, nil
	case markerInt:
		if n > 3 {
			return 0, 0, 0, plistErr("integer of %d bytes", 1<<n)
		}
		return marker, pos, 1 << n, r.inside(pos, 1<<n, 1)
	case markerData, markerASCII, markerUTF16, markerArray, markerDict:
	default:
		return 0, 0, 0, plistErr("unsupported object type %#x", m)
	}
	if n == 0x0F { // the count follows as an integer object
		if pos >= r.offTable {
			return 0, 0, 0, plistErr("truncated count")
		}
		cm := r.b[pos]
		if cm>>4 != markerInt || cm&0x0F > 3 {
			return 0, 0, 0, plistErr("bad count marker")
		}
		w := 1 << (cm & 0x0F)
		if err := r.inside(pos+1, w, 1); err != nil {
			return 0, 0, 0, err
		}
		n = readUint(r.b[pos+1 : pos+1+w])
		pos += 1 + w
	}
	unit := 1
	switch marker {
	case markerUTF16:
		unit = 2
	case markerArray:
		unit = r.refSize
	case markerDict:
		unit = 2 * r.refSize
	}
	if n > uint64(r.offTable) {
		return 0, 0, 0, plistErr("count out of range")
	}
	return marker, pos, int(n), r.inside(pos, int(n), unit)
}

func (r *reader) inside(start, count, unit int) error {
	if uint64(start)+uint64(count)*uint64(unit) > uint64(r.offTable) {
		return plistErr("object runs past the object area")
	}
	return nil
}

func (r *reader) ref(pos int) uint64 { return readUint(r.b[pos : pos+r.refSize]) }

func (r *reader) int(ref uint64) (int64, error) {
	m, start, n, err := r.object(ref)
	if err != nil {
		return 0, err
	}
	if m != markerInt {
		return 0, plistErr("want an integer")
	}
	// 1-, 2- and 4-byte integers are unsigned; 8-byte ones are signed,
	// which the conversion gives.
	return int64(readUint(r.b[start : start+n])), nil
}

func (r *reader) bool(ref uint64) (bool, error) {
	m, start, _, err := r.object(ref)
	if err != nil {
		return false, err
	}
	if m != markerBool {
		return false, plistErr("want a boolean")
	}
	return r.b[start-1] == boolTrue, nil
}

// data returns the bytes of a data object, aliasing the input.
func (r *reader) data(ref uint64) ([]byte, error) {
	m, start, n, err := r.object(ref)
	if err != nil {
		return nil, err
	}
	if m != markerData {
		return nil, plistErr("want data")
	}
	return r.b[start : start+n : start+n], nil
}

func (r *reader) string(ref uint64) (string, error) {
	if s, ok := r.strings[ref]; ok {
		return s, nil
	}
	m, start, n, err := r.object(ref)
	if err != nil {
		return "", err
	}
	var s string
	switch m {
	case markerASCII:
		if n > maxStringSize {
			return "", plistErr("string of %d bytes", n)
		}
		raw := r.b[start : start+n]
		for _, c := range raw {
			if c >= utf8.RuneSelf {
				return "", plistErr("non-ASCII byte in an ASCII string")
			}
		}
		s = string(raw)
	case markerUTF16:
		if n > maxStringSize {
			return "", plistErr("string of %d units", n)
		}
		u := make([]uint16, n)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(r.b[start+2*i:])
		}
		s = string(utf16.Decode(u))
	default:
		return "", plistErr("want a string")
	}
	if r.strings == nil {
		r.strings = make(map[uint64]string)
	}
	r.strings[ref] = s
	return s, nil
}

// key returns a dictionary key if it is a short ASCII string, or "" (never
// one of ours) otherwise. It does not allocate.
func (r *reader) key(ref uint64) (string, error) {
	m, start, n, err := r.object(ref)
	if err != nil {
		return "", err
	}
	if m != markerASCII && m != markerUTF16 {
		return "", plistErr("dictionary key is not a string")
	}
	if m != markerASCII || n > maxKeyLen {
		return "", nil
	}
	return unsafeKey(r.b[start : start+n]), nil
}

// unsafeKey maps the bytes of a key onto one of our key constants without
// allocating; anything else becomes "".
func unsafeKey(b []byte) string {
	for _, k := range allKeys {
		if string(b) == k {
			return k
		}
	}
	return ""
}

var allKeys = []string{keyCommand, keyVersion, keyID, keyUUID, keySender, keyScheme, keyChunk,
	keyUserAgent, keyExpiry, keyNoResponse, keyDestinations, keyRecipient, keyToken,
	keySessionToken, keyDeliveryStatus, keyPayload, keyTimestamp, keyStatus}

// dict calls fn for each of our keys in dictionary ref, refusing a key
// that appears twice.
func (r *reader) dict(ref uint64, fn func(key string, val uint64) error) error {
	m, start, n, err := r.object(ref)
	if err != nil {
		return err
	}
	if m != markerDict {
		return plistErr("want a dictionary")
	}
	var seen uint32
	for i := 0; i < n; i++ {
		k, err := r.key(r.ref(start + i*r.refSize))
		if err != nil {
			return err
		}
		if k == "" {
			continue
		}
		bit := uint32(1)
		for j, kk := range allKeys {
			if kk == k {
				bit <<= j
				break
			}
		}
		if seen&bit != 0 {
			return plistErr("key %q appears twice", k)
		}
		seen |= bit
		if err := fn(k, r.ref(start+(n+i)*r.refSize)); err != nil {
			return err
		}
	}
	return nil
}

// array returns the element references of array ref.
func (r *reader) array(ref uint64, max int) (start, n int, err error) {
	m, start, n, err := r.object(ref)
	if err != nil {
		return 0, 0, err
	}
	if m != markerArray {
		return 0, 0, plistErr("want an array")
	}
	if n > max {
		return 0, 0, plistErr("array of %d elements, limit %d", n, max)
	}
	return start, n, nil
}

// The writer.

// pv is a property-list value to encode.
type pv struct {
	kind  byte
	i     int64
	b     bool
	bytes []byte
	s     string
	keys  []string
	vals  []pv
}

func pInt(v int64) pv     { return pv{kind: markerInt, i: v} }
func pBool(v bool) pv     { return pv{kind: markerBool, b: v} }
func pData(v []byte) pv   { return pv{kind: markerData, bytes: v} }
func pString(v string) pv { return pv{kind: markerASCII, s: v} }
func pArray(v []pv) pv    { return pv{kind: markerArray, vals: v} }
func pDict(keys []string, vals []pv) pv {
	return pv{kind: markerDict, keys: keys, vals: vals}
}

// encode writes root as a bplist00. Objects are numbered depth-first,
// containers before their contents; the dictionary keys follow, each
// written once, in first-use order.
func encode(root pv) []byte {
	// Objects in depth-first order, and the size of each one's subtree.
	objs := make([]*pv, 0, 16)
	var visit func(v *pv) int
	sizes := make([]int, 0, 16)
	visit = func(v *pv) int {
		j := len(objs)
		objs = append(objs, v)
		sizes = append(sizes, 0)
		n := 1
		for i := range v.vals {
			n += visit(&v.vals[i])
		}
		sizes[j] = n
		return n
	}
	visit(&root)
	var keys []string
	keyRef := func(k string) int {
		for i, kk := range keys {
			if kk == k {
				return len(objs) + i
			}
		}
		keys = append(keys, k)
		return len(objs) + len(keys) - 1
	}
	for _, v := range objs {
		for _, k := range v.keys {
			keyRef(k)
		}
	}
	nObj := len(objs) + len(keys)
	refSize := 1
	if nObj > 0xFF {
		refSize = 2
	}
	out := make([]byte, 0, 64+size(&root)+8*nObj)
	out = append(out, bplistMagic...)
	offsets := make([]int, nObj)
	for j, v := range objs {
		offsets[j] = len(out)
		switch v.kind {
		case markerBool:
			if v.b {
				out = append(out, boolTrue)
			} else {
				out = append(out, boolFalse)
			}
		case markerInt:
			out = appendInt(out, v.i)
		case markerData:
			out = appendCount(out, markerData, len(v.bytes))
			out = append(out, v.bytes...)
		case markerASCII:
			out = appendString(out, v.s)
		case markerArray, markerDict:
			if v.kind == markerArray {
				out = appendCount(out, markerArray, len(v.vals))
			} else {
				out = appendCount(out, markerDict, len(v.keys))
				for _, k := range v.keys {
					out = appendRef(out, keyRef(k), refSize)
				}
			}
			child := j + 1
			for range v.vals {
				out = appendRef(out, child, refSize)
				child += sizes[child]
			}
		}
	}
	for i, k := range keys {
		offsets[len(objs)+i] = len(out)
		out = appendString(out, k)
	}
	offTable := len(out)
	offSize := 1
	for offTable > (1<<(8*offSize))-1 {
		offSize++
	}
	for _, o := range offsets {
		out = appendRef(out, o, offSize)
	}
	out = append(out, 0, 0, 0, 0, 0, 0, byte(offSize), byte(refSize))
	out = binary.BigEndian.AppendUint64(out, uint64(nObj))
	out = binary.BigEndian.AppendUint64(out, 0)
	out = binary.BigEndian.AppendUint64(out, uint64(offTable))
	return out
}

func size(v *pv) int {
	n := 8 + len(v.bytes) + 2*len(v.s)
	for i := range v.vals {
		n += size(&v.vals[i]) + 4
	}
	return n
}

func appendRef(b []byte, v, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v < 0 || v > math.MaxUint32:
		b = append(b, markerInt<<4|3)
		return binary.BigEndian.AppendUint64(b, uint64(v))
	case v > math.MaxUint16:
		b = append(b, markerInt<<4|2)
		return binary.BigEndian.AppendUint32(b, uint32(v))
	case v > math.MaxUint8:
		b = append(b, markerInt<<4|1)
		return binary.BigEndian.AppendUint16(b, uint16(v))
	default:
		return append(b, markerInt<<4, byte(v))
	}
}

func appendCount(b []byte, marker byte, n int) []byte {
	if n < 0x0F {
		return append(b, marker<<4|byte(n))
	}
	b = append(b, marker<<4|0x0F)
	return appendInt(b, int64(n))
}

func appendString(b []byte, s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		b = appendCount(b, markerASCII, len(s))
		return append(b, s...)
	}
	u := utf16.Encode([]rune(s))
	b = appendCount(b, markerUTF16, len(u))
	for _, c := range u {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return b
}
