package attachment

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestErrCannotOpenMessage(t *testing.T) {
	if got, want := ErrCannotOpen.Error(), "attachment: cannot open attachment"; got != want {
		t.Fatalf("ErrCannotOpen = %q, want %q", got, want)
	}
	if opaque(failSignature) != ErrCannotOpen || opaque(failChanged) != ErrCannotOpen {
		t.Fatal("opaque does not hide failures")
	}
	if opaque(errTest) != errTest || opaque(nil) != nil {
		t.Fatal("opaque changes other errors")
	}
}

func TestKeyText(t *testing.T) {
	const want = "00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	k := testKey()
	got, err := k.MarshalText()
	if err != nil || string(got) != want {
		t.Fatalf("MarshalText = %s, %v; want %s", got, err, want)
	}
	for _, in := range []string{want, strings.ToLower(want)} {
		var k2 Key
		if err := k2.UnmarshalText([]byte(in)); err != nil || k2 != k {
			t.Fatalf("UnmarshalText(%s) = %x, %v", in, k2[:], err)
		}
	}
	// JSON goes through the text form.
	j, err := json.Marshal(map[string]Key{"k": k})
	if err != nil || string(j) != `{"k":"`+want+`"}` {
		t.Fatalf("json = %s, %v", j, err)
	}
}

func TestKeyUnmarshalTextErrors(t *testing.T) {
	const good = "00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	bad := []string{
		"",
		good[:64],                             // 32 bytes: prefix missing
		good + "00",                           // too long
		"01" + good[2:],                       // wrong prefix
		good[:10] + "G" + good[11:],           // not hex
		good[:65] + " ",                       // trailing space instead of digit
		" " + good[1:],                        // leading space
		strings.Repeat("0", 65),               // odd length
		"0x" + good[2:],                       // Go-style prefix
		"00" + strings.Repeat("ff", 31) + "f", // odd digit count
	}
	for _, in := range bad {
		k := testKey()
		if err := k.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", in)
		}
		if k != testKey() {
			t.Errorf("UnmarshalText(%q) changed the key on error", in)
		}
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey()
	k[0], k[1] = 0xde, 0xad // distinctive bytes
	type wrapper struct{ K Key }
	secrets := []string{"dead", "DEAD", "222", "0xde", "de ad", "[222"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%o", "%b", "%c", "%U", "%T%v"} {
		for _, v := range []any{k, &k, wrapper{k}, []Key{k}} {
			out := fmt.Sprintf(format, v)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("Sprintf(%q, %T) = %q reveals key bytes", format, v, out)
				}
			}
		}
	}
	if s := fmt.Sprint(k); s != "attachment.Key(redacted)" {
		t.Errorf("Sprint(key) = %q", s)
	}
}

func TestKeyEqualAndNewKey(t *testing.T) {
	a, b := NewKey(), NewKey()
	if a == b || a == (Key{}) {
		t.Fatal("NewKey returned equal or zero keys")
	}
	if !a.Equal(a) || a.Equal(b) {
		t.Fatal("Key.Equal wrong")
	}
	c := a
	c[KeySize-1] ^= 1
	if a.Equal(c) {
		t.Fatal("Key.Equal ignores the last byte")
	}
}

func TestSignatureText(t *testing.T) {
	const want = "81b54cbab8ecd32f5567124dc279392f06be96989d"
	var s Signature
	if err := s.UnmarshalText([]byte(strings.ToUpper(want))); err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(want)
	if !bytes.Equal(s[:], raw) {
		t.Fatalf("decoded %x", s[:])
	}
	if got, _ := s.MarshalText(); string(got) != want || s.String() != want {
		t.Fatalf("MarshalText = %s, String = %s", got, s)
	}
	for _, in := range []string{"", want[:40], want + "00", "01" + want[2:], want[:41] + "g", "00" + want[2:]} {
		s2 := s
		if err := s2.UnmarshalText([]byte(in)); err == nil || s2 != s {
			t.Errorf("UnmarshalText(%q) = %v, changed = %v", in, err, s2 != s)
		}
	}
	o := s
	o[SignatureSize-1] ^= 1
	if !s.Equal(s) || s.Equal(o) {
		t.Fatal("Signature.Equal wrong")
	}
}

func TestChunkChecksumText(t *testing.T) {
	const want = "01e5e15a5f8d4d42908b71648af128f4e439ec71da"
	var c ChunkChecksum
	if err := c.UnmarshalText([]byte(strings.ToUpper(want))); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.MarshalText(); string(got) != want || c.String() != want {
		t.Fatalf("MarshalText = %s, String = %s", got, c)
	}
	for _, in := range []string{"", want[:40], want + "00", "81" + want[2:], want[:41] + "z"} {
		c2 := c
		if err := c2.UnmarshalText([]byte(in)); err == nil || c2 != c {
			t.Errorf("UnmarshalText(%q) = %v, changed = %v", in, err, c2 != c)
		}
	}
	o := c
	o[1] ^= 0x80
	if !c.Equal(c) || c.Equal(o) {
		t.Fatal("ChunkChecksum.Equal wrong")
	}
}

// textCodec is what the three hex text types have in common.
type textCodec interface {
	MarshalText() ([]byte, error)
}

// checkTextRoundTrip is the body of the text fuzz targets: decoding either
// fails, leaving the value untouched, or succeeds on exactly 2*size hex digits
// with the right prefix, and encoding gives back the input up to letter case,
// in the canonical case exactly.
func checkTextRoundTrip(t *testing.T, in []byte, size int, prefix byte, upper bool, v textCodec, before []byte, err error, raw func() []byte) {
	if err != nil {
		if !bytes.Equal(raw(), before) {
			t.Fatalf("value changed on error for %q", in)
		}
		if len(in) == 2*size {
			if d, herr := hex.DecodeString(string(in)); herr == nil && d[0] == prefix {
				t.Fatalf("valid input %q refused: %v", in, err)
			}
		}
		return
	}
	d, herr := hex.DecodeString(string(in))
	if herr != nil || len(d) != size || d[0] != prefix {
		t.Fatalf("invalid input %q accepted", in)
	}
	want := d
	if len(raw()) == size-1 { // Key keeps the bytes after the prefix
		want = d[1:]
	}
	if !bytes.Equal(raw(), want) {
		t.Fatalf("decoded %x from %q", raw(), in)
	}
	out, merr := v.MarshalText()
	if merr != nil {
		t.Fatal(merr)
	}
	canonical := strings.ToLower(string(in))
	if upper {
		canonical = strings.ToUpper(string(in))
	}
	if string(out) != canonical {
		t.Fatalf("round trip %q -> %q, want %q", in, out, canonical)
	}
}

func FuzzKeyUnmarshalText(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		k := Key{0xaa}
		before := bytes.Clone(k[:])
		err := k.UnmarshalText(in)
		checkTextRoundTrip(t, in, 1+KeySize, 0x00, true, k, before, err, func() []byte { return k[:] })
	})
}

func FuzzSignatureUnmarshalText(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		s := Signature{0xaa}
		before := bytes.Clone(s[:])
		err := s.UnmarshalText(in)
		checkTextRoundTrip(t, in, SignatureSize, 0x81, false, s, before, err, func() []byte { return s[:] })
	})
}

func FuzzChunkChecksumUnmarshalText(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		c := ChunkChecksum{0xaa}
		before := bytes.Clone(c[:])
		err := c.UnmarshalText(in)
		checkTextRoundTrip(t, in, ChunkChecksumSize, 0x01, false, c, before, err, func() []byte { return c[:] })
	})
}
