package dirapi

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"
)

// checkErr fails unless e is a documented API error with a message.
func checkErr(t *testing.T, e *Error) {
	t.Helper()
	if e == nil {
		return
	}
	if !slices.Contains(Codes, e.Code) || e.Message == "" || !utf8.ValidString(e.Message) {
		t.Fatalf("undocumented or empty error: %+v", e)
	}
	if s := StatusOf(e.Code); s < 400 || s >= 500 {
		t.Fatalf("decoder error %s maps to %d, not a 4xx", e.Code, s)
	}
}

func FuzzParseHandle(f *testing.F) {
	for _, s := range []string{"mailto:a@example.org", "A@B.co", "tel:+1 555 123 4567", "+442079460958", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHandle(s)
		if err != nil {
			checkErr(t, err.(*Error))
			return
		}
		if len(h) > MaxHandleInput+4 || !utf8.ValidString(string(h)) {
			t.Fatalf("handle %q too long or not UTF-8", h)
		}
		if h2, err := ParseHandle(string(h)); err != nil || h2 != h {
			t.Fatalf("not idempotent: %q -> %q, %v", h, h2, err)
		}
		if k := h.Kind(); k != "mailto" && k != "tel" {
			t.Fatalf("kind %q", k)
		}
	})
}

func FuzzDecodeLookup(f *testing.F) {
	f.Add([]byte(`{"handles":["a@example.org","tel:+15551234567"]}`))
	f.Add([]byte(`{"handles":[]}`))
	f.Add([]byte(`{"handles":["a@example.org"],"handles":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		hs, e := DecodeLookup(body)
		checkErr(t, e)
		if e == nil {
			if len(hs) == 0 || len(hs) > MaxLookupHandles {
				t.Fatalf("%d handles accepted", len(hs))
			}
			for i, h := range hs {
				if slices.Contains(hs[:i], h) {
					t.Fatalf("duplicate %s accepted", h)
				}
			}
		}
	})
}

func FuzzDecodeCodeRequest(f *testing.F) {
	f.Add([]byte(`{"handle":"a@example.org"}`))
	f.Add([]byte(`{"handle":""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h, e := DecodeCodeRequest(body)
		checkErr(t, e)
		if e == nil && h == "" {
			t.Fatal("empty handle accepted")
		}
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	for _, seed := range registrationSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, e := DecodeRegistration(body)
		checkErr(t, e)
		if e == nil {
			checkDeviceInvariants(t, &reg.Device)
			if !validCode(reg.Code) {
				t.Fatalf("code %q accepted", reg.Code)
			}
		}
	})
}

func FuzzDecodeDeviceUpdate(f *testing.F) {
	for _, seed := range registrationSeeds(f) {
		var m map[string]json.RawMessage
		if json.Unmarshal(seed, &m) == nil && m["device"] != nil {
			f.Add([]byte(m["device"]))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, e := DecodeDeviceUpdate(body)
		checkErr(t, e)
		if e == nil {
			checkDeviceInvariants(t, d)
		}
	})
}

func FuzzParseIdentityHeader(f *testing.F) {
	f.Add("")
	f.Add("AAAA")
	if b, err := os.ReadFile(filepath.Join("testdata", "identity.b64")); err == nil {
		f.Add(string(bytes.TrimSpace(b)))
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, e := ParseIdentityHeader(s)
		checkErr(t, e)
		if e == nil && pub == nil {
			t.Fatal("nil identity without error")
		}
	})
}

func FuzzParseDeviceID(f *testing.F) {
	f.Add("c59fcc7f9fc17e6e3db25a35c51de07fdd87e8bc1ec696089abc5eac406334e3")
	f.Add("C59F")
	f.Fuzz(func(t *testing.T, s string) {
		id, e := ParseDeviceID(s)
		checkErr(t, e)
		if e == nil && bytesHex(id[:]) != s {
			t.Fatalf("id %q does not round-trip", s)
		}
	})
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func checkDeviceInvariants(t *testing.T, d *Device) {
	t.Helper()
	if d.Name == "" || d.MaxPayload < MinPayloadFloor || d.MaxPayload > MaxPayloadCeiling || len(d.Schemes) == 0 || len(d.SignedPrekey) == 0 {
		t.Fatalf("accepted device breaks the limits: %+v", d)
	}
}

// registrationSeeds returns the valid registration bodies kept in
// testdata/registration-*.json (made from real keys).
func registrationSeeds(tb testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "registration-*.json"))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, bytes.TrimSpace(b))
	}
	return out
}

func TestDecodeRegistrationSeeds(t *testing.T) {
	seeds := registrationSeeds(t)
	if len(seeds) == 0 {
		t.Fatal("no testdata/registration-*.json")
	}
	for _, s := range seeds {
		reg, e := DecodeRegistration(s)
		if e != nil {
			t.Fatalf("valid seed refused: %v", e)
		}
		if reg.Handle != "mailto:alice@example.org" || reg.Device.Name != "Alice's phone" {
			t.Fatalf("decoded %+v", reg)
		}
	}
}
