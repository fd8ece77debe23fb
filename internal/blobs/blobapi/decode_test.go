package blobapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/attachment"
)

const (
	sigHex = "81" + "00112233445566778899aabbccddeeff00112233"
	sumHex = "01" + "ffeeddccbbaa99887766554433221100ffeeddcc"
)

func createBody(size string, nchunks int) string {
	ch := make([]string, nchunks)
	for i := range ch {
		ch[i] = `"` + sumHex + `"`
	}
	return fmt.Sprintf(`{"size":%s,"signature":"%s","chunks":[%s]}`, size, sigHex, strings.Join(ch, ","))
}

func TestDecodeCreate(t *testing.T) {
	const max = 2 << 30
	good := []struct {
		body string
		size int64
		n    int
	}{
		{createBody("0", 0), 0, 0},
		{createBody("1", 1), 1, 1},
		{createBody("5242880", 1), ChunkSize, 1},
		{createBody("5242881", 2), ChunkSize + 1, 2},
		{createBody("2147483648", 410), max, 410},
		{`{"chunks":[],"signature":"` + strings.ToUpper(sigHex) + `","size":0}`, 0, 0},
		{" \n{ \"size\" : 3 , \"signature\":\"" + sigHex + "\", \"chunks\": [\"" + strings.ToUpper(sumHex) + "\"] } \n", 3, 1},
	}
	for _, g := range good {
		req, err := DecodeCreate([]byte(g.body), max)
		if err != nil {
			t.Errorf("%.80s: %v", g.body, err)
			continue
		}
		if req.Size != g.size || len(req.Chunks) != g.n {
			t.Errorf("%.80s: size %d chunks %d, want %d %d", g.body, req.Size, len(req.Chunks), g.size, g.n)
		}
		var wantSig attachment.Signature
		wantSig.UnmarshalText([]byte(sigHex))
		if req.Signature != wantSig {
			t.Errorf("%.80s: signature %s", g.body, req.Signature)
		}
	}

	bad := []struct {
		body, code string
	}{
		{``, CodeMalformedJSON},
		{`[]`, CodeMalformedJSON},
		{`{`, CodeMalformedJSON},
		{`{"size":1`, CodeMalformedJSON},
		{`null`, CodeMalformedJSON},
		{createBody("1", 1) + `{}`, CodeMalformedJSON},
		{createBody("1", 1) + `x`, CodeMalformedJSON},
		{`{"size":1,"signature":"` + sigHex + `","chunks":["` + sumHex + `"],"extra":1}`, CodeUnknownField},
		{`{"Size":1}`, CodeUnknownField},
		{`{"size":1,"size":1}`, CodeDuplicateField},
		{`{"chunks":[],"chunks":[]}`, CodeDuplicateField},
		{`{"signature":"` + sigHex + `","chunks":[]}`, CodeMissingField},
		{`{"size":0,"chunks":[]}`, CodeMissingField},
		{`{"size":0,"signature":"` + sigHex + `"}`, CodeMissingField},
		{createBody("-1", 0), CodeInvalidSize},
		{createBody("1.5", 1), CodeInvalidSize},
		{createBody("1e3", 1), CodeInvalidSize},
		{createBody("01", 1), CodeMalformedJSON}, // not JSON
		{createBody(`"1"`, 1), CodeInvalidSize},
		{createBody("null", 1), CodeInvalidSize},
		{createBody("-0", 0), CodeInvalidSize},
		{createBody("2147483649", 410), CodeBlobTooLarge},
		{createBody("99999999999999999999999", 0), CodeBlobTooLarge},
		{createBody("9223372036854775807", 0), CodeBlobTooLarge},
		{`{"size":1,"signature":"` + sigHex[:40] + `","chunks":["` + sumHex + `"]}`, CodeInvalidSignature},
		{`{"size":1,"signature":"80` + sigHex[2:] + `","chunks":["` + sumHex + `"]}`, CodeInvalidSignature},
		{`{"size":1,"signature":1,"chunks":["` + sumHex + `"]}`, CodeInvalidSignature},
		{`{"size":1,"signature":"` + sigHex + `","chunks":["` + sigHex + `"]}`, CodeInvalidChecksum},
		{`{"size":1,"signature":"` + sigHex + `","chunks":[1]}`, CodeInvalidChecksum},
		{`{"size":1,"signature":"` + sigHex + `","chunks":[["x"]]}`, CodeInvalidChecksum},
		{`{"size":1,"signature":"` + sigHex + `","chunks":"` + sumHex + `"}`, CodeMalformedJSON},
		{`{"size":1,"signature":"` + sigHex + `","chunks":{}}`, CodeMalformedJSON},
		{createBody("1", 0), CodeChunkCountMismatch},
		{createBody("1", 2), CodeChunkCountMismatch},
		{createBody("0", 1), CodeChunkCountMismatch},
		{createBody("5242880", 2), CodeChunkCountMismatch},
		{createBody("5242881", 1), CodeChunkCountMismatch},
	}
	for _, b := range bad {
		_, err := DecodeCreate([]byte(b.body), max)
		if err == nil || err.Code != b.code {
			t.Errorf("%.100s: %v, want %s", b.body, err, b.code)
		}
	}
}

// TestCreateRoundTrip: what the client marshals, the server decodes to the
// same values, and marshalling those gives the same bytes again.
func TestCreateRoundTrip(t *testing.T) {
	sum, err := attachment.Encrypt(new(strings.Builder), strings.NewReader(strings.Repeat("x", ChunkSize+7)), attachment.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	in := CreateRequest{Size: sum.Size, Signature: sum.Signature, Chunks: sum.Chunks}
	b, _ := json.Marshal(in)
	out, e := DecodeCreate(b, 1<<40)
	if e != nil {
		t.Fatal(e)
	}
	b2, _ := json.Marshal(out)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the body:\n%s\n%s", b, b2)
	}
}

func TestParseRange(t *testing.T) {
	const size = 1000
	good := []struct {
		h       string
		off, n  int64
		partial bool
	}{
		{"", 0, size, false},
		{"bytes=0-0", 0, 1, true},
		{"bytes=0-999", 0, 1000, true},
		{"bytes=0-5000", 0, 1000, true},
		{"bytes=10-", 10, 990, true},
		{"bytes=999-", 999, 1, true},
		{"bytes=-1", 999, 1, true},
		{"bytes=-1000", 0, 1000, true},
		{"bytes=-99999", 0, 1000, true},
		{"BYTES=1-2", 1, 2, true},
		{"bytes= 5-6 ", 5, 2, true},
	}
	for _, g := range good {
		off, n, partial, err := ParseRange(g.h, size)
		if err != nil || off != g.off || n != g.n || partial != g.partial {
			t.Errorf("%q: %d %d %v %v, want %d %d %v", g.h, off, n, partial, err, g.off, g.n, g.partial)
		}
	}
	bad := []struct {
		h    string
		size int64
		code string
	}{
		{"bytes=1000-", size, CodeRangeNotSatisfiable},
		{"bytes=1000-2000", size, CodeRangeNotSatisfiable},
		{"bytes=-0", size, CodeRangeNotSatisfiable},
		{"bytes=0-", 0, CodeRangeNotSatisfiable},
		{"bytes=-5", 0, CodeRangeNotSatisfiable},
		{"bytes=0-0,5-6", size, CodeInvalidRange},
		{"bytes=5-4", size, CodeInvalidRange},
		{"bytes=-", size, CodeInvalidRange},
		{"bytes=a-b", size, CodeInvalidRange},
		{"bytes=1", size, CodeInvalidRange},
		{"items=1-2", size, CodeInvalidRange},
		{"bytes", size, CodeInvalidRange},
		{"bytes=+1-2", size, CodeInvalidRange},
		{"bytes=1-2-3", size, CodeInvalidRange},
		{"bytes=1234567890123456789-", size, CodeInvalidRange},
	}
	for _, b := range bad {
		_, _, _, err := ParseRange(b.h, b.size)
		if err == nil || err.Code != b.code {
			t.Errorf("%q (size %d): %v, want %s", b.h, b.size, err, b.code)
		}
	}
}

func TestParseIdentifiers(t *testing.T) {
	id := strings.Repeat("0a", IDSize)
	if _, err := ParseID(id); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", id[:46], id + "00", strings.ToUpper(id), "zz" + id[2:], "../" + id[3:]} {
		if _, err := ParseID(s); err == nil || err.Code != CodeInvalidBlobID {
			t.Errorf("ParseID(%q): %v", s, err)
		}
	}
	raw := make([]byte, TokenSize)
	raw[0] = 0xfb
	tok := EncodeToken(raw)
	if got, err := ParseToken(tok); err != nil || string(got) != string(raw) {
		t.Errorf("ParseToken(%q): %x %v", tok, got, err)
	}
	last := tok[len(tok)-1:]
	for _, s := range []string{"", tok[:42], tok + "A", tok[:42] + "+", tok[:42] + "/", tok[:42] + "B" /* non-zero padding bits */, tok + "="} {
		if s == tok[:42]+last {
			continue
		}
		if _, err := ParseToken(s); err == nil || err.Code != CodeUploadNotFound {
			t.Errorf("ParseToken(%q): %v", s, err)
		}
	}
	for s, want := range map[string]int{"0": 0, "1": 1, "409": 409, "999999999": 999999999} {
		if got, err := ParseChunkIndex(s); err != nil || got != want {
			t.Errorf("ParseChunkIndex(%q) = %d %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-1", "+1", "01", "1.0", "1000000000", "x", " 1"} {
		if _, err := ParseChunkIndex(s); err == nil || err.Code != CodeInvalidChunkIndex {
			t.Errorf("ParseChunkIndex(%q): %v", s, err)
		}
	}
}

func TestStatusOfEveryCode(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		if s := StatusOf(c); s < 400 || s > 599 {
			t.Errorf("code %s: status %d", c, s)
		}
		if c != CodeInternal && StatusOf(c) >= 500 {
			t.Errorf("code %s: a 5xx for a client error", c)
		}
	}
}

func FuzzDecodeCreate(f *testing.F) {
	f.Add([]byte(createBody("5242881", 2)))
	f.Add([]byte(createBody("0", 0)))
	f.Add([]byte(`{"size":1,"size":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeCreate(body, 1<<31)
		if err != nil {
			if req != nil || !validCode(err.Code) {
				t.Fatalf("error %v with %v", err, req)
			}
			return
		}
		if req.Size < 0 || req.Size > 1<<31 || len(req.Chunks) != NumChunks(req.Size) {
			t.Fatalf("accepted %+v", req)
		}
		b, _ := json.Marshal(req)
		again, err := DecodeCreate(b, 1<<31)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("marshal → decode → marshal changed %s to %s", b, b2)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes=99-1"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		off, n, partial, err := ParseRange(h, size)
		if err != nil {
			if !validCode(err.Code) {
				t.Fatal(err)
			}
			return
		}
		if off < 0 || n < 0 || off+n > size || (partial && n == 0) || (!partial && (off != 0 || n != size)) {
			t.Fatalf("%q size %d: off %d n %d partial %v", h, size, off, n, partial)
		}
	})
}

func FuzzParseIdentifiers(f *testing.F) {
	f.Add(strings.Repeat("ab", IDSize))
	f.Add(EncodeToken(make([]byte, TokenSize)))
	f.Add("12")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := ParseID(s); err == nil && id != s {
			t.Fatal("ParseID changed its input")
		}
		if raw, err := ParseToken(s); err == nil && EncodeToken(raw) != s {
			t.Fatalf("token %q is not canonical", s)
		}
		if n, err := ParseChunkIndex(s); err == nil && fmt.Sprint(n) != s {
			t.Fatalf("chunk index %q is not canonical", s)
		}
	})
}

func validCode(c string) bool {
	for _, k := range Codes {
		if k == c {
			return true
		}
	}
	return false
}
