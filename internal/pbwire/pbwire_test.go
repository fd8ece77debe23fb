package pbwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"runtime/metrics"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// fzInner is an InnerMessage-shaped message (pair-ec, protocol.md §1.2):
// 1 bytes, 2 uint32, 3 bytes, 99 bytes, every field optional.
type fzInner struct {
	A []byte
	N uint32
	C []byte
	D []byte
}

func fzDecodeInner(b []byte) (fzInner, error) {
	d := NewDecoder(b)
	var m fzInner
	m.A, _ = d.Bytes(1)
	m.N, _ = d.Uint32(2)
	m.C, _ = d.Bytes(3)
	m.D, _ = d.Bytes(99)
	return m, d.Finish()
}

func fzEncodeInner(m fzInner) []byte {
	var b []byte
	b = AppendBytes(b, 1, m.A)
	b = AppendUint32(b, 2, m.N)
	b = AppendBytes(b, 3, m.C)
	return AppendBytes(b, 99, m.D)
}

// fzLenientInner is a second, independent reading of the same shape: any
// field order, repeats (last wins), any encoding protowire can consume. It
// refuses unknown fields and wrong wire types. A message is canonical
// exactly when this reading re-encodes to the input.
func fzLenientInner(b []byte) (fzInner, bool) {
	var m fzInner
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return m, false
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && (num == 1 || num == 3 || num == 99):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return m, false
			}
			b = b[n:]
			switch num {
			case 1:
				m.A = v
			case 3:
				m.C = v
			case 99:
				m.D = v
			}
		case typ == protowire.VarintType && num == 2:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 || v > math.MaxUint32 {
				return m, false
			}
			b = b[n:]
			m.N = uint32(v)
		default:
			return m, false
		}
	}
	return m, true
}

func fzEqualInner(a, b fzInner) bool {
	return bytes.Equal(a.A, b.A) && a.N == b.N && bytes.Equal(a.C, b.C) && bytes.Equal(a.D, b.D)
}

func fzHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFzDecoderInnerTable(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		ok   bool
		want fzInner
	}{
		// Accepted: canonical encodings.
		{"empty", "", true, fzInner{}},
		{"field 1", "0a 01 61", true, fzInner{A: []byte("a")}},
		{"field 2", "10 05", true, fzInner{N: 5}},
		{"field 99", "9a06 01 63", true, fzInner{D: []byte("c")}},
		{"all fields", "0a0161 1005 1a0162 9a060163", true, fzInner{[]byte("a"), 5, []byte("b"), []byte("c")}},
		{"1 and 99", "0a0161 9a060163", true, fzInner{A: []byte("a"), D: []byte("c")}},
		{"counter 127", "10 7f", true, fzInner{N: 127}},
		{"counter 128", "10 8001", true, fzInner{N: 128}},
		{"counter max", "10 ffffffff0f", true, fzInner{N: math.MaxUint32}},
		{"128-byte value", "0a 8001" + strings.Repeat("61", 128), true, fzInner{A: bytes.Repeat([]byte("a"), 128)}},

		// Order.
		{"2 before 1", "1005 0a0161", false, fzInner{}},
		{"99 before 1", "9a060163 0a0161", false, fzInner{}},
		{"3 before 2", "1a0162 1005", false, fzInner{}},
		// Duplicates.
		{"1 twice", "0a0161 0a0162", false, fzInner{}},
		{"2 twice", "1005 1006", false, fzInner{}},
		{"99 twice", "9a060163 9a060163", false, fzInner{}},
		// Unknown fields.
		{"field 4", "2201 61", false, fzInner{}},
		{"field 5 varint", "2801", false, fzInner{}},
		{"field 50 between 3 and 99", "1a0162 920301 61 9a060163", false, fzInner{}},
		{"field 100 after 99", "9a060163 a20601 61", false, fzInner{}},
		{"field 0", "0201 61", false, fzInner{}},
		{"huge field number", "faffffff0f01 61", false, fzInner{}},
		// Zero values present.
		{"empty bytes 1", "0a00", false, fzInner{}},
		{"zero counter", "1000", false, fzInner{}},
		{"empty bytes 3", "1a00", false, fzInner{}},
		{"empty bytes 99", "9a0600", false, fzInner{}},
		// Non-minimal encodings.
		{"non-minimal tag 1", "8a00 01 61", false, fzInner{}},
		{"non-minimal tag 2", "9000 05", false, fzInner{}},
		{"non-minimal tag 99", "9a8600 01 63", false, fzInner{}},
		{"non-minimal varint", "10 8500", false, fzInner{}},
		{"non-minimal zero varint", "10 8000", false, fzInner{}},
		{"non-minimal length", "0a 8100 61", false, fzInner{}},
		{"non-minimal length 3 bytes", "0a 818000 61", false, fzInner{}},
		{"counter 2^32", "10 8080808010", false, fzInner{}},
		{"counter 2^64-1", "10 ffffffffffffffffff01", false, fzInner{}},
		{"varint 11 bytes", "10 8180808080808080808000", false, fzInner{}},
		// Truncated.
		{"tag only 1", "0a", false, fzInner{}},
		{"tag only 2", "10", false, fzInner{}},
		{"short value", "0a 02 61", false, fzInner{}},
		{"length past end", "0a ffffffff0f 61", false, fzInner{}},
		{"varint cut", "10 80", false, fzInner{}},
		{"tag cut", "9a", false, fzInner{}},
		{"second field cut", "0a0161 10", false, fzInner{}},
		// Wrong wire types.
		{"1 as varint", "0801", false, fzInner{}},
		{"1 as fixed32", "0d 00000000", false, fzInner{}},
		{"1 as fixed64", "09 0000000000000000", false, fzInner{}},
		{"2 as bytes", "1201 61", false, fzInner{}},
		{"2 as fixed64", "11 0500000000000000", false, fzInner{}},
		{"3 as start group", "1b 1c", false, fzInner{}},
		{"99 as varint", "9806 01", false, fzInner{}},
		{"wire type 6", "0e 01", false, fzInner{}},
		{"wire type 7", "0f 01", false, fzInner{}},
		// Trailing garbage.
		{"trailing zero", "0a0161 00", false, fzInner{}},
	} {
		in := fzHex(t, c.in)
		got, err := fzDecodeInner(in)
		if (err == nil) != c.ok {
			t.Errorf("%s (%x): error %v, want accepted %v", c.name, in, err, c.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: error %v is not ErrMalformed", c.name, err)
			}
			continue
		}
		if !fzEqualInner(got, c.want) {
			t.Errorf("%s: decoded %+v, want %+v", c.name, got, c.want)
		}
		if enc := fzEncodeInner(got); !bytes.Equal(enc, in) {
			t.Errorf("%s: re-encodes to %x", c.name, enc)
		}
		// The independent reading agrees.
		if m, ok := fzLenientInner(in); !ok || !fzEqualInner(m, c.want) {
			t.Errorf("%s: lenient reading %+v %v", c.name, m, ok)
		}
	}
}

// TestFzDecoderRequired covers FixedBytes, RequiredBytes and Fixed64, which
// make a field mandatory (PublicDevicePrekey and OuterMessage shapes).
func TestFzDecoderRequired(t *testing.T) {
	type got struct {
		a, b []byte
		c    uint64
	}
	// 1 fixed 4 bytes, 2 at least 2 bytes, 3 fixed64.
	decode := func(in []byte) (got, error) {
		d := NewDecoder(in)
		var g got
		g.a = d.FixedBytes(1, 4)
		g.b = d.RequiredBytes(2, 2)
		g.c = d.Fixed64(3)
		return g, d.Finish()
	}
	for _, c := range []struct {
		name string
		in   string
		ok   bool
		want got
	}{
		{"canonical", "0a04 01020304 1202 0506 19 0807060504030201", true, got{[]byte{1, 2, 3, 4}, []byte{5, 6}, 0x0102030405060708}},
		{"longer 2", "0a04 01020304 1203 050607 19 0000000000000000", true, got{[]byte{1, 2, 3, 4}, []byte{5, 6, 7}, 0}},
		{"fixed64 all ones", "0a04 01020304 1202 0506 19 ffffffffffffffff", true, got{[]byte{1, 2, 3, 4}, []byte{5, 6}, math.MaxUint64}},
		{"1 three bytes", "0a03 010203 1202 0506 19 0807060504030201", false, got{}},
		{"1 five bytes", "0a05 0102030405 1202 0506 19 0807060504030201", false, got{}},
		{"1 missing", "1202 0506 19 0807060504030201", false, got{}},
		{"1 empty", "0a00 1202 0506 19 0807060504030201", false, got{}},
		{"2 too short", "0a04 01020304 1201 05 19 0807060504030201", false, got{}},
		{"2 missing", "0a04 01020304 19 0807060504030201", false, got{}},
		{"3 missing", "0a04 01020304 1202 0506", false, got{}},
		{"3 cut", "0a04 01020304 1202 0506 19 08070605040302", false, got{}},
		{"3 as varint", "0a04 01020304 1202 0506 18 01", false, got{}},
		{"3 as fixed32", "0a04 01020304 1202 0506 1d 04030201", false, got{}},
		{"3 non-minimal tag", "0a04 01020304 1202 0506 9900 0807060504030201", false, got{}},
		{"3 twice", "0a04 01020304 1202 0506 19 0807060504030201 19 0807060504030201", false, got{}},
		{"field 4 after", "0a04 01020304 1202 0506 19 0807060504030201 2001", false, got{}},
		{"empty", "", false, got{}},
	} {
		in := fzHex(t, c.in)
		g, err := decode(in)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want accepted %v", c.name, err, c.ok)
			continue
		}
		if err == nil && (!bytes.Equal(g.a, c.want.a) || !bytes.Equal(g.b, c.want.b) || g.c != c.want.c) {
			t.Errorf("%s: decoded %+v, want %+v", c.name, g, c.want)
		}
	}
}

func TestFzDecoderStopsAtFirstError(t *testing.T) {
	// Field 1 is refused (empty); the later, well-formed fields must not be
	// read, and everything reports the failure.
	in := fzHex(t, "0a00 1005 1a0162")
	d := NewDecoder(in)
	if v, ok := d.Bytes(1); ok || v != nil {
		t.Errorf("Bytes(1) = %x, %v", v, ok)
	}
	if v, ok := d.Uint32(2); ok || v != 0 {
		t.Errorf("Uint32(2) after an error = %d, %v", v, ok)
	}
	if v, ok := d.Bytes(3); ok || v != nil {
		t.Errorf("Bytes(3) after an error = %x, %v", v, ok)
	}
	if v := d.Fixed64(4); v != 0 {
		t.Errorf("Fixed64 after an error = %d", v)
	}
	if err := d.Finish(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Finish = %v", err)
	}
	// An absent optional field leaves the decoder usable.
	d = NewDecoder(fzHex(t, "1a0162"))
	if _, ok := d.Bytes(1); ok {
		t.Error("absent field 1 reported present")
	}
	if _, ok := d.Uint32(2); ok {
		t.Error("absent field 2 reported present")
	}
	if v, ok := d.Bytes(3); !ok || string(v) != "b" {
		t.Errorf("Bytes(3) = %q, %v", v, ok)
	}
	if err := d.Finish(); err != nil {
		t.Errorf("Finish = %v", err)
	}
	// Reading the fields out of order is a caller bug the decoder reports.
	d = NewDecoder(fzHex(t, "0a0161 1a0162"))
	if _, ok := d.Bytes(3); ok {
		t.Error("Bytes(3) read past field 1")
	}
	if err := d.Finish(); err == nil {
		t.Error("Finish accepted unread fields")
	}
}

func TestFzDecoderAliases(t *testing.T) {
	in := fzHex(t, "0a03 616263")
	d := NewDecoder(in)
	v, ok := d.Bytes(1)
	if !ok || d.Finish() != nil {
		t.Fatal("refused")
	}
	if &v[0] != &in[2] || cap(v) < 3 {
		t.Error("value does not alias the input")
	}
}

func TestFzAppendOmitsDefaults(t *testing.T) {
	prefix := []byte{0xAA, 0xBB}
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"bytes nil", AppendBytes(nil, 1, nil), ""},
		{"bytes empty", AppendBytes(nil, 1, []byte{}), ""},
		{"bytes empty after prefix", AppendBytes(bytes.Clone(prefix), 3, []byte{}), "aabb"},
		{"bytes one", AppendBytes(nil, 1, []byte("a")), "0a0161"},
		{"bytes field 3", AppendBytes(nil, 3, []byte("b")), "1a0162"},
		{"bytes field 99", AppendBytes(nil, 99, []byte("c")), "9a060163"},
		{"bytes after prefix", AppendBytes(bytes.Clone(prefix), 1, []byte("a")), "aabb0a0161"},
		{"bytes 128 long", AppendBytes(nil, 1, bytes.Repeat([]byte{7}, 128)), "0a8001" + strings.Repeat("07", 128)},
		{"bytes zero byte", AppendBytes(nil, 1, []byte{0}), "0a0100"},
		{"uint32 zero", AppendUint32(nil, 2, 0), ""},
		{"uint32 zero after prefix", AppendUint32(bytes.Clone(prefix), 2, 0), "aabb"},
		{"uint32 1", AppendUint32(nil, 2, 1), "1001"},
		{"uint32 300", AppendUint32(nil, 2, 300), "10ac02"},
		{"uint32 max", AppendUint32(nil, 2, math.MaxUint32), "10ffffffff0f"},
		{"uint32 field 99", AppendUint32(nil, 99, 1), "980601"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// Omission keeps the caller's slice as it was.
	if b := AppendBytes(prefix, 1, nil); &b[0] != &prefix[0] || len(b) != 2 {
		t.Error("AppendBytes of an empty value changed the slice")
	}
	if b := AppendUint32(prefix, 2, 0); &b[0] != &prefix[0] || len(b) != 2 {
		t.Error("AppendUint32 of zero changed the slice")
	}
}

func TestFzEncodeDecodeRoundTrip(t *testing.T) {
	vals := [][]byte{nil, {0}, []byte("x"), bytes.Repeat([]byte{0xFF}, 200)}
	nums := []uint32{0, 1, 127, 128, 1 << 31, math.MaxUint32}
	for _, a := range vals {
		for _, n := range nums {
			for _, c := range vals {
				for _, d := range vals {
					m := fzInner{a, n, c, d}
					enc := fzEncodeInner(m)
					got, err := fzDecodeInner(enc)
					if err != nil {
						t.Fatalf("%+v: %v", m, err)
					}
					if !fzEqualInner(got, m) {
						t.Fatalf("%+v decoded as %+v", m, got)
					}
				}
			}
		}
	}
}

func fzAllocated(fn func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// FuzzDecoder decodes an InnerMessage-shaped message. Accepted input must
// re-encode to the same bytes, and the decoder must accept exactly the
// inputs that an independent, lenient reading re-encodes to themselves.
// Seeds: testdata/fuzz/FuzzDecoder (the vectors' inner messages, a prekey
// record, an outer message, a few near misses).
func FuzzDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var m fzInner
		var err error
		// The decoder aliases its input: it should allocate next to nothing.
		if n := fzAllocated(func() { m, err = fzDecodeInner(b) }); n > 1<<20 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(b), n)
		}
		lenient, lok := fzLenientInner(b)
		canonical := lok && bytes.Equal(fzEncodeInner(lenient), b)
		if (err == nil) != canonical {
			t.Fatalf("%x: decoder error %v, but canonical = %v", b, err, canonical)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if enc := fzEncodeInner(m); !bytes.Equal(enc, b) {
			t.Fatalf("decode → encode changed the bytes:\n in %x\nout %x", b, enc)
		}
		if !fzEqualInner(m, lenient) {
			t.Fatalf("decoded %+v, lenient reading %+v", m, lenient)
		}
	})
}
