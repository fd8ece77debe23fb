package message

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// The structural check of a binary property list, run before the bytes
// reach howett.net/plist.
//
// Why: the library is correct on well-formed lists but trusts the counts and
// references of hostile ones. Measured on v1.0.1:
//
//   - a container whose declared count is huge while the object reference
//     size is 0 passes the library's length check (count × 0 bytes), and the
//     library allocates count slots: 51 bytes of input allocate 2 GiB, and a
//     larger count is a runtime panic the library re-raises;
//   - nesting is parsed recursively with a linear cycle check per level: 900 KB
//     of nested one-element arrays take 7.6 s and 64 MiB of stack;
//   - objects may be referenced many times, so a list expands exponentially
//     when decoded into interface{} values: 345 bytes become 448 MiB.
//
// So every count, offset and reference is checked here against the input,
// cycles are refused, and the object count, the nesting depth and the size of
// the expanded tree are capped (MaxPlistObjects, MaxPlistDepth,
// MaxPlistNodes). After this check the library only ever reads inside the
// input and does work proportional to it. Only the "bplist00" format is
// accepted: the XML and OpenStep parsers of the library are never reached.

const (
	bplistMagic       = "bplist00"
	bplistTrailerSize = 32
)

// Object kinds: the high nibble of the marker byte.
const (
	kindSimple = 0x0 // bool (0x08, 0x09); null and fill are refused
	kindInt    = 0x1
	kindReal   = 0x2
	kindDate   = 0x3
	kindData   = 0x4
	kindASCII  = 0x5
	kindUTF16  = 0x6
	kindArray  = 0xA
	kindDict   = 0xD
)

func kindName(k byte) string {
	switch k {
	case kindSimple:
		return "boolean"
	case kindInt:
		return "integer"
	case kindReal:
		return "real"
	case kindDate:
		return "date"
	case kindData:
		return "data"
	case kindASCII, kindUTF16:
		return "string"
	case kindArray:
		return "array"
	case kindDict:
		return "dictionary"
	}
	return "unknown"
}

// scanObj is what the check learned about one object.
type scanObj struct {
	start  int   // first byte after the marker and count
	count  int   // elements, bytes or UTF-16 units; key/value pairs of a dict
	nodes  int32 // size of the expanded tree, capped at MaxPlistNodes+1
	kind   byte
	state  uint8 // 0 unseen, 1 on the current path, 2 done
	height uint8 // container nesting below and including this object
}

// bplist is a binary property list that passed the structural check.
type bplist struct {
	b       []byte
	offSize int
	refSize int
	table   int // offset of the offset table; objects lie in [8, table)
	objs    []scanObj
	top     map[string]int // keys of the top dictionary → value object
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: binary plist: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// scanBinaryPlist checks b and indexes its top dictionary. Its allocations
// are proportional to the object count, itself at most len(b).
func scanBinaryPlist(b []byte) (*bplist, error) {
	if len(b) < len(bplistMagic) || string(b[:len(bplistMagic)]) != bplistMagic {
		return nil, malformed("no bplist00 header")
	}
	if len(b) < len(bplistMagic)+2+bplistTrailerSize {
		return nil, malformed("too short")
	}
	t := b[len(b)-bplistTrailerSize:]
	offSize, refSize := int(t[6]), int(t[7])
	numObjects := binary.BigEndian.Uint64(t[8:])
	topObject := binary.BigEndian.Uint64(t[16:])
	table := binary.BigEndian.Uint64(t[24:])
	// The library cannot read 8-byte references (its range check shifts a
	// uint64 by 64), so they are refused here too.
	if !validIntSize(offSize) || !validIntSize(refSize) || refSize == 8 {
		return nil, malformed("offset size %d or reference size %d not supported", offSize, refSize)
	}
	if numObjects == 0 {
		return nil, malformed("no objects")
	}
	if numObjects > MaxPlistObjects {
		return nil, fmt.Errorf("%w: binary plist has more than MaxPlistObjects (%d) objects", ErrTooLarge, MaxPlistObjects)
	}
	n := int(numObjects)
	end := uint64(len(b) - bplistTrailerSize)
	if table < uint64(len(bplistMagic))+1 || table > end || (end-table) != numObjects*uint64(offSize) {
		return nil, malformed("offset table does not sit between the objects and the trailer")
	}
	if topObject >= numObjects {
		return nil, malformed("top object out of range")
	}
	if numObjects > uint64(1)<<(8*refSize) {
		return nil, malformed("reference size too small for the object count")
	}
	if offSize < 8 && uint64(1)<<(8*offSize) <= table {
		return nil, malformed("offset size too small for the object area")
	}
	p := &bplist{b: b, offSize: offSize, refSize: refSize, table: int(table), objs: make([]scanObj, n)}
	top := int(topObject)
	if err := p.visit(top, 0); err != nil {
		return nil, err
	}
	root := &p.objs[top]
	if root.kind != kindDict {
		return nil, fmt.Errorf("%w: top object is a %s, not a dictionary", ErrInvalid, kindName(root.kind))
	}
	if root.height > MaxPlistDepth {
		return nil, fmt.Errorf("%w: binary plist nests deeper than MaxPlistDepth (%d)", ErrTooLarge, MaxPlistDepth)
	}
	if root.nodes > MaxPlistNodes {
		return nil, fmt.Errorf("%w: binary plist expands to more than MaxPlistNodes (%d) nodes", ErrTooLarge, MaxPlistNodes)
	}
	p.top = make(map[string]int, root.count)
	for k := range root.count {
		key := p.str(p.ref(top, k))
		if _, dup := p.top[key]; dup {
			return nil, malformed("duplicate key in the top dictionary")
		}
		p.top[key] = p.ref(top, root.count+k)
	}
	return p, nil
}

func validIntSize(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// uint reads a big-endian unsigned integer of size bytes at off; the caller
// has checked the bounds.
func (p *bplist) uint(off, size int) uint64 {
	var v uint64
	for _, c := range p.b[off : off+size] {
		v = v<<8 | uint64(c)
	}
	return v
}

// ref returns the object index of element k of container i.
func (p *bplist) ref(i, k int) int {
	return int(p.uint(p.objs[i].start+k*p.refSize, p.refSize))
}

// visit checks object i and, for a container, everything below it. depth is
// the number of containers above i. Recursion stops at MaxPlistDepth.
func (p *bplist) visit(i, depth int) error {
	o := &p.objs[i]
	switch o.state {
	case 1:
		return malformed("container contains itself")
	case 2:
		return nil
	}
	if err := p.header(i); err != nil {
		return err
	}
	if o.kind != kindArray && o.kind != kindDict {
		o.state, o.nodes = 2, 1
		return nil
	}
	if depth+1 > MaxPlistDepth {
		return fmt.Errorf("%w: binary plist nests deeper than MaxPlistDepth (%d)", ErrTooLarge, MaxPlistDepth)
	}
	o.state = 1
	refs := o.count
	if o.kind == kindDict {
		refs *= 2
	}
	nodes, height := int64(1), uint8(0)
	for k := range refs {
		c := p.ref(i, k)
		if c >= len(p.objs) {
			return malformed("reference out of range")
		}
		if err := p.visit(c, depth+1); err != nil {
			return err
		}
		co := &p.objs[c]
		if o.kind == kindDict && k < o.count && co.kind != kindASCII && co.kind != kindUTF16 {
			return malformed("dictionary key is a %s, not a string", kindName(co.kind))
		}
		nodes = min(nodes+int64(co.nodes), MaxPlistNodes+1)
		height = max(height, co.height)
	}
	o.state, o.nodes, o.height = 2, int32(nodes), height+1
	return nil
}

// header reads the marker of object i and checks that the whole object lies
// before the offset table and that strings are well-formed.
func (p *bplist) header(i int) error {
	o := &p.objs[i]
	off := int(p.uint(p.table+i*p.offSize, p.offSize))
	if off < len(bplistMagic) || off >= p.table {
		return malformed("object offset out of range")
	}
	marker := p.b[off]
	o.kind = marker >> 4
	low := int(marker & 0x0F)
	room := p.table - off - 1 // bytes after the marker
	fixed := func(size int) error {
		if size > room {
			return malformed("object runs into the offset table")
		}
		o.start = off + 1
		return nil
	}
	switch o.kind {
	case kindSimple:
		if marker != 0x08 && marker != 0x09 {
			return malformed("unsupported marker 0x%02x", marker)
		}
		return nil
	case kindInt:
		if low > 4 {
			return malformed("integer of 2^%d bytes", low)
		}
		return fixed(1 << low)
	case kindReal:
		if low != 2 && low != 3 {
			return malformed("real of 2^%d bytes", low)
		}
		return fixed(1 << low)
	case kindDate:
		if low != 3 {
			return malformed("date of 2^%d bytes", low)
		}
		return fixed(8)
	case kindData, kindASCII, kindUTF16, kindArray, kindDict:
	default:
		return malformed("unsupported marker 0x%02x", marker)
	}

	// Counted objects: the count is in the low nibble, or follows as an
	// integer object of 1, 2, 4 or 8 bytes when the nibble is 0xF.
	start, count := off+1, uint64(low)
	if low == 0xF {
		if room < 1 {
			return malformed("count runs into the offset table")
		}
		m := p.b[off+1]
		if m>>4 != kindInt || m&0x0F > 3 {
			return malformed("count is not an integer of 1 to 8 bytes")
		}
		size := 1 << (m & 0x0F)
		if 1+size > room {
			return malformed("count runs into the offset table")
		}
		count = p.uint(off+2, size)
		start = off + 2 + size
	}
	unit := uint64(1)
	switch o.kind {
	case kindUTF16:
		unit = 2
	case kindArray:
		unit = uint64(p.refSize)
	case kindDict:
		unit = 2 * uint64(p.refSize)
	}
	if count > uint64(p.table-start)/unit {
		return malformed("object runs into the offset table")
	}
	o.start, o.count = start, int(count)
	body := p.b[start : start+o.count*int(unit)]
	switch o.kind {
	case kindASCII:
		for _, c := range body {
			if c >= 0x80 {
				return fmt.Errorf("%w: binary plist: non-ASCII byte in an ASCII string", ErrInvalid)
			}
		}
	case kindUTF16:
		for k := 0; k < len(body); k += 2 {
			u := rune(binary.BigEndian.Uint16(body[k:]))
			switch {
			case utf16.IsSurrogate(u) && u < 0xDC00 && k+4 <= len(body):
				if v := rune(binary.BigEndian.Uint16(body[k+2:])); v >= 0xDC00 && v <= 0xDFFF {
					k += 2
					continue
				}
				fallthrough
			case utf16.IsSurrogate(u):
				return fmt.Errorf("%w: binary plist: unpaired surrogate in a UTF-16 string", ErrInvalid)
			}
		}
	}
	return nil
}

// str returns string object i, which visit has checked.
func (p *bplist) str(i int) string {
	o := &p.objs[i]
	if o.kind == kindASCII {
		return string(p.b[o.start : o.start+o.count])
	}
	u := make([]uint16, o.count)
	for k := range u {
		u[k] = binary.BigEndian.Uint16(p.b[o.start+2*k:])
	}
	return string(utf16.Decode(u))
}

// kindOf returns the kind of object i, which visit has checked.
func (p *bplist) kindOf(i int) byte { return p.objs[i].kind }
