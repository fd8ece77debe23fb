package message

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sealpost/sealpost/attachment"
)

// The <FILE> element: its attributes, their rules, and the generation of x.

// fileRef is one parsed <FILE> element: the attachment it describes, without
// the inline bytes, and the plist key holding them for an inline one.
type fileRef struct {
	Attachment
	inlineKey string // "ia-N" for an inline attachment, "" for an MMCS one
}

func invalidFile(n int, format string, args ...any) error {
	return fmt.Errorf("%w: x: FILE %d: %s", ErrInvalid, n, fmt.Sprintf(format, args...))
}

// parseFile reads the decoded attributes of FILE element n. Unknown
// attributes, prefixed ones included, are ignored but count against
// MaxElementAttrs and MaxAttrBytes; duplicates are refused.
func parseFile(n int, attrs []xml.Attr) (fileRef, error) {
	var r fileRef
	if len(attrs) > MaxElementAttrs {
		return r, fmt.Errorf("%w: x: FILE %d has more than MaxElementAttrs (%d) attributes", ErrTooLarge, n, MaxElementAttrs)
	}
	var (
		haveName, haveDataSize, haveFileSize bool
		dataSize                             int64
		mmcs                                 []string // MMCS attributes present
	)
	for i, a := range attrs {
		for _, b := range attrs[:i] {
			if a.Name == b.Name {
				return r, invalidFile(n, "duplicate attribute")
			}
		}
		name, v := a.Name.Local, a.Value
		if a.Name.Space != "" {
			name = "" // a prefixed attribute is not one of ours
		}
		limit, limitName := MaxAttrBytes, "MaxAttrBytes"
		switch name {
		case attrName:
			limit, limitName = MaxNameBytes, "MaxNameBytes"
		case attrURL:
			limit, limitName = MaxURLBytes, "MaxURLBytes"
		}
		if len(v) > limit {
			return r, fmt.Errorf("%w: x: FILE %d: attribute longer than %s (%d)", ErrTooLarge, n, limitName, limit)
		}
		var err error
		switch name {
		case attrName:
			r.Name, haveName = v, true
		case attrMimeType:
			r.MimeType = v
		case attrUTIType:
			r.UTIType = v
		case attrWidth:
			r.Width, err = parseSmall(v)
		case attrHeight:
			r.Height, err = parseSmall(v)
		case attrMessagePart:
			r.MessagePart, err = parseSmall(v)
		case attrDataSize:
			dataSize, err = parseDecimal(v, math.MaxInt64)
			haveDataSize = true
		case attrFileSize:
			r.Size, err = parseDecimal(v, math.MaxInt64)
			haveFileSize = true
		case attrInline:
			r.inlineKey = v
			if _, ok := inlineIndex(v); !ok {
				err = errors.New("not ia-N with N below MaxAttachments")
			}
		case attrKey:
			mmcs = append(mmcs, name)
			err = r.Key.UnmarshalText([]byte(v))
		case attrSignature:
			mmcs = append(mmcs, name)
			err = r.Signature.UnmarshalText([]byte(v))
		case attrURL:
			mmcs = append(mmcs, name)
			r.URL = v
		case attrOwner:
			mmcs = append(mmcs, name)
			r.Owner = v
		}
		if err != nil {
			return r, invalidFile(n, "attribute %s: %v", name, err)
		}
	}
	if !haveName {
		return r, invalidFile(n, "no name attribute")
	}
	switch {
	case haveDataSize && haveFileSize && dataSize != r.Size:
		return r, invalidFile(n, "datasize and file-size differ")
	case haveDataSize && !haveFileSize:
		r.Size = dataSize
	case !haveDataSize && !haveFileSize:
		return r, invalidFile(n, "neither datasize nor file-size")
	}
	if r.inlineKey != "" {
		if len(mmcs) != 0 {
			return r, invalidFile(n, "inline attachment with attribute %s", mmcs[0])
		}
	} else if len(mmcs) != 4 {
		return r, invalidFile(n, "MMCS attachment needs decryption-key, mmcs-signature-hex, mmcs-url and mmcs-owner")
	}
	if err := validateAttachment(n, &r.Attachment, r.inlineKey != ""); err != nil {
		return r, err
	}
	return r, nil
}

// parseDecimal parses a non-negative decimal integer in canonical form (no
// sign, no leading zeros, no spaces) of at most max.
func parseDecimal(s string, max int64) (int64, error) {
	if s == "" || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, errors.New("not a canonical non-negative decimal")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("not a canonical non-negative decimal")
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("above %d", max)
	}
	return v, nil
}

func parseSmall(s string) (int, error) {
	v, err := parseDecimal(s, math.MaxInt32)
	return int(v), err
}

// inlineIndex parses an inline attachment key "ia-N", N < MaxAttachments.
func inlineIndex(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, inlineKeyPrefix)
	if !ok {
		return 0, false
	}
	v, err := parseDecimal(s, MaxAttachments-1)
	return int(v), err == nil
}

// inlineKey returns "ia-N", N < MaxAttachments.
func inlineKey(n int) string { return inlineKeys[n] }

var inlineKeys = func() (k [MaxAttachments]string) {
	for n := range k {
		k[n] = inlineKeyPrefix + strconv.Itoa(n)
	}
	return k
}()

// validateAttachment checks the fields of attachment n, as parsed or as
// given to Encode. inline says which kind it is; Inline itself is checked by
// the caller.
func validateAttachment(n int, a *Attachment, inline bool) error {
	switch {
	case a.Name == "":
		return invalidFile(n, "empty name")
	case len(a.Name) > MaxNameBytes:
		return fmt.Errorf("%w: attachment %d: name longer than MaxNameBytes (%d)", ErrTooLarge, n, MaxNameBytes)
	case !validName(a.Name):
		return invalidFile(n, "name is not UTF-8 free of control characters and U+FFFE, U+FFFF")
	case len(a.MimeType) > MaxAttrBytes || len(a.UTIType) > MaxAttrBytes || len(a.Owner) > MaxAttrBytes:
		return fmt.Errorf("%w: attachment %d: attribute longer than MaxAttrBytes (%d)", ErrTooLarge, n, MaxAttrBytes)
	case len(a.URL) > MaxURLBytes:
		return fmt.Errorf("%w: attachment %d: URL longer than MaxURLBytes (%d)", ErrTooLarge, n, MaxURLBytes)
	case !printableASCII(a.MimeType, true) || !printableASCII(a.UTIType, true):
		return invalidFile(n, "mime-type or uti-type is not printable ASCII")
	case a.Size < 0 || a.Width < 0 || a.Height < 0 || a.MessagePart < 0:
		return invalidFile(n, "negative size, width, height or message-part")
	case a.Width > math.MaxInt32 || a.Height > math.MaxInt32 || a.MessagePart > math.MaxInt32:
		return invalidFile(n, "width, height or message-part above 2^31-1")
	}
	if inline {
		if a.Key != (attachment.Key{}) || a.Signature != (attachment.Signature{}) || a.URL != "" || a.Owner != "" {
			return invalidFile(n, "inline attachment with MMCS fields")
		}
		return nil
	}
	if a.Key == (attachment.Key{}) {
		return invalidFile(n, "zero decryption key")
	}
	if a.Signature[0] != 0x81 {
		return invalidFile(n, "signature does not start 81")
	}
	if a.Owner == "" || !printableASCII(a.Owner, false) {
		return invalidFile(n, "mmcs-owner is empty or not printable ASCII")
	}
	if !validURL(a.URL) {
		return invalidFile(n, "mmcs-url is not an http(s) URL or a "+BlobURIPrefix+" URI")
	}
	return nil
}

// validName reports whether s is valid UTF-8 without control characters or
// the two noncharacters XML cannot carry, so that it survives escaping.
func validName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// printableASCII reports whether s is printable ASCII, space allowed or not.
func printableASCII(s string, space bool) bool {
	for _, c := range []byte(s) {
		if c > '~' || c < ' ' || (c == ' ' && !space) {
			return false
		}
	}
	return true
}

// validURL accepts https:// and http:// URLs with a host, and Sealpost blob
// URIs, all printable ASCII without spaces.
func validURL(s string) bool {
	if !printableASCII(s, false) {
		return false
	}
	if rest, ok := strings.CutPrefix(s, BlobURIPrefix); ok {
		return rest != ""
	}
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Host != ""
}

// appendXHTML appends the x string for text and refs:
//
//	<html><body><FILE .../>...<span message-part="N">text</span></body></html>
//
// one self-closing FILE element per ref in order, then the text (when not
// empty) in a span whose message-part is one more than the highest
// attachment part. Attribute values and text are escaped; characters XML
// cannot carry become U+FFFD.
func appendXHTML(b []byte, text string, refs []fileRef) []byte {
	b = append(b, "<html><body>"...)
	part := int64(0)
	for i := range refs {
		r := &refs[i]
		part = max(part, int64(r.MessagePart)+1)
		b = append(b, "<"+fileElement...)
		b = appendAttr(b, attrName, r.Name)
		b = appendIntAttr(b, attrWidth, int64(r.Width))
		b = appendIntAttr(b, attrHeight, int64(r.Height))
		b = appendIntAttr(b, attrDataSize, r.Size)
		if r.MimeType != "" {
			b = appendAttr(b, attrMimeType, r.MimeType)
		}
		if r.UTIType != "" {
			b = appendAttr(b, attrUTIType, r.UTIType)
		}
		b = appendIntAttr(b, attrFileSize, r.Size)
		b = appendIntAttr(b, attrMessagePart, int64(r.MessagePart))
		if r.inlineKey != "" {
			b = appendAttr(b, attrInline, r.inlineKey)
		} else {
			key, _ := r.Key.MarshalText()
			sig, _ := r.Signature.MarshalText()
			b = appendAttr(b, attrKey, string(key))
			b = appendAttr(b, attrSignature, string(sig))
			b = appendAttr(b, attrURL, r.URL)
			b = appendAttr(b, attrOwner, r.Owner)
		}
		b = append(b, "/>"...)
	}
	if text != "" {
		b = append(b, `<span message-part="`...)
		b = strconv.AppendInt(b, part, 10)
		b = append(b, `">`...)
		b = appendEscaped(b, text)
		b = append(b, "</span>"...)
	}
	return append(b, "</body></html>"...)
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value)
	return append(b, '"')
}

func appendIntAttr(b []byte, name string, v int64) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = strconv.AppendInt(b, v, 10)
	return append(b, '"')
}

// appendEscaped appends s escaped for XML text or a double-quoted attribute
// value. Tab, newline and carriage return become character references so
// that attribute-value normalisation keeps them; characters outside the XML
// Char production (other controls, U+FFFE, U+FFFF, invalid UTF-8) become
// U+FFFD. At most 5 bytes are written per input byte.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&#34;"...)
		case r == '\'':
			b = append(b, "&#39;"...)
		case r == '\t':
			b = append(b, "&#9;"...)
		case r == '\n':
			b = append(b, "&#10;"...)
		case r == '\r':
			b = append(b, "&#13;"...)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF:
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
