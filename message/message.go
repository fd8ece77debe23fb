package message

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/sealpost/sealpost/attachment"
)

// Errors. Every error returned by this package wraps exactly one of them;
// the text after the sentinel names the key, attribute or limit involved.
var (
	// ErrTooLarge reports input or a Message past one of the limits in
	// constants.go.
	ErrTooLarge = errors.New("message: too large")
	// ErrMalformed reports bytes that are not a well-formed gzip stream or
	// binary property list.
	ErrMalformed = errors.New("message: malformed")
	// ErrInvalid reports a well-formed property list whose content breaks
	// the rules of this package (a key of the wrong type, a bad URI, a bad
	// <FILE> attribute), or a Message given to Encode that does.
	ErrInvalid = errors.New("message: invalid")
)

// Message is one iMessage inner message.
type Message struct {
	// ID is the message UUID (key r). It must not be the zero ID.
	ID ID
	// Participants are the URIs of everyone in the conversation, the
	// sender included (key p): "tel:+" and an E.164 number, or "mailto:"
	// and an address. At least one, no duplicates.
	Participants []string
	// Text is the plain text (key t); it may be empty.
	Text string
	// GroupID names the conversation (key gid); empty when absent.
	GroupID string
	// Effect is the expressive-send effect identifier (key iid), e.g.
	// "com.apple.MobileSMS.expressivesend.impact"; empty when absent.
	Effect string
	// Attachments are the <FILE> elements of the XHTML, in document order.
	Attachments []Attachment
	// XHTML is the x string exactly as received. Decode sets it; Encode
	// ignores it and writes an x generated from Text and Attachments.
	XHTML string
}

// Attachment is one <FILE> element of the XHTML. An attachment is either
// stored in MMCS (Key, Signature, URL and Owner set, Inline empty) or inline
// (Inline holds its bytes, the four MMCS fields are zero). Name, MimeType
// and the sizes are what the sender declared; nothing checks them against
// the file, and Name must be sanitised before it is used as a path.
type Attachment struct {
	Name        string // name: the file name
	MimeType    string // mime-type, e.g. "image/jpeg"; may be empty
	UTIType     string // uti-type, e.g. "public.jpeg"; may be empty
	Size        int64  // file-size (and datasize, which must agree)
	Width       int    // width in pixels, 0 when unknown
	Height      int    // height in pixels, 0 when unknown
	MessagePart int    // message-part

	Key       attachment.Key       // decryption-key
	Signature attachment.Signature // mmcs-signature-hex
	URL       string               // mmcs-url: https://, http:// or BlobURIPrefix
	Owner     string               // mmcs-owner

	// Inline holds the bytes of an inline attachment (plist key ia-N named
	// by the inline-attachment attribute). A non-empty Inline is what marks
	// an attachment as inline.
	Inline []byte
}

// IsInline reports whether a is an inline attachment.
func (a Attachment) IsInline() bool { return len(a.Inline) > 0 }

// String describes a without its inline bytes or key.
func (a Attachment) String() string {
	kind := "mmcs"
	if a.IsInline() {
		kind = "inline"
	}
	return fmt.Sprintf("message.Attachment{%s, %d bytes, redacted}", kind, a.Size)
}

// GoString is String: %#v must not print plaintext either.
func (a Attachment) GoString() string { return a.String() }

// String describes m without its plaintext.
func (m Message) String() string {
	return fmt.Sprintf("message.Message{ID: %s, %d participants, %d attachments, redacted}",
		m.ID, len(m.Participants), len(m.Attachments))
}

// GoString is String: %#v must not print plaintext either.
func (m Message) GoString() string { return m.String() }

// ID is a message UUID. Its text form is the canonical 8-4-4-4-12 hex form
// in upper case, as iMessage writes it.
type ID [16]byte

// NewID returns a random (version 4) ID from crypto/rand.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// ParseID parses the canonical UUID form, in either case. Braces, "urn:"
// prefixes and the dash-less form are refused.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, fmt.Errorf("%w: message ID is not a canonical UUID", ErrInvalid)
	}
	j := 0
	for _, g := range [...][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}} {
		n, err := hex.Decode(id[j:], []byte(s[g[0]:g[1]]))
		if err != nil {
			return ID{}, fmt.Errorf("%w: message ID is not a canonical UUID", ErrInvalid)
		}
		j += n
	}
	return id, nil
}

// String returns the upper-case canonical form.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return strings.ToUpper(string(b[:]))
}

// IsZero reports whether id is the all-zero (nil) UUID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText returns the String form.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the canonical form, like ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// decodeCalls counts Decode calls; see DecodeCalls.
var decodeCalls atomic.Uint64

// DecodeCalls returns how many times Decode has been called in this
// process. Each call is counted on entry, before any byte of its input is
// examined, so the counter covers every run of the decompressor and the
// parsers here. It is a diagnostic for tests: a test of pair or pairec can
// read it before and after feeding forged ciphertext to check that nothing
// was decompressed or parsed before authentication. It is one atomic load.
func DecodeCalls() uint64 { return decodeCalls.Load() }
