package message

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/attachment"
	"howett.net/plist"
)

// testKey and testSig are fixed attachment references for tests.
var (
	testKey = func() (k attachment.Key) {
		for i := range k {
			k[i] = byte(i)
		}
		return k
	}()
	testSig = func() (s attachment.Signature) {
		s[0] = 0x81
		for i := 1; i < len(s); i++ {
			s[i] = 0xA0 + byte(i-1)
		}
		return s
	}()
	testID = ID{0x6B, 0xA7, 0xB8, 0x10, 0x9D, 0xAD, 0x11, 0xD1, 0x80, 0xB4, 0x00, 0xC0, 0x4F, 0xD4, 0x30, 0xC8}
)

// mmcsAttachment returns a valid MMCS attachment.
func mmcsAttachment() Attachment {
	return Attachment{
		Name: "photo.jpg", MimeType: "image/jpeg", UTIType: "public.jpeg",
		Size: 12345, Width: 640, Height: 480, MessagePart: 0,
		Key: testKey, Signature: testSig,
		URL: "https://example.com/mmcs/abc", Owner: "owner-1",
	}
}

// inlineAttachment returns a valid inline attachment.
func inlineAttachment(data []byte) Attachment {
	return Attachment{
		Name: "note.txt", MimeType: "text/plain", UTIType: "public.plain-text",
		Size: int64(len(data)), MessagePart: 1, Inline: data,
	}
}

// richMessage uses every field, with text that needs escaping.
func richMessage() *Message {
	return &Message{
		ID:           testID,
		Participants: []string{"mailto:alice@example.com", "tel:+15555550123", "mailto:bob@example.org"},
		Text:         `<b>"Tom" & 'Jerry'</b>` + "\n\ttab\r\nhéllo 👋",
		GroupID:      "A1B2C3D4-0000-4000-8000-000000000001",
		Effect:       "com.apple.MobileSMS.expressivesend.impact",
		Attachments: []Attachment{
			mmcsAttachment(),
			inlineAttachment([]byte("notes")),
			{
				Name: `a "quoted" <name> & 'more' é.png`, Size: 0, MessagePart: 2,
				Key: testKey, Signature: testSig,
				URL: BlobURIPrefix + "blob/0001", Owner: "o",
			},
			inlineAttachment([]byte{0, 1, 2, 0xff}),
		},
	}
}

// shortMessage is a typical short text message.
func shortMessage() *Message {
	return &Message{
		ID:           testID,
		Participants: []string{"mailto:alice@example.com", "tel:+15555550123"},
		Text:         "See you at 7? I'll bring the cake.",
		GroupID:      "A1B2C3D4-0000-4000-8000-000000000001",
	}
}

// sameMessage reports whether a and b hold the same message, XHTML aside,
// treating a nil and an empty Inline alike.
func sameMessage(a, b *Message) bool {
	norm := func(m *Message) Message {
		c := *m
		c.XHTML = ""
		c.Attachments = nil
		for _, at := range m.Attachments {
			if len(at.Inline) == 0 {
				at.Inline = nil
			}
			c.Attachments = append(c.Attachments, at)
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// mustPlist marshals v with the library, bypassing every check of ours.
func mustPlist(t testing.TB, v any) []byte {
	t.Helper()
	b, err := plist.Marshal(v, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseDict returns the keys of a minimal valid message, for tests that
// build plists by hand.
func baseDict() map[string]any {
	return map[string]any{
		keyID:           testID.String(),
		keyParticipants: []string{"mailto:alice@example.com"},
		keyPV:           0,
		keyGV:           "8",
		keyV:            "1",
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantErr checks that err wraps want and mentions each fragment.
func wantErr(t testing.TB, err, want error, fragments ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

// isOurs reports whether err wraps exactly one of the package's sentinels.
func isOurs(err error) bool {
	n := 0
	for _, s := range []error{ErrTooLarge, ErrMalformed, ErrInvalid} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1
}

// rawPlist builds a binary plist by hand from encoded objects, for inputs
// the library would never write. Object bytes use refSize-byte references.
type rawPlist struct {
	objs             [][]byte
	top              int
	refSize, offSize int
	numObjects       int64 // overrides len(objs) in the trailer when non-zero
	tableOffset      int64 // overrides the real offset table offset when non-zero
}

func (r rawPlist) bytes() []byte {
	if r.refSize == 0 && r.offSize == 0 {
		r.refSize, r.offSize = 1, 4
	}
	b := []byte(bplistMagic)
	offs := make([]int, len(r.objs))
	for i, o := range r.objs {
		offs[i] = len(b)
		b = append(b, o...)
	}
	table := len(b)
	for _, o := range offs {
		var w [8]byte
		binary.BigEndian.PutUint64(w[:], uint64(o))
		b = append(b, w[8-r.offSize:]...)
	}
	var tr [32]byte
	tr[6], tr[7] = byte(r.offSize), byte(r.refSize)
	n := int64(len(r.objs))
	if r.numObjects != 0 {
		n = r.numObjects
	}
	binary.BigEndian.PutUint64(tr[8:], uint64(n))
	binary.BigEndian.PutUint64(tr[16:], uint64(r.top))
	to := int64(table)
	if r.tableOffset != 0 {
		to = r.tableOffset
	}
	binary.BigEndian.PutUint64(tr[24:], uint64(to))
	return append(b, tr[:]...)
}

// Encoders for hand-built objects, with 1-byte references.
func oASCII(s string) []byte {
	if len(s) < 15 {
		return append([]byte{0x50 | byte(len(s))}, s...)
	}
	return append([]byte{0x5F, 0x10, byte(len(s))}, s...)
}
func oArray(refs ...byte) []byte {
	return append([]byte{0xA0 | byte(len(refs))}, refs...)
}
func oDict(keys, vals []byte) []byte {
	b := []byte{0xD0 | byte(len(keys))}
	return append(append(b, keys...), vals...)
}

// minimalRaw is a valid message built by hand: {p: [mailto:a@b], r: ID}
// plus extra key/value objects appended by the caller (indices from 6).
func minimalRaw(extraKeys, extraVals []byte, extra ...[]byte) rawPlist {
	objs := [][]byte{
		nil, // 0: the dict, filled below
		oASCII("p"),
		oArray(3),
		oASCII("mailto:a@b"),
		oASCII(testID.String()),
		oASCII("r"),
	}
	objs = append(objs, extra...)
	keys := append([]byte{1, 5}, extraKeys...)
	vals := append([]byte{2, 4}, extraVals...)
	objs[0] = oDict(keys, vals)
	return rawPlist{objs: objs}
}
