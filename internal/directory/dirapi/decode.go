package dirapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sealpost/sealpost/identity"
)

// The decoders below turn a request body into checked values. Each returns
// an *Error with a documented code for every bad input and never panics;
// they are fuzzed (FuzzDecode* in decode_test.go).

// Device is a device's published fields, checked: the prekey parses and its
// signature verifies under the device key.
type Device struct {
	DeviceKey    identity.CompactKey
	SignedPrekey []byte // canonical PublicDevicePrekey bytes
	PushToken    [PushTokenSize]byte
	Schemes      []string // sorted, no duplicates
	MaxPayload   int
	Name         string
}

// Registration is a checked RegisterRequest.
type Registration struct {
	Handle Handle
	Code   string
	Device Device
}

// DecodeLookup checks a lookup body: 1 to MaxLookupHandles handles, each
// valid, none twice once normalised.
func DecodeLookup(body []byte) ([]Handle, *Error) {
	var req LookupRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if len(req.Handles) == 0 {
		return nil, Errorf(CodeMissingField, "handles: give 1 to %d handles to look up", MaxLookupHandles)
	}
	if len(req.Handles) > MaxLookupHandles {
		return nil, Errorf(CodeTooManyHandles, "handles: %d given, at most %d per lookup; split the request", len(req.Handles), MaxLookupHandles)
	}
	out := make([]Handle, len(req.Handles))
	for i, s := range req.Handles {
		h, err := ParseHandle(s)
		if err != nil {
			e := err.(*Error)
			return nil, Errorf(e.Code, "handles[%d]: %s", i, e.Message)
		}
		if slices.Contains(out[:i], h) {
			return nil, Errorf(CodeDuplicateHandle, "handles[%d]: %s is already in the list", i, h)
		}
		out[i] = h
	}
	return out, nil
}

// DecodeCodeRequest checks a body of POST /v1/codes.
func DecodeCodeRequest(body []byte) (Handle, *Error) {
	var req CodeRequest
	if err := decodeStrict(body, &req); err != nil {
		return "", err
	}
	if req.Handle == "" {
		return "", Errorf(CodeMissingField, "handle: give the mailto: or tel: handle to verify")
	}
	h, err := ParseHandle(req.Handle)
	if err != nil {
		return "", err.(*Error)
	}
	return h, nil
}

// DecodeRegistration checks a body of POST /v1/registrations.
func DecodeRegistration(body []byte) (*Registration, *Error) {
	var req RegisterRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	if req.Handle == "" {
		return nil, Errorf(CodeMissingField, "handle: give the handle the code was sent to")
	}
	h, herr := ParseHandle(req.Handle)
	if herr != nil {
		return nil, herr.(*Error)
	}
	if req.Code == "" {
		return nil, Errorf(CodeMissingField, "code: give the verification code that was sent to %s", h)
	}
	if !validCode(req.Code) {
		return nil, Errorf(CodeInvalidCode, "code: a verification code is %d digits", CodeDigits)
	}
	dev, err := checkDevice(&req.Device, "device.")
	if err != nil {
		return nil, err
	}
	return &Registration{Handle: h, Code: req.Code, Device: *dev}, nil
}

// DecodeDeviceUpdate checks a body of PUT /v1/devices/self.
func DecodeDeviceUpdate(body []byte) (*Device, *Error) {
	var req DeviceFields
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	return checkDevice(&req, "")
}

func validCode(s string) bool {
	if len(s) != CodeDigits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkDevice(f *DeviceFields, prefix string) (*Device, *Error) {
	var d Device
	if len(f.DeviceKey) == 0 {
		return nil, Errorf(CodeMissingField, "%sdevice_key: give the 32-byte pair-ec device key (base64)", prefix)
	}
	key, err := identity.ParseCompactKey(f.DeviceKey)
	if err != nil {
		return nil, Errorf(CodeInvalidDeviceKey, "%sdevice_key: not a 32-byte compact P-256 key", prefix)
	}
	d.DeviceKey = key
	if len(f.SignedPrekey) == 0 {
		return nil, Errorf(CodeMissingField, "%ssigned_prekey: give the signed prekey record (base64)", prefix)
	}
	sp, err := identity.ParseSignedPrekey(f.SignedPrekey)
	if err != nil {
		return nil, Errorf(CodeInvalidPrekey, "%ssigned_prekey: not a canonical PublicDevicePrekey record", prefix)
	}
	if sp.Verify(key) != nil {
		return nil, Errorf(CodeBadPrekeySig, "%ssigned_prekey: its signature does not verify under device_key; sign the prekey with this device key", prefix)
	}
	d.SignedPrekey = sp.Marshal()
	if len(f.PushToken) == 0 {
		return nil, Errorf(CodeMissingField, "%spush_token: give the device's %d-byte push token (base64)", prefix, PushTokenSize)
	}
	if len(f.PushToken) != PushTokenSize {
		return nil, Errorf(CodeInvalidPushToken, "%spush_token: is %d bytes, want %d", prefix, len(f.PushToken), PushTokenSize)
	}
	copy(d.PushToken[:], f.PushToken)
	if len(f.Capabilities.Schemes) == 0 {
		return nil, Errorf(CodeMissingField, "%scapabilities.schemes: list the payload schemes the device opens (pair, pair-ec)", prefix)
	}
	if len(f.Capabilities.Schemes) > 2 {
		return nil, Errorf(CodeInvalidCapability, "%scapabilities.schemes: at most pair and pair-ec, each once", prefix)
	}
	for _, s := range f.Capabilities.Schemes {
		if s != SchemePair && s != SchemePairEC {
			return nil, Errorf(CodeInvalidCapability, "%scapabilities.schemes: unknown scheme; use pair and/or pair-ec", prefix)
		}
		if slices.Contains(d.Schemes, s) {
			return nil, Errorf(CodeInvalidCapability, "%scapabilities.schemes: %s is listed twice", prefix, s)
		}
		d.Schemes = append(d.Schemes, s)
	}
	slices.Sort(d.Schemes)
	if f.Capabilities.MaxPayload == 0 {
		return nil, Errorf(CodeMissingField, "%scapabilities.max_payload: give the largest payload the device accepts, in bytes", prefix)
	}
	if f.Capabilities.MaxPayload < MinPayloadFloor || f.Capabilities.MaxPayload > MaxPayloadCeiling {
		return nil, Errorf(CodeInvalidCapability, "%scapabilities.max_payload: must be %d to %d bytes", prefix, MinPayloadFloor, MaxPayloadCeiling)
	}
	d.MaxPayload = f.Capabilities.MaxPayload
	if f.Name == "" {
		return nil, Errorf(CodeMissingField, "%sname: give the device a display name", prefix)
	}
	if err := checkName(f.Name); err != "" {
		return nil, Errorf(CodeInvalidName, "%sname: %s", prefix, err)
	}
	d.Name = f.Name
	return &d, nil
}

func checkName(s string) string {
	if len(s) > MaxNameBytes || utf8.RuneCountInString(s) > MaxNameRunes {
		return "longer than 64 characters"
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if strings.TrimSpace(s) != s {
		return "starts or ends with a space"
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "contains a control character"
		}
	}
	return ""
}

// ParseIdentityHeader decodes X-Sealpost-Identity: standard base64 of a
// 249-byte public identity blob.
func ParseIdentityHeader(v string) (*identity.Public, *Error) {
	if len(v) > base64.StdEncoding.EncodedLen(identity.PublicSize) {
		return nil, Errorf(CodeInvalidIdentity, "%s: longer than a base64 %d-byte identity", HeaderIdentity, identity.PublicSize)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, Errorf(CodeInvalidIdentity, "%s: not standard base64", HeaderIdentity)
	}
	pub, err := identity.ParsePublic(b)
	if err != nil {
		return nil, Errorf(CodeInvalidIdentity, "%s: not a valid %d-byte public identity", HeaderIdentity, identity.PublicSize)
	}
	return pub, nil
}

// ParseDeviceID decodes a device id: 64 lower-case hex digits, the
// device's identity hash.
func ParseDeviceID(s string) ([32]byte, *Error) {
	var id [32]byte
	if len(s) != 64 || strings.ToLower(s) != s {
		return id, Errorf(CodeInvalidDeviceID, "a device id is 64 lower-case hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, Errorf(CodeInvalidDeviceID, "a device id is 64 lower-case hex digits")
	}
	return id, nil
}

// decodeStrict decodes one JSON object into v. It refuses unknown fields,
// duplicate fields, nesting deeper than maxJSONDepth, trailing data and
// wrong types, each with its own code.
func decodeStrict(body []byte, v any) *Error {
	if err := checkShape(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return Errorf(CodeMalformedJSON, "field %q has the wrong type (want %s)", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Errorf(CodeUnknownField, "%s; check the spelling against the API reference", strings.TrimPrefix(err.Error(), "json: "))
		}
		return Errorf(CodeMalformedJSON, "body is not valid JSON of the documented shape (base64 fields must be standard base64)")
	}
	return nil
}

// checkShape walks the tokens of body: one object, no duplicate keys, at
// most maxJSONDepth levels.
func checkShape(body []byte) *Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if first {
				return Errorf(CodeMalformedJSON, "body is empty; send a JSON object")
			}
			return nil
		}
		if err != nil {
			return Errorf(CodeMalformedJSON, "body is not valid JSON")
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return Errorf(CodeMalformedJSON, "body must be a JSON object")
			}
		} else if len(stack) == 0 {
			return Errorf(CodeMalformedJSON, "body has data after the JSON object")
		}
		first = false
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				afterValue(stack)
				continue
			}
			key := tok.(string) // the decoder guarantees a string key here
			if !lowerKey(key) {
				// encoding/json would match "Handles" to "handles"; the
				// API's names are lower case, so refuse the variant
				// rather than let two spellings of one field in.
				return Errorf(CodeUnknownField, "field %q: field names are lower case, as in the API reference", key)
			}
			if _, dup := top.keys[key]; dup {
				return Errorf(CodeDuplicateField, "field %q appears twice", key)
			}
			top.keys[key] = struct{}{}
			top.expect = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return Errorf(CodeMalformedJSON, "body is nested more than %d levels", maxJSONDepth)
				}
				stack = append(stack, jsonFrame{object: d == '{', keys: map[string]struct{}{}, expect: d == '{'})
			case ']':
				stack = stack[:len(stack)-1]
				afterValue(stack)
			}
			continue
		}
		afterValue(stack)
	}
}

func lowerKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return false
		}
	}
	return true
}

type jsonFrame struct {
	object bool
	keys   map[string]struct{}
	expect bool // an object whose next token is a key (or its end)
}

// afterValue marks that the object on top of stack has read a value and
// expects a key next.
func afterValue(stack []jsonFrame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].expect = true
	}
}
