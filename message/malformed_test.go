package message

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A catalogue of bad input: each case gets its own error, never a panic.

type badCase struct {
	name      string
	in        []byte
	want      error
	fragments []string
}

func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.in)
			if m != nil {
				t.Fatalf("decoded %s", dump(m))
			}
			wantErr(t, err, c.want, c.fragments...)
			if !isOurs(err) {
				t.Fatalf("error %v wraps more or less than one sentinel", err)
			}
		})
	}
}

func TestMalformedGzip(t *testing.T) {
	good, err := Encode(shortMessage())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[(i+len(b))%len(b)] ^= 0x01
		return b
	}
	var multi bytes.Buffer
	multi.Write(good)
	multi.Write(good)
	raw, _ := Marshal(shortMessage())
	runBad(t, []badCase{
		{"empty", nil, ErrMalformed, []string{"bplist00"}},
		{"text", []byte("hello world"), ErrMalformed, []string{"bplist00"}},
		{"xml plist", []byte(`<?xml version="1.0"?><plist version="1.0"><dict/></plist>`), ErrMalformed, []string{"bplist00"}},
		{"bplist01", append([]byte("bplist01"), raw[8:]...), ErrMalformed, []string{"bplist00"}},
		{"gzip magic only", []byte{0x1f, 0x8b}, ErrMalformed, []string{"gzip"}},
		{"gzip header only", good[:10], ErrMalformed, []string{"gzip"}},
		{"truncated gzip", good[:len(good)/2], ErrMalformed, []string{"truncated"}},
		{"truncated trailer", good[:len(good)-3], ErrMalformed, []string{"truncated"}},
		{"bad CRC", flip(-8), ErrMalformed, []string{"checksum"}},
		{"bad ISIZE", flip(-1), ErrMalformed, []string{"checksum"}},
		{"bad method", flip(2), ErrMalformed, []string{"gzip header"}},
		{"corrupt deflate", flip(12), ErrMalformed, nil},
		{"trailing garbage", append(bytes.Clone(good), 0), ErrMalformed, []string{"after the gzip member"}},
		{"two members", multi.Bytes(), ErrMalformed, []string{"after the gzip member"}},
		{"gzip of text", gz(t, []byte("hello")), ErrMalformed, []string{"bplist00"}},
		{"gzip of nothing", gz(t, nil), ErrMalformed, []string{"bplist00"}},
	})
}

// TestGzipBomb: 100 MiB of zeros, compressed to about 100 KiB, is refused
// after MaxDecompressedSize+1 bytes with bounded allocation. The bomb was
// made by Python:
//
//	python3 -c "import gzip,sys; sys.stdout.buffer.write(gzip.compress(bytes(100<<20), 9, mtime=0))"
func TestGzipBomb(t *testing.T) {
	bomb, err := os.ReadFile("testdata/bomb-100MiB-zeros.gz")
	if err != nil {
		t.Fatal(err)
	}
	if isize := binary.LittleEndian.Uint32(bomb[len(bomb)-4:]); isize != 100<<20 {
		t.Fatalf("bomb declares %d bytes", isize)
	}
	// The same bomb with a trailer that lies about its size.
	liar := bytes.Clone(bomb)
	binary.LittleEndian.PutUint32(liar[len(liar)-4:], 10)

	for _, bomb := range [][]byte{bomb, liar} {
		Decode(bomb) // warm up pools and lazily initialised tables
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(bomb)
		runtime.ReadMemStats(&after)
		wantErr(t, err, ErrTooLarge, "MaxDecompressedSize")
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("allocated %d bytes", alloc)
		if alloc > 4<<20 {
			t.Fatalf("Decode of a bomb allocated %d bytes, want < 4 MiB", alloc)
		}
	}
}

// TestGunzipSizeHint: a trailer that understates or overstates the size
// changes only the starting capacity, never the result.
func TestGunzipSizeHint(t *testing.T) {
	enc, err := Encode(richMessage())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(richMessage())
	for _, isize := range []uint32{0, 1, uint32(len(want)), 1 << 31} {
		b := bytes.Clone(enc)
		binary.LittleEndian.PutUint32(b[len(b)-4:], isize)
		got, err := gunzip(b)
		if isize != uint32(len(want)) {
			// The trailer is checked after the data: a wrong ISIZE fails.
			wantErr(t, err, ErrMalformed)
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ISIZE %d: %v", isize, err)
		}
	}
}

// TestLibraryBombs feeds the inputs that break howett.net/plist on its own
// (bplist.go): each must be refused by the structural check, cheaply.
func TestLibraryBombs(t *testing.T) {
	// A container declaring 2^27 elements with 0-byte references.
	hugeCount := rawPlist{objs: [][]byte{{0xAF, 0x13, 0, 0, 0, 0, 8, 0, 0, 0}}, refSize: 0, offSize: 1}.bytes()

	// Nested one-element arrays, refs and offsets of 4 bytes.
	nested := func(depth int) []byte {
		r := rawPlist{refSize: 4, offSize: 4}
		for i := range depth {
			if i == depth-1 {
				r.objs = append(r.objs, []byte{0xA0})
			} else {
				o := []byte{0xA1, 0, 0, 0, 0}
				binary.BigEndian.PutUint32(o[1:], uint32(i+1))
				r.objs = append(r.objs, o)
			}
		}
		return r.bytes()
	}
	// Arrays that each reference the next one four times, under a message
	// dictionary: 4^13 paths through 14 objects.
	dagDepth := 14
	dag := minimalRaw([]byte{6}, []byte{7}, oASCII("zz"))
	for i := range dagDepth {
		next := byte(8 + i)
		if i == dagDepth-1 {
			dag.objs = append(dag.objs, oArray())
		} else {
			dag.objs = append(dag.objs, oArray(next, next, next, next))
		}
	}

	runBad(t, []badCase{
		{"huge count, ref size 0", hugeCount, ErrMalformed, []string{"reference size"}},
		{"100000 nested arrays", nested(100000), ErrTooLarge, []string{"MaxPlistObjects"}},
		{"4000 nested arrays", nested(4000), ErrTooLarge, []string{"MaxPlistDepth"}},
		{"shared references", dag.bytes(), ErrTooLarge, []string{"MaxPlistNodes"}},
	})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	Decode(hugeCount)
	Decode(dag.bytes())
	Decode(nested(4000))
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("allocated %d bytes", alloc)
	}
}

func TestMalformedPlistStructure(t *testing.T) {
	good := minimalRaw(nil, nil)
	if _, err := Decode(good.bytes()); err != nil {
		t.Fatalf("the hand-built base does not decode: %v", err)
	}
	with := func(f func(r *rawPlist)) []byte {
		r := minimalRaw(nil, nil)
		f(&r)
		return r.bytes()
	}
	trailer := func(f func(tr []byte)) []byte {
		b := good.bytes()
		f(b[len(b)-32:])
		return b
	}
	cyclic := minimalRaw([]byte{6}, []byte{7}, oASCII("zz"), oArray(8), oArray(7))
	dupKey := minimalRaw([]byte{6}, []byte{4}, oASCII("r"))
	runBad(t, []badCase{
		{"too short", []byte("bplist00" + strings.Repeat("\x00", 20)), ErrMalformed, []string{"too short"}},
		{"offset size 3", trailer(func(tr []byte) { tr[6] = 3 }), ErrMalformed, []string{"offset size"}},
		{"ref size 8", trailer(func(tr []byte) { tr[7] = 8 }), ErrMalformed, []string{"reference size"}},
		{"ref size 0", trailer(func(tr []byte) { tr[7] = 0 }), ErrMalformed, []string{"reference size"}},
		{"no objects", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[8:], 0) }), ErrMalformed, []string{"no objects"}},
		{"too many objects", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[8:], 1<<62) }), ErrTooLarge, []string{"MaxPlistObjects"}},
		{"count disagrees with table", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[8:], 5) }), ErrMalformed, []string{"offset table"}},
		{"top out of range", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[16:], 6) }), ErrMalformed, []string{"top object"}},
		{"table offset huge", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[24:], 1<<63) }), ErrMalformed, []string{"offset table"}},
		{"table in header", trailer(func(tr []byte) { binary.BigEndian.PutUint64(tr[24:], 4) }), ErrMalformed, []string{"offset table"}},
		{"object offset past table", func() []byte {
			b := good.bytes()
			table := int(binary.BigEndian.Uint64(b[len(b)-8:]))
			binary.BigEndian.PutUint32(b[table+4:], uint32(table+2))
			return b
		}(), ErrMalformed, []string{"object offset"}},
		{"object offset in header", func() []byte {
			b := good.bytes()
			table := int(binary.BigEndian.Uint64(b[len(b)-8:]))
			binary.BigEndian.PutUint32(b[table+4:], 3)
			return b
		}(), ErrMalformed, []string{"object offset"}},
		// Object 5 is the last before the offset table.
		{"string runs into table", with(func(r *rawPlist) { r.objs[5] = []byte{0x5E, 'r'} }), ErrMalformed, []string{"runs into"}},
		{"count runs into table", with(func(r *rawPlist) { r.objs[5] = []byte{0x5F, 0x13, 0, 0} }), ErrMalformed, []string{"runs into"}},
		{"count not an integer", with(func(r *rawPlist) { r.objs[5] = []byte{0x5F, 0x22, 1, 'a'} }), ErrMalformed, []string{"count"}},
		{"integer runs into table", with(func(r *rawPlist) { r.objs[5] = []byte{0x13, 0} }), ErrMalformed, []string{"runs into"}},
		{"huge count", with(func(r *rawPlist) {
			r.objs[3] = []byte{0x4F, 0x13, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
		}), ErrMalformed, []string{"runs into"}},
		{"integer of 32 bytes", with(func(r *rawPlist) { r.objs[3] = []byte{0x15} }), ErrMalformed, []string{"integer"}},
		{"real of 2 bytes", with(func(r *rawPlist) { r.objs[3] = []byte{0x21, 0, 0} }), ErrMalformed, []string{"real"}},
		{"date of 4 bytes", with(func(r *rawPlist) { r.objs[3] = []byte{0x32, 0, 0, 0, 0} }), ErrMalformed, []string{"date"}},
		{"null", with(func(r *rawPlist) { r.objs[3] = []byte{0x00} }), ErrMalformed, []string{"marker 0x00"}},
		{"fill", with(func(r *rawPlist) { r.objs[3] = []byte{0x0F} }), ErrMalformed, []string{"marker 0x0f"}},
		{"UID", with(func(r *rawPlist) { r.objs[3] = []byte{0x80, 1} }), ErrMalformed, []string{"marker 0x80"}},
		{"set", with(func(r *rawPlist) { r.objs[3] = []byte{0xC0} }), ErrMalformed, []string{"marker 0xc0"}},
		{"reference out of range", with(func(r *rawPlist) { r.objs[2] = oArray(9) }), ErrMalformed, []string{"reference out of range"}},
		{"self-containing array", with(func(r *rawPlist) { r.objs[2] = oArray(2) }), ErrMalformed, []string{"contains itself"}},
		{"cycle through two arrays", cyclic.bytes(), ErrMalformed, []string{"contains itself"}},
		{"self-containing top", with(func(r *rawPlist) { r.objs[2] = oArray(0) }), ErrMalformed, []string{"contains itself"}},
		{"non-string key", with(func(r *rawPlist) { r.objs[0] = oDict([]byte{2, 5}, []byte{2, 4}) }), ErrMalformed, []string{"key is a array"}},
		{"duplicate key", dupKey.bytes(), ErrMalformed, []string{"duplicate key"}},
		{"top is array", with(func(r *rawPlist) { r.top = 2 }), ErrInvalid, []string{"not a dictionary"}},
		{"top is string", with(func(r *rawPlist) { r.top = 3 }), ErrInvalid, []string{"not a dictionary"}},
	})
}

func TestMalformedStrings(t *testing.T) {
	utf16 := func(units ...uint16) []byte {
		b := []byte{0x60 | byte(len(units))}
		for _, u := range units {
			b = binary.BigEndian.AppendUint16(b, u)
		}
		return b
	}
	text := func(obj []byte) []byte {
		return minimalRaw([]byte{6}, []byte{7}, oASCII("t"), obj).bytes()
	}
	// Valid UTF-16 with a surrogate pair decodes.
	m, err := Decode(text(utf16('h', 0xD83D, 0xDC4B)))
	if err != nil || m.Text != "h👋" {
		t.Fatalf("UTF-16 pair: %v", err)
	}
	runBad(t, []badCase{
		{"non-ASCII byte in ASCII string", text([]byte{0x52, 'a', 0xFF}), ErrInvalid, []string{"non-ASCII"}},
		{"lone high surrogate", text(utf16('a', 0xD800)), ErrInvalid, []string{"surrogate"}},
		{"high surrogate then letter", text(utf16(0xD800, 'a')), ErrInvalid, []string{"surrogate"}},
		{"lone low surrogate", text(utf16(0xDC00, 'a')), ErrInvalid, []string{"surrogate"}},
		{"non-ASCII byte in a key", minimalRaw([]byte{6}, []byte{3}, []byte{0x52, 't', 0x80}).bytes(), ErrInvalid, []string{"non-ASCII"}},
	})
	// Encode refuses what it could not write faithfully.
	for _, bad := range []string{"a\xffb", "\xed\xa0\x80"} {
		m := shortMessage()
		m.Text = bad
		_, err := Encode(m)
		wantErr(t, err, ErrInvalid, "UTF-8")
	}
}

func TestWrongTypes(t *testing.T) {
	values := map[string]any{
		"string":  "s",
		"integer": 1,
		"real":    1.5,
		"boolean": true,
		"data":    []byte{1},
		"date":    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		"array":   []string{"mailto:a@b"},
		"dict":    map[string]any{"a": "b"},
	}
	want := map[string]string{
		keyText: "string", keyXHTML: "string", keyParticipants: "array", keyID: "string",
		keyGroupID: "string", keyPV: "integer", keyGV: "string", keyV: "string",
		keyEffect: "string", "ia-0": "data", "ia-15": "data",
	}
	for key, wantType := range want {
		for typ, v := range values {
			if typ == wantType {
				continue
			}
			t.Run(key+"="+typ, func(t *testing.T) {
				d := baseDict()
				d[key] = v
				_, err := Decode(mustPlist(t, d))
				wantErr(t, err, ErrInvalid, "key "+key+": want "+wantType)
			})
		}
	}
	t.Run("p element", func(t *testing.T) {
		for _, v := range []any{1, []byte{1}, []any{"x"}, true} {
			d := baseDict()
			d[keyParticipants] = []any{"mailto:a@b", v}
			_, err := Decode(mustPlist(t, d))
			wantErr(t, err, ErrInvalid, "key p element: want string")
		}
	})
}

func TestInvalidContent(t *testing.T) {
	dict := func(f func(d map[string]any)) []byte {
		d := baseDict()
		f(d)
		return mustPlist(t, d)
	}
	runBad(t, []badCase{
		{"no r", dict(func(d map[string]any) { delete(d, keyID) }), ErrInvalid, []string{"no key r"}},
		{"no p", dict(func(d map[string]any) { delete(d, keyParticipants) }), ErrInvalid, []string{"no key p"}},
		{"empty p", dict(func(d map[string]any) { d[keyParticipants] = []string{} }), ErrInvalid, []string{"no participants"}},
		{"UUID without dashes", dict(func(d map[string]any) { d[keyID] = "6BA7B8109DAD11D180B400C04FD430C8" }), ErrInvalid, []string{"UUID"}},
		{"UUID in braces", dict(func(d map[string]any) { d[keyID] = "{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}" }), ErrInvalid, []string{"UUID"}},
		{"UUID not hex", dict(func(d map[string]any) { d[keyID] = "6BA7B810-9DAD-11D1-80B4-00C04FD430CX" }), ErrInvalid, []string{"UUID"}},
		{"empty UUID", dict(func(d map[string]any) { d[keyID] = "" }), ErrInvalid, []string{"UUID"}},
		{"zero UUID", dict(func(d map[string]any) { d[keyID] = "00000000-0000-0000-0000-000000000000" }), ErrInvalid, []string{"zero message ID"}},
		{"duplicate participant", dict(func(d map[string]any) { d[keyParticipants] = []string{"tel:+1555", "tel:+1555"} }), ErrInvalid, []string{"the same"}},
		{"gid with space", dict(func(d map[string]any) { d[keyGroupID] = "a b" }), ErrInvalid, []string{"group ID"}},
		{"iid with control", dict(func(d map[string]any) { d[keyEffect] = "a\x01" }), ErrInvalid, []string{"effect"}},
	})
	for _, p := range []string{
		"", "tel:", "tel:+", "tel:5555550123", "tel:+05555550123", "tel:+1234567890123456", "tel:+1 555",
		"tel:+1555a", "mailto:", "mailto:alice", "mailto:@example.com", "mailto:alice@", "mailto:a@b@c",
		"mailto:a b@c", "mailto:a@b\n", "mailto:a@b\xff", "sip:alice@example.com", "MAILTO:a@b", "alice@example.com",
	} {
		d := baseDict()
		d[keyParticipants] = []string{"tel:+1555", p}
		if utf8.ValidString(p) { // others cannot be put in a plist; Encode below

			_, err := Decode(mustPlist(t, d))
			wantErr(t, err, ErrInvalid, "participant 1")
		}
		m := shortMessage()
		m.Participants = []string{"tel:+1555", p}
		_, err := Encode(m)
		wantErr(t, err, ErrInvalid, "participant 1")
	}
	for _, m := range []*Message{
		nil,
		{Participants: []string{"tel:+1"}},
		{ID: testID},
	} {
		_, err := Encode(m)
		wantErr(t, err, ErrInvalid)
	}
}

// TestBadFileElements: each bad <FILE> is refused with the attribute named.
func TestBadFileElements(t *testing.T) {
	key := `decryption-key="00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"`
	sig := `mmcs-signature-hex="81a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3"`
	mmcs := key + ` ` + sig + ` mmcs-url="https://example.com/f" mmcs-owner="o"`
	file := func(attrs string) string {
		return `<html><body><FILE ` + attrs + `/></body></html>`
	}
	cases := []struct {
		name, x, fragment string
		want              error
	}{
		{"no name", file(`file-size="1" ` + mmcs), "no name", ErrInvalid},
		{"empty name", file(`name="" file-size="1" ` + mmcs), "empty name", ErrInvalid},
		{"name with C1 control", file("name=\"a\u0085b\" file-size=\"1\" " + mmcs), "name", ErrInvalid},
		{"name with U+FFFF", file("name=\"a\uffffb\" file-size=\"1\" " + mmcs), "character not allowed", ErrInvalid},
		{"no size", file(`name="n" ` + mmcs), "neither datasize nor file-size", ErrInvalid},
		{"sizes differ", file(`name="n" datasize="1" file-size="2" ` + mmcs), "differ", ErrInvalid},
		{"negative size", file(`name="n" file-size="-1" ` + mmcs), "file-size", ErrInvalid},
		{"plus sign", file(`name="n" file-size="+1" ` + mmcs), "file-size", ErrInvalid},
		{"leading zero", file(`name="n" file-size="01" ` + mmcs), "file-size", ErrInvalid},
		{"size not a number", file(`name="n" file-size="1k" ` + mmcs), "file-size", ErrInvalid},
		{"size with space", file(`name="n" file-size=" 1" ` + mmcs), "file-size", ErrInvalid},
		{"size overflows", file(`name="n" file-size="9223372036854775808" ` + mmcs), "file-size", ErrInvalid},
		{"size of 20 digits", file(`name="n" file-size="10000000000000000000" ` + mmcs), "file-size", ErrInvalid},
		{"width above int32", file(`name="n" file-size="1" width="2147483648" ` + mmcs), "width", ErrInvalid},
		{"empty height", file(`name="n" file-size="1" height="" ` + mmcs), "height", ErrInvalid},
		{"bad message-part", file(`name="n" file-size="1" message-part="x" ` + mmcs), "message-part", ErrInvalid},
		{"key too short", file(`name="n" file-size="1" decryption-key="00AB" ` + sig + ` mmcs-url="https://e/f" mmcs-owner="o"`), "decryption-key", ErrInvalid},
		{"key prefix 01", file(`name="n" file-size="1" decryption-key="01000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F" ` + sig + ` mmcs-url="https://e/f" mmcs-owner="o"`), "decryption-key", ErrInvalid},
		{"key not hex", file(`name="n" file-size="1" decryption-key="00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1G" ` + sig + ` mmcs-url="https://e/f" mmcs-owner="o"`), "decryption-key", ErrInvalid},
		{"zero key", file(`name="n" file-size="1" decryption-key="00` + strings.Repeat("0", 64) + `" ` + sig + ` mmcs-url="https://e/f" mmcs-owner="o"`), "zero decryption key", ErrInvalid},
		{"signature prefix 80", file(`name="n" file-size="1" ` + key + ` mmcs-signature-hex="80a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" mmcs-url="https://e/f" mmcs-owner="o"`), "mmcs-signature-hex", ErrInvalid},
		{"signature short", file(`name="n" file-size="1" ` + key + ` mmcs-signature-hex="81a0" mmcs-url="https://e/f" mmcs-owner="o"`), "mmcs-signature-hex", ErrInvalid},
		{"ftp URL", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="ftp://e/f" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"javascript URL", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="javascript:alert(1)" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"URL without host", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="https:///f" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"URL with space", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="https://e/a b" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"URL upper-case scheme", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="HTTPS://e/f" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"empty blob URI", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="sealpost-blob:" mmcs-owner="o"`), "mmcs-url", ErrInvalid},
		{"no owner", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="https://e/f"`), "needs decryption-key", ErrInvalid},
		{"empty owner", file(`name="n" file-size="1" ` + key + ` ` + sig + ` mmcs-url="https://e/f" mmcs-owner=""`), "mmcs-owner", ErrInvalid},
		{"no key", file(`name="n" file-size="1" ` + sig + ` mmcs-url="https://e/f" mmcs-owner="o"`), "needs decryption-key", ErrInvalid},
		{"mime with control", file("name=\"n\" file-size=\"1\" mime-type=\"a&#9;b\" " + mmcs), "mime-type", ErrInvalid},
		{"inline with key", file(`name="n" file-size="1" inline-attachment="ia-0" ` + key), "inline attachment with attribute decryption-key", ErrInvalid},
		{"inline key ia-16", file(`name="n" file-size="1" inline-attachment="ia-16"`), "inline-attachment", ErrInvalid},
		{"inline key ia-01", file(`name="n" file-size="1" inline-attachment="ia-01"`), "inline-attachment", ErrInvalid},
		{"inline key other", file(`name="n" file-size="1" inline-attachment="x"`), "inline-attachment", ErrInvalid},
		{"inline key missing", file(`name="n" file-size="1" inline-attachment="ia-1"`), "no key ia-1", ErrInvalid},
		{"inline key twice", `<html><body><FILE name="n" file-size="1" inline-attachment="ia-0"/><FILE name="m" file-size="1" inline-attachment="ia-0"/></body></html>`, "named twice", ErrInvalid},
		{"duplicate attribute", file(`name="n" name="m" file-size="1" ` + mmcs), "duplicate attribute", ErrInvalid},
		{"FILE with child", `<html><body><FILE name="n" file-size="1" ` + mmcs + `><b/></FILE></body></html>`, "child element", ErrInvalid},
		{"two roots", `<html/><html/>`, "more than one root", ErrInvalid},
		{"text outside root", `<html/>x`, "outside the root", ErrInvalid},
		{"unclosed", `<html><body>`, "", ErrInvalid},
		{"mismatched end", `<html><body></html></body>`, "does not match", ErrInvalid},
		{"unknown entity", `<html>&bogus;</html>`, "bad reference", ErrInvalid},
		{"attribute without quotes", `<html><FILE name=n/></html>`, "bad attribute value", ErrInvalid},
		{"not XML", `hello`, "outside the root", ErrInvalid},
		{"control character reference", `<html>&#1;</html>`, "bad reference", ErrInvalid},
		{"surrogate reference", `<html>&#xD800;</html>`, "bad reference", ErrInvalid},
		{"reference past U+10FFFF", `<html>&#x110000;</html>`, "bad reference", ErrInvalid},
		{"reference without semicolon", `<html>&amp</html>`, "bad reference", ErrInvalid},
		{"long reference", `<html>&` + strings.Repeat("a", 40) + `;</html>`, "bad reference", ErrInvalid},
		{"bare ampersand", `<html>a & b</html>`, "bad reference", ErrInvalid},
		{"bad reference in attribute", `<html a="&x;"/>`, "bad reference", ErrInvalid},
		{"less-than in attribute", `<html a="<"/>`, "bad attribute value", ErrInvalid},
		{"control character", "<html>\x01</html>", "character not allowed", ErrInvalid},
		{"UTF-16 declared", `<?xml version="1.0" encoding="UTF-16"?><html/>`, "XML declaration", ErrInvalid},
		{"XML 1.1", `<?xml version="1.1"?><html/>`, "XML declaration", ErrInvalid},
		{"declaration without version", `<?xml encoding="UTF-8"?><html/>`, "XML declaration", ErrInvalid},
		{"declaration not first", ` <?xml version="1.0"?><html/>`, "processing instruction", ErrInvalid},
		{"processing instruction without target", `<html><? x?></html>`, "processing instruction", ErrInvalid},
		{"unclosed processing instruction", `<html><?pi </html>`, "processing instruction", ErrInvalid},
		{"double hyphen in comment", `<html><!-- a -- b --></html>`, "bad comment", ErrInvalid},
		{"unclosed comment", `<html><!-- </html>`, "bad comment", ErrInvalid},
		{"CDATA outside root", `<![CDATA[x]]><html/>`, "CDATA", ErrInvalid},
		{"DOCTYPE with internal subset", `<!DOCTYPE html [<!ENTITY a "b">]><html/>`, "DOCTYPE", ErrInvalid},
		{"DOCTYPE after root", `<html/><!DOCTYPE html>`, "DOCTYPE", ErrInvalid},
		{"two DOCTYPEs", `<!DOCTYPE html><!DOCTYPE html><html/>`, "DOCTYPE", ErrInvalid},
		{"ENTITY declaration", `<html><!ENTITY a "b"></html>`, "unsupported markup", ErrInvalid},
		{"no space between attributes", `<html a="1"b="2"/>`, "no space", ErrInvalid},
		{"duplicate attribute elsewhere", `<html a="1" a="2"/>`, "duplicate attribute", ErrInvalid},
		{"two colons in a name", `<a:b:c/>`, "bad start tag", ErrInvalid},
		{"name starting with a digit", `<1a/>`, "bad start tag", ErrInvalid},
		{"attribute without value", `<html a/>`, "bad attribute value", ErrInvalid},
		{"unclosed start tag", `<html a="1"`, "unclosed start tag", ErrInvalid},
		{"bad end tag", `<html></html x>`, "bad end tag", ErrInvalid},
		{"literal newline in FILE attribute", "<html><FILE name=\"a\nb\" file-size=\"1\" inline-attachment=\"ia-0\"/></html>", "literal tab or line break", ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := baseDict()
			d[keyXHTML] = c.x
			d["ia-0"] = []byte{1}
			m, err := Decode(mustPlist(t, d))
			if m != nil {
				t.Fatalf("decoded %s", dump(m))
			}
			wantErr(t, err, c.want, c.fragment)
		})
	}

	// Empty inline bytes.
	d := baseDict()
	d[keyXHTML] = file(`name="n" file-size="0" inline-attachment="ia-0"`)
	d["ia-0"] = []byte{}
	_, err := Decode(mustPlist(t, d))
	wantErr(t, err, ErrInvalid, "ia-0 is empty")
}

// TestFileElementsAccepted: what the parser tolerates.
func TestFileElementsAccepted(t *testing.T) {
	key := `decryption-key="00000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"` // lower-case hex
	sig := `mmcs-signature-hex="81A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3"`                     // upper-case hex
	x := `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html><!-- c -->` +
		`<html xmlns="http://www.w3.org/1999/xhtml"><body>&nbsp;<p>text &amp; <i>more</i></p>` +
		`<FILE datasize="7" name="a&#10;b.txt" x:other="1" extra="ignored" ` + key + ` ` + sig +
		` mmcs-url="http://example.com/x" mmcs-owner="o" ></FILE>` +
		`<FILE name="b" datasize="3" file-size="3" inline-attachment="ia-3"/>` +
		"\n</body></html>\n"
	d := baseDict()
	d[keyXHTML] = x
	d["ia-3"] = []byte("abc")
	m, err := Decode(mustPlist(t, d))
	if err != nil {
		// a&#10;b is a newline: a control character, refused.
		wantErr(t, err, ErrInvalid, "FILE 0", "name")
	} else {
		t.Fatal("name with a newline accepted")
	}
	d[keyXHTML] = strings.Replace(x, "a&#10;b.txt", "a b.txt", 1)
	m, err = Decode(mustPlist(t, d))
	if err != nil {
		t.Fatal(err)
	}
	// More that the parser accepts: CDATA, processing instructions,
	// comments after the root, single quotes, literal line breaks and
	// references in attributes of other elements, a full declaration.
	d[keyXHTML] = `<?xml version='1.0' encoding='utf-8' standalone='no' ?>` + "\n<html>" +
		`<body class="a` + "\n\t" + `b &amp; &#x1F44B;" id = 'x'><![CDATA[<FILE>]]><?pi data?>` +
		`<FILE name='b' file-size='3' inline-attachment='ia-3' />` +
		`</body ></html><!-- after --><?pi?>` + "\n"
	if m, err := Decode(mustPlist(t, d)); err != nil || len(m.Attachments) != 1 || m.Attachments[0].Name != "b" {
		t.Fatalf("%v", err)
	}
	if _, err := goXMLRefs(d[keyXHTML].(string)); err != nil {
		t.Fatalf("encoding/xml refuses it: %v", err)
	}
	want := []Attachment{
		{Name: "a b.txt", Size: 7, Key: testKey, Signature: testSig, URL: "http://example.com/x", Owner: "o"},
		{Name: "b", Size: 3, Inline: []byte("abc")},
	}
	if !sameMessage(m, &Message{ID: testID, Participants: []string{"mailto:alice@example.com"}, Attachments: want}) {
		t.Fatalf("got %s", dump(m))
	}
}

// TestDecodeAllocationBounded: inputs near the limits, shaped to make a
// parser allocate per construct, cost a few MiB at most.
func TestDecodeAllocationBounded(t *testing.T) {
	fill := func(unit string) string {
		return "<html>" + strings.Repeat(unit, (MaxXHTMLBytes-20)/len(unit)) + "</html>"
	}
	ints := make([]int64, MaxPlistObjects-20)
	for i := range ints {
		ints[i] = int64(i) + 1000
	}
	inputs := map[string]map[string]any{
		"tiny elements": {keyXHTML: fill("<a/>")},
		"attributes":    {keyXHTML: fill(`<a b="" c=""/>`)},
		"comments":      {keyXHTML: fill("<!---->")},
		"references":    {keyXHTML: fill("&amp;")},
		"objects":       {"zz": ints},
		"nodes":         {"zz": make([]string, MaxPlistNodes-20)},
	}
	for name, extra := range inputs {
		d := baseDict()
		for k, v := range extra {
			d[k] = v
		}
		b := mustPlist(t, d)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(b)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes in, %d allocated", name, len(b), alloc)
		if alloc > 4<<20 {
			t.Errorf("%s: %d bytes allocated", name, alloc)
		}
	}
}
