package blobapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/attachment"
)

// The decoders below turn request bodies, path segments and headers into
// checked values. Each returns an *Error with a documented code for every
// bad input and never panics; they are fuzzed (Fuzz* in decode_test.go).

// maxSizeDigits is the most digits a size may have: 10^18 - 1 fits int64.
const maxSizeDigits = 18

// DecodeCreate checks a body of POST /v1/blobs: one JSON object with
// exactly the fields size (a non-negative integer, at most maxSize),
// signature (42 hex digits starting 81) and chunks (NumChunks(size)
// checksums of 42 hex digits starting 01), in any order. Hex may be in
// either case. The checks run in this order, so a client learns the most
// useful reason first: shape, field values, missing fields, size limit,
// chunk count.
func DecodeCreate(body []byte, maxSize int64) (*CreateRequest, *Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, Errorf(CodeMalformedJSON, "body is empty; send a JSON object")
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return nil, Errorf(CodeMalformedJSON, "body must be one JSON object")
	}
	var (
		req                    CreateRequest
		hasSize, hasSig, hasCh bool
		sizeDigits             string
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Errorf(CodeMalformedJSON, "body is not valid JSON")
		}
		key := tok.(string) // the decoder guarantees a string key here
		var seen *bool
		switch key {
		case "size":
			seen = &hasSize
		case "signature":
			seen = &hasSig
		case "chunks":
			seen = &hasCh
		default:
			return nil, Errorf(CodeUnknownField, "unknown field %q; the fields are size, signature and chunks", truncate(key, 40))
		}
		if *seen {
			return nil, Errorf(CodeDuplicateField, "field %q appears twice", key)
		}
		*seen = true
		tok, err = dec.Token()
		if err != nil {
			return nil, Errorf(CodeMalformedJSON, "body is not valid JSON")
		}
		switch key {
		case "size":
			num, ok := tok.(json.Number)
			if !ok {
				return nil, Errorf(CodeInvalidSize, "size: give the size of the encrypted blob in bytes, as a JSON integer")
			}
			sizeDigits = string(num)
		case "signature":
			s, ok := tok.(string)
			if !ok || req.Signature.UnmarshalText([]byte(s)) != nil {
				return nil, Errorf(CodeInvalidSignature, "signature: give the mmcs-signature of the encrypted blob, 42 hex digits starting 81")
			}
		case "chunks":
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return nil, Errorf(CodeMalformedJSON, "chunks must be a JSON array of checksums")
			}
			req.Chunks = []attachment.ChunkChecksum{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return nil, Errorf(CodeMalformedJSON, "body is not valid JSON")
				}
				s, ok := tok.(string)
				var c attachment.ChunkChecksum
				if !ok || c.UnmarshalText([]byte(s)) != nil {
					return nil, Errorf(CodeInvalidChecksum, "chunks[%d]: a chunk checksum is 42 hex digits starting 01", len(req.Chunks))
				}
				req.Chunks = append(req.Chunks, c)
			}
			if _, err := dec.Token(); err != nil { // the closing ]
				return nil, Errorf(CodeMalformedJSON, "body is not valid JSON")
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return nil, Errorf(CodeMalformedJSON, "body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(CodeMalformedJSON, "body has data after the JSON object")
	}
	switch {
	case !hasSize:
		return nil, Errorf(CodeMissingField, "size: give the size of the encrypted blob in bytes")
	case !hasSig:
		return nil, Errorf(CodeMissingField, "signature: give the mmcs-signature of the encrypted blob")
	case !hasCh:
		return nil, Errorf(CodeMissingField, "chunks: give the checksum of every 5 MiB chunk (an empty list for an empty blob)")
	}
	size, e := parseSize(sizeDigits, maxSize)
	if e != nil {
		return nil, e
	}
	req.Size = size
	if want := NumChunks(size); len(req.Chunks) != want {
		return nil, Errorf(CodeChunkCountMismatch, "a blob of %d bytes has %d chunks of at most %d bytes; %d checksums given", size, want, ChunkSize, len(req.Chunks))
	}
	return &req, nil
}

// parseSize checks a JSON number as a blob size.
func parseSize(s string, maxSize int64) (int64, *Error) {
	bad := Errorf(CodeInvalidSize, "size: a whole number of bytes, 0 or more, without fraction or exponent")
	if s == "" || s[0] == '-' || strings.ContainsAny(s, ".eE+") {
		return 0, bad
	}
	if len(s) > maxSizeDigits {
		return 0, Errorf(CodeBlobTooLarge, "size: %s... bytes is past this server's limit of %d bytes per blob", s[:maxSizeDigits], maxSize)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, bad
	}
	if n > maxSize {
		return 0, Errorf(CodeBlobTooLarge, "size: %d bytes is past this server's limit of %d bytes per blob", n, maxSize)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// NewID returns the text form of a fresh random blob id.
func NewID(random []byte) string { return hex.EncodeToString(random) }

// ParseID checks a blob id: 2*IDSize lower-case hex digits.
func ParseID(s string) (string, *Error) {
	if len(s) != 2*IDSize {
		return "", Errorf(CodeInvalidBlobID, "a blob id is %d lower-case hex digits", 2*IDSize)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", Errorf(CodeInvalidBlobID, "a blob id is %d lower-case hex digits", 2*IDSize)
		}
	}
	return s, nil
}

var tokenEncoding = base64.RawURLEncoding.Strict()

// EncodeToken returns the text form of an upload token.
func EncodeToken(raw []byte) string { return tokenEncoding.EncodeToString(raw) }

// ParseToken checks an upload token (canonical unpadded base64url of
// TokenSize bytes) and returns its raw bytes. A token that is not well
// formed is an unknown upload.
func ParseToken(s string) ([]byte, *Error) {
	if len(s) != tokenEncoding.EncodedLen(TokenSize) {
		return nil, Errorf(CodeUploadNotFound, "no such upload; it may have expired or been aborted")
	}
	raw, err := tokenEncoding.DecodeString(s)
	if err != nil || len(raw) != TokenSize {
		return nil, Errorf(CodeUploadNotFound, "no such upload; it may have expired or been aborted")
	}
	return raw, nil
}

// ParseChunkIndex checks the {index} path segment of a chunk upload: a
// decimal number without sign or leading zeros. Whether the plan has that
// chunk is checked by the caller (CodeChunkOutOfRange).
func ParseChunkIndex(s string) (int, *Error) {
	bad := Errorf(CodeInvalidChunkIndex, "a chunk index is a decimal number from 0, as in the upload plan")
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, bad
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, bad
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// ParseRange interprets a Range header for a blob of size bytes. It
// accepts one byte range in any of its three forms, "bytes=first-last",
// "bytes=first-" and "bytes=-suffix" (the unit in any case, spaces around
// the range allowed), and returns the bytes to send, [off, off+n). partial
// is false when h is empty: send the whole blob with 200.
//
// A last position past the end is cut to the end; a range that starts at
// or past the end, or an empty suffix, is CodeRangeNotSatisfiable; any
// other form, several ranges among them, is CodeInvalidRange.
func ParseRange(h string, size int64) (off, n int64, partial bool, e *Error) {
	if h == "" {
		return 0, size, false, nil
	}
	unit, spec, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, 0, false, Errorf(CodeInvalidRange, "Range: only bytes=first-last, bytes=first- or bytes=-suffix")
	}
	if strings.Contains(spec, ",") {
		return 0, 0, false, Errorf(CodeInvalidRange, "Range: one range per request")
	}
	spec = strings.TrimSpace(spec)
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, Errorf(CodeInvalidRange, "Range: only bytes=first-last, bytes=first- or bytes=-suffix")
	}
	unsat := func() (int64, int64, bool, *Error) {
		return 0, 0, false, Errorf(CodeRangeNotSatisfiable, "Range: %s is outside the blob's %d bytes", truncate(spec, 60), size)
	}
	if first == "" { // suffix: the last N bytes
		sfx, ok := rangeNumber(last)
		if !ok {
			return 0, 0, false, Errorf(CodeInvalidRange, "Range: bytes=-N needs a decimal N")
		}
		if sfx == 0 || size == 0 {
			return unsat()
		}
		sfx = min(sfx, size)
		return size - sfx, sfx, true, nil
	}
	a, ok := rangeNumber(first)
	if !ok {
		return 0, 0, false, Errorf(CodeInvalidRange, "Range: the first position must be a decimal number")
	}
	b := size - 1
	if last != "" {
		var ok bool
		if b, ok = rangeNumber(last); !ok || b < a {
			return 0, 0, false, Errorf(CodeInvalidRange, "Range: the last position must be a decimal number not before the first")
		}
	}
	if a >= size {
		return unsat()
	}
	b = min(b, size-1)
	return a, b - a + 1, true, nil
}

// rangeNumber parses a non-negative decimal of at most 18 digits.
func rangeNumber(s string) (int64, bool) {
	if s == "" || len(s) > maxSizeDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
