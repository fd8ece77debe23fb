package message

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	many := shortMessage()
	many.Participants = nil
	for i := range MaxParticipants {
		many.Participants = append(many.Participants, fmt.Sprintf("tel:+1555000%04d", i))
	}
	for name, m := range map[string]*Message{
		"minimal":      {ID: NewID(), Participants: []string{"tel:+15555550123"}},
		"short":        shortMessage(),
		"rich":         richMessage(),
		"participants": many,
		"attachment only": {
			ID: NewID(), Participants: []string{"mailto:a@b.c"},
			Attachments: []Attachment{mmcsAttachment()},
		},
	} {
		t.Run(name, func(t *testing.T) {
			enc, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessage(got, m) {
				t.Fatalf("Decode(Encode(m)) = %+v\nwant %+v", dump(got), dump(m))
			}
			if (got.XHTML != "") != (len(m.Attachments) > 0) {
				t.Fatalf("x present = %v with %d attachments", got.XHTML != "", len(m.Attachments))
			}
			raw, err := Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got2, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, got2) {
				t.Fatal("Decode(Marshal(m)) differs from Decode(Encode(m))")
			}
			// Encoding is deterministic, and a decoded message encodes to
			// the same bytes.
			enc2, err := Encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, enc2) {
				t.Fatal("Encode(Decode(Encode(m))) != Encode(m)")
			}
		})
	}
}

// dump shows a message in full, for test failures only.
func dump(m *Message) string {
	type plain Message
	b, _ := json.Marshal((*plain)(m))
	return string(b)
}

func TestEncodeDoesNotModify(t *testing.T) {
	m := richMessage()
	before := dump(m)
	if _, err := Encode(m); err != nil {
		t.Fatal(err)
	}
	if dump(m) != before {
		t.Fatal("Encode modified its input")
	}
}

// pythonFixtureX is the x string of testdata/python_fixture.hex, copied by
// hand from make_python_fixture.py.
const pythonFixtureX = `<html><body>` +
	`<FILE name="photo &amp; co.jpg" width="640" height="480" datasize="12345" ` +
	`mime-type="image/jpeg" uti-type="public.jpeg" file-size="12345" message-part="0" ` +
	`decryption-key="00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F" ` +
	`mmcs-signature-hex="81a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" ` +
	`mmcs-url="https://example.com/mmcs/abc?x=1&amp;y=2" mmcs-owner="owner-1"/>` +
	`<FILE name="note.txt" width="0" height="0" datasize="5" mime-type="text/plain" ` +
	`uti-type="public.plain-text" file-size="5" message-part="1" inline-attachment="ia-0"/>` +
	`<span message-part="2">héllo 👋</span>` +
	`</body></html>`

// TestDecodePythonFixture decodes a message written by Python's plistlib
// and gzip (testdata/make_python_fixture.py), frozen as hex.
func TestDecodePythonFixture(t *testing.T) {
	h, err := os.ReadFile("testdata/python_fixture.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Message{
		ID:           testID,
		Participants: []string{"mailto:alice@example.com", "tel:+15555550123"},
		Text:         "héllo 👋",
		GroupID:      "A1B2C3D4-0000-4000-8000-000000000001",
		Effect:       "com.apple.MobileSMS.expressivesend.impact",
		Attachments: []Attachment{
			{
				Name: "photo & co.jpg", MimeType: "image/jpeg", UTIType: "public.jpeg",
				Size: 12345, Width: 640, Height: 480, MessagePart: 0,
				Key: testKey, Signature: testSig,
				URL: "https://example.com/mmcs/abc?x=1&y=2", Owner: "owner-1",
			},
			{
				Name: "note.txt", MimeType: "text/plain", UTIType: "public.plain-text",
				Size: 5, MessagePart: 1, Inline: []byte("notes"),
			},
		},
		XHTML: pythonFixtureX,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %s\nwant %s", dump(got), dump(want))
	}
	if got.ID.String() != "6BA7B810-9DAD-11D1-80B4-00C04FD430C8" {
		t.Fatalf("ID %s", got.ID)
	}
}

// TestPythonReadsEncode has Python's gzip and plistlib read what Encode
// writes. It is skipped where python3 is missing.
func TestPythonReadsEncode(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	enc, err := Encode(richMessage())
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import sys, gzip, plistlib, json
raw = sys.stdin.buffer.read()
assert raw[3] == 0 and raw[4:8] == bytes(4), raw[:10]  # no FLG bits, mtime 0
d = plistlib.loads(gzip.decompress(raw))
out = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in d.items()}
print(json.dumps(out, sort_keys=True))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(enc)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	m := richMessage()
	want := map[string]any{
		"r":    "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
		"p":    []any{"mailto:alice@example.com", "tel:+15555550123", "mailto:bob@example.org"},
		"t":    m.Text,
		"gid":  m.GroupID,
		"iid":  m.Effect,
		"pv":   float64(0),
		"gv":   "8",
		"v":    "1",
		"ia-0": hex.EncodeToString([]byte("notes")),
		"ia-1": "000102ff",
	}
	x, _ := got["x"].(string)
	delete(got, "x")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("python read %v\nwant %v", got, want)
	}
	// The x written is the one documented: FILE elements, then the text.
	wantX := `<html><body>` +
		`<FILE name="photo.jpg" width="640" height="480" datasize="12345" mime-type="image/jpeg" uti-type="public.jpeg" file-size="12345" message-part="0" ` +
		`decryption-key="00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F" mmcs-signature-hex="81a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" mmcs-url="https://example.com/mmcs/abc" mmcs-owner="owner-1"/>` +
		`<FILE name="note.txt" width="0" height="0" datasize="5" mime-type="text/plain" uti-type="public.plain-text" file-size="5" message-part="1" inline-attachment="ia-0"/>` +
		`<FILE name="a &#34;quoted&#34; &lt;name&gt; &amp; &#39;more&#39; é.png" width="0" height="0" datasize="0" file-size="0" message-part="2" ` +
		`decryption-key="00000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F" mmcs-signature-hex="81a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" mmcs-url="sealpost-blob:blob/0001" mmcs-owner="o"/>` +
		`<FILE name="note.txt" width="0" height="0" datasize="4" mime-type="text/plain" uti-type="public.plain-text" file-size="4" message-part="1" inline-attachment="ia-1"/>` +
		`<span message-part="3">&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;&#10;&#9;tab&#13;&#10;héllo 👋</span>` +
		`</body></html>`
	if x != wantX {
		t.Fatalf("x = %s\nwant %s", x, wantX)
	}
}

func TestGzipHeader(t *testing.T) {
	enc, err := Encode(shortMessage())
	if err != nil {
		t.Fatal(err)
	}
	// ID1 ID2 CM=8 FLG=0 MTIME=0 (4 bytes) XFL OS=255 (unknown)
	if !bytes.Equal(enc[:8], []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}) || enc[9] != 0xff {
		t.Fatalf("gzip header % x", enc[:10])
	}
}

func TestID(t *testing.T) {
	const s = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"
	id, err := ParseID(s)
	if err != nil || id != testID || id.String() != s {
		t.Fatalf("ParseID(%s) = %s, %v", s, id, err)
	}
	if id2, err := ParseID(strings.ToLower(s)); err != nil || id2 != testID {
		t.Fatalf("lower case: %v", err)
	}
	var u ID
	if err := u.UnmarshalText([]byte(s)); err != nil || u != testID {
		t.Fatal(err)
	}
	if txt, _ := u.MarshalText(); string(txt) != s {
		t.Fatal(string(txt))
	}
	for _, bad := range []string{
		"", "6BA7B8109DAD11D180B400C04FD430C8", "{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}",
		"urn:uuid:6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6BA7B810-9DAD-11D1-80B4-00C04FD430C",
		"6BA7B810-9DAD-11D1-80B4-00C04FD430C8 ", "6BA7B81-09DAD-11D1-80B4-00C04FD430C8",
		"6BA7B810-9DAD-11D1-80B4-00C04FD430CG", "6BA7B810-9DAD-11D1-80B4+00C04FD430C8",
		"+BA7B810-9DAD-11D1-80B4-00C04FD430C8",
	} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseID(%q) = %v", bad, err)
		}
	}
	a, b := NewID(), NewID()
	if a == b || a.IsZero() || a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Fatalf("NewID: %s %s", a, b)
	}
}

func TestRedaction(t *testing.T) {
	m := richMessage()
	m.XHTML = "<html>secret-x</html>"
	keyHex, _ := testKey.MarshalText()
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{m, *m, m.Attachments[0], m.Attachments[1], m.Attachments} {
			out := fmt.Sprintf(f, v)
			for _, secret := range []string{"Tom", "alice", "notes", "secret-x", "photo", string(keyHex), "0001020304"} {
				if strings.Contains(out, secret) {
					t.Errorf("Sprintf(%q, %T) = %s: shows %q", f, v, out, secret)
				}
			}
		}
	}
}

func TestDecodeCalls(t *testing.T) {
	enc, err := Encode(shortMessage())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{nil, []byte("garbage"), {0x1f, 0x8b}, enc} {
		before := DecodeCalls()
		Decode(in)
		if got := DecodeCalls() - before; got != 1 {
			t.Fatalf("DecodeCalls rose by %d for one call", got)
		}
	}
	before := DecodeCalls()
	if _, err := Encode(shortMessage()); err != nil {
		t.Fatal(err)
	}
	if DecodeCalls() != before {
		t.Fatal("Encode counted as a decode")
	}
}

// TestUnknownKeysIgnored: keys this package does not know, of any type
// including dates and nested containers, do not stop a message.
func TestUnknownKeysIgnored(t *testing.T) {
	d := baseDict()
	d["bid"] = "x"
	d["e"] = int64(-5)
	d["when"] = mustParseTime(t)
	d["nested"] = map[string]any{"a": []any{1.5, true, []byte{1}}}
	d["ia-99"] = "not data, but not an inline key either"
	m, err := Decode(mustPlist(t, d))
	if err != nil {
		t.Fatal(err)
	}
	want := &Message{ID: testID, Participants: []string{"mailto:alice@example.com"}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %s", dump(m))
	}
}

func mustParseTime(t *testing.T) time.Time {
	t.Helper()
	return time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
}

// TestDecodedSharesNothing: the decoded message does not alias the input.
func TestDecodedSharesNothing(t *testing.T) {
	raw, err := Marshal(richMessage())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := dump(m)
	for i := range raw {
		raw[i] = 'Z'
	}
	if dump(m) != want {
		t.Fatal("decoded message changed with its input")
	}
}
