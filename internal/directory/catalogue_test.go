package directory

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// serve runs one request through the handler in this goroutine (a panic
// fails the test) and returns status, error code and headers.
func (e *env) serve(req *http.Request) (int, string, http.Header) {
	e.t.Helper()
	rec := httptest.NewRecorder()
	req.RemoteAddr = "192.0.2.1:1234"
	e.handler.ServeHTTP(rec, req)
	code := ""
	if rec.Code/100 != 2 {
		var eb dirapi.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == nil {
			e.t.Fatalf("%s %s: error answer %d is not the JSON error envelope: %q", req.Method, req.URL.Path, rec.Code, rec.Body.String())
		}
		code = eb.Error.Code
	}
	return rec.Code, code, rec.Header()
}

// request builds a request signed by k (unless k is nil) at the clock.
func (e *env) request(k *identity.Keys, method, path string, body []byte, present bool) *http.Request {
	req := httptest.NewRequest(method, "https://dir.test"+path, bytes.NewReader(body))
	if k != nil {
		if err := reqsign.Sign(req, body, k.SigningKey(), dirapi.DeviceID(k), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
		if present {
			req.Header.Set(dirapi.HeaderIdentity, b64(k.Public().Bytes()))
		}
	}
	return req
}

type badCase struct {
	name    string
	method  string
	path    string
	body    string
	signer  string // "reg" (registered), "new" (unregistered, presents identity), "" (unsigned)
	mutate  func(r *http.Request)
	status  int
	code    string
	useBody []byte // instead of body
}

func jsonStr(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// validRegistration returns a well-formed registration body for k (the
// code is well-formed but was never sent).
func validRegistration(k *identity.Keys, mutate func(m map[string]any, dev map[string]any)) string {
	f := dirapi.NewDeviceFields(k, bytes.Repeat([]byte{7}, 32), "phone", 16384)
	var dev map[string]any
	json.Unmarshal([]byte(jsonStr(f)), &dev)
	m := map[string]any{"handle": "mailto:new@example.org", "code": "123456", "device": dev}
	if mutate != nil {
		mutate(m, dev)
	}
	return jsonStr(m)
}

// TestBadInputCatalogue is H4 for the directory: malformed requests, each
// answered with its documented code, never a 5xx, never a panic.
func TestBadInputCatalogue(t *testing.T) {
	e := newEnv(t, Config{})
	reg, _ := e.register("a@example.org", "registered")
	regKeys := reg.Keys
	newKeys, other := e.newKeys(), e.newKeys()
	lookup := func(hs ...string) string { return jsonStr(map[string]any{"handles": hs}) }
	var cases []badCase
	add := func(c badCase) { cases = append(cases, c) }
	L := func(name, body, code string) {
		add(badCase{name: "lookup/" + name, method: "POST", path: "/v1/lookup", body: body, signer: "reg", code: code})
	}
	// Lookup bodies.
	L("empty body", "", dirapi.CodeMalformedJSON)
	L("null", "null", dirapi.CodeMalformedJSON)
	L("array", "[]", dirapi.CodeMalformedJSON)
	L("string", `"x"`, dirapi.CodeMalformedJSON)
	L("number", `12`, dirapi.CodeMalformedJSON)
	L("open brace", `{`, dirapi.CodeMalformedJSON)
	L("unterminated string", `{"handles":["a@example.org]}`, dirapi.CodeMalformedJSON)
	L("empty object", `{}`, dirapi.CodeMissingField)
	L("empty list", `{"handles":[]}`, dirapi.CodeMissingField)
	L("null list", `{"handles":null}`, dirapi.CodeMissingField)
	L("string not list", `{"handles":"a@example.org"}`, dirapi.CodeMalformedJSON)
	L("number in list", `{"handles":[1]}`, dirapi.CodeMalformedJSON)
	L("object in list", `{"handles":[{}]}`, dirapi.CodeMalformedJSON)
	L("null in list", `{"handles":[null]}`, dirapi.CodeInvalidHandle)
	L("empty handle", `{"handles":[""]}`, dirapi.CodeInvalidHandle)
	L("duplicate field", `{"handles":["a@example.org"],"handles":["b@example.org"]}`, dirapi.CodeDuplicateField)
	L("unknown field", `{"handle":["a@example.org"]}`, dirapi.CodeUnknownField)
	L("extra field", `{"handles":["a@example.org"],"x":1}`, dirapi.CodeUnknownField)
	L("trailing object", `{"handles":["a@example.org"]} {}`, dirapi.CodeMalformedJSON)
	L("trailing garbage", `{"handles":["a@example.org"]}x`, dirapi.CodeMalformedJSON)
	L("deep nesting", `{"handles":[[[[[[[[[["a"]]]]]]]]]]}`, dirapi.CodeMalformedJSON)
	L("deep object", `{"x":{"x":{"x":{"x":{"x":{"x":{"x":1}}}}}}}`, dirapi.CodeMalformedJSON)
	L("whitespace only", "   \n\t ", dirapi.CodeMalformedJSON)
	L("byte order mark", "\ufeff"+`{"handles":["a@example.org"]}`, dirapi.CodeMalformedJSON)
	L("trailing comma", `{"handles":["a@example.org",]}`, dirapi.CodeMalformedJSON)
	L("single quotes", `{'handles':['a@example.org']}`, dirapi.CodeMalformedJSON)
	L("missing close", `{"handles":["a@example.org"]`, dirapi.CodeMalformedJSON)
	L("NaN", `{"handles":NaN}`, dirapi.CodeMalformedJSON)
	L("boolean in list", `{"handles":[true]}`, dirapi.CodeMalformedJSON)
	L("object for list", `{"handles":{"0":"a@example.org"}}`, dirapi.CodeMalformedJSON)
	L("upper-case field", `{"HANDLES":["a@example.org"]}`, dirapi.CodeUnknownField)
	L("mixed-case duplicate", `{"handles":["a@example.org"],"Handles":["b@example.org"]}`, dirapi.CodeUnknownField)
	L("non-ASCII field", `{"handlés":["a@example.org"]}`, dirapi.CodeUnknownField)
	L("escaped field name", `{"\u0068andles":["a@example.org"],"handles":[]}`, dirapi.CodeDuplicateField)
	L("UTF-16 body", "\xff\xfe{\x00}\x00", dirapi.CodeMalformedJSON)
	L("invalid UTF-8", "{\"handles\":[\"\xff@example.org\"]}", dirapi.CodeInvalidHandle)
	L("21 handles", lookup(func() []string {
		var hs []string
		for i := 0; i < 21; i++ {
			hs = append(hs, fmt.Sprintf("u%d@example.org", i))
		}
		return hs
	}()...), dirapi.CodeTooManyHandles)
	L("duplicate handle", lookup("a@example.org", "b@example.org", "a@example.org"), dirapi.CodeDuplicateHandle)
	L("duplicate after normalising", lookup("A@Example.org", "mailto:a@example.org"), dirapi.CodeDuplicateHandle)
	L("duplicate number", lookup("+1 555 123 4567", "tel:+15551234567"), dirapi.CodeDuplicateHandle)
	for _, h := range []string{
		"mailto:", "tel:", "tel:+", "tel:+1", "tel:+1234567", "tel:+0123456789", "tel:+1234567890123456",
		"tel:12345678", "tel:+1555x1234567", "tel:+1555\n1234567", "+", "+abc",
		"mailto:a@b", "mailto:a@@b.c", "mailto:@b.c", "mailto:a@", "mailto:.a@b.c", "mailto:a.@b.c",
		"mailto:a..b@c.d", "mailto:a@-b.c", "mailto:a@b-.c", "mailto:a@b..c", "mailto:a@b_c.d", "mailto:a b@c.d",
		"mailto:a/b@c.d", "mailto:a\\b@c.d", "mailto:\"a\"@c.d", "mailto:ä@b.c", "mailto:a@bü.c", "mailto:a@b.c\x00",
		"sms:+15551234567", "http://example.org", "foo", "a@b@c.d", strings.Repeat("a", 65) + "@example.org",
		"a@" + strings.Repeat("b", 64) + ".org", "a@" + strings.Repeat("b.", 130) + "org", strings.Repeat("x", 321),
		"mailto:" + strings.Repeat("a", 60) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 10) + ".org",
		"\u202etel:+15551234567", " tel:+15551234567",
	} {
		L("handle "+strconv.Quote(h), lookup(h), dirapi.CodeInvalidHandle)
	}
	add(badCase{name: "lookup/body too large", method: "POST", path: "/v1/lookup", signer: "reg",
		useBody: []byte(`{"handles":["` + strings.Repeat("a", dirapi.MaxLookupBody) + `"]}`), code: dirapi.CodeBodyTooLarge})
	add(badCase{name: "lookup/body of exactly the limit", method: "POST", path: "/v1/lookup", signer: "reg",
		useBody: []byte(`{"handles":["` + strings.Repeat("a", dirapi.MaxLookupBody-16) + `"]}`), code: dirapi.CodeInvalidHandle})

	// Signature headers, on a valid lookup.
	good := lookup("a@example.org")
	S := func(name string, signer string, mutate func(r *http.Request), code string) {
		add(badCase{name: "signature/" + name, method: "POST", path: "/v1/lookup", body: good, signer: signer, mutate: mutate, code: code})
	}
	set := func(h, v string) func(r *http.Request) { return func(r *http.Request) { r.Header.Set(h, v) } }
	S("unsigned", "", nil, dirapi.CodeUnsigned)
	S("key only", "", set(reqsign.HeaderKey, dirapi.DeviceID(regKeys)), dirapi.CodeUnsigned)
	S("empty signature", "reg", set(reqsign.HeaderSignature, ""), dirapi.CodeUnsigned)
	S("empty nonce", "reg", set(reqsign.HeaderNonce, ""), dirapi.CodeUnsigned)
	S("nonce not hex", "reg", func(r *http.Request) { r.Header.Set(reqsign.HeaderNonce, "zz"+r.Header.Get(reqsign.HeaderNonce)[2:]) }, dirapi.CodeBadSignatureHdrs)
	S("nonce version 0", "reg", func(r *http.Request) { r.Header.Set(reqsign.HeaderNonce, "00"+r.Header.Get(reqsign.HeaderNonce)[2:]) }, dirapi.CodeBadSignatureHdrs)
	S("nonce short", "reg", func(r *http.Request) { r.Header.Set(reqsign.HeaderNonce, r.Header.Get(reqsign.HeaderNonce)[2:]) }, dirapi.CodeBadSignatureHdrs)
	S("nonce long", "reg", func(r *http.Request) { r.Header.Set(reqsign.HeaderNonce, r.Header.Get(reqsign.HeaderNonce)+"00") }, dirapi.CodeBadSignatureHdrs)
	S("signature not base64", "reg", set(reqsign.HeaderSignature, "!!!!"), dirapi.CodeBadSignatureHdrs)
	S("signature too long", "reg", set(reqsign.HeaderSignature, strings.Repeat("A", 200)), dirapi.CodeBadSignatureHdrs)
	S("signature garbage", "reg", set(reqsign.HeaderSignature, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x30}, 70))), dirapi.CodeBadSignature)
	S("signature of another body", "reg", func(r *http.Request) {
		r2 := e.request(regKeys, "POST", "/v1/lookup", []byte(lookup("b@example.org")), false)
		r.Header.Set(reqsign.HeaderSignature, r2.Header.Get(reqsign.HeaderSignature))
	}, dirapi.CodeBadSignature)
	S("key not hex", "reg", set(reqsign.HeaderKey, strings.Repeat("g", 64)), dirapi.CodeBadSignatureHdrs)
	S("key upper case", "reg", set(reqsign.HeaderKey, strings.ToUpper(dirapi.DeviceID(regKeys))), dirapi.CodeBadSignatureHdrs)
	S("key short", "reg", set(reqsign.HeaderKey, dirapi.DeviceID(regKeys)[:62]), dirapi.CodeBadSignatureHdrs)
	S("key too long", "reg", set(reqsign.HeaderKey, strings.Repeat("a", 130)), dirapi.CodeBadSignatureHdrs)
	S("key of another registered device", "reg", set(reqsign.HeaderKey, dirapi.DeviceID(e.registeredKeys(t))), dirapi.CodeBadSignature)
	S("key of nobody", "reg", set(reqsign.HeaderKey, hex.EncodeToString(make([]byte, 32))), dirapi.CodeUnknownDevice)
	S("unregistered signer", "new", nil, dirapi.CodeUnknownDevice)
	S("nonce from the future", "reg", func(r *http.Request) {
		r2 := httptest.NewRequest("POST", "https://dir.test/v1/lookup", nil)
		reqsign.Sign(r2, []byte(good), regKeys.SigningKey(), dirapi.DeviceID(regKeys), e.clock.Now().Add(time.Hour))
		r.Header = r2.Header
	}, dirapi.CodeStaleNonce)
	S("nonce from the past", "reg", func(r *http.Request) {
		r2 := httptest.NewRequest("POST", "https://dir.test/v1/lookup", nil)
		reqsign.Sign(r2, []byte(good), regKeys.SigningKey(), dirapi.DeviceID(regKeys), e.clock.Now().Add(-time.Hour))
		r.Header = r2.Header
	}, dirapi.CodeStaleNonce)

	// Code requests, from an unregistered device presenting its identity.
	C := func(name, body string, mutate func(r *http.Request), code string) {
		add(badCase{name: "codes/" + name, method: "POST", path: "/v1/codes", body: body, signer: "new", mutate: mutate, code: code})
	}
	C("empty object", `{}`, nil, dirapi.CodeMissingField)
	C("empty handle", `{"handle":""}`, nil, dirapi.CodeMissingField)
	C("number handle", `{"handle":5}`, nil, dirapi.CodeMalformedJSON)
	C("list handle", `{"handle":["a@example.org"]}`, nil, dirapi.CodeMalformedJSON)
	C("bad handle", `{"handle":"alice"}`, nil, dirapi.CodeInvalidHandle)
	C("extra field", `{"handle":"a@example.org","code":"123456"}`, nil, dirapi.CodeUnknownField)
	C("duplicate field", `{"handle":"a@example.org","handle":"b@example.org"}`, nil, dirapi.CodeDuplicateField)
	C("too large", `{"handle":"`+strings.Repeat("a", 2000)+`"}`, nil, dirapi.CodeBodyTooLarge)
	C("identity not base64", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, "***"), dirapi.CodeInvalidIdentity)
	C("identity short", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(newKeys.Public().Bytes()[:248])), dirapi.CodeInvalidIdentity)
	C("identity long", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(append(newKeys.Public().Bytes(), 0))), dirapi.CodeInvalidIdentity)
	C("identity point off curve", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(flip(newKeys.Public().Bytes(), 40))), dirapi.CodeInvalidIdentity)
	C("identity bad header byte", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(flip(newKeys.Public().Bytes(), 0))), dirapi.CodeInvalidIdentity)
	C("identity wrong exponent", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(flip(newKeys.Public().Bytes(), 248))), dirapi.CodeInvalidIdentity)
	C("identity of another device", `{"handle":"a@example.org"}`, set(dirapi.HeaderIdentity, b64(other.Public().Bytes())), dirapi.CodeIdentityMismatch)
	C("no identity", `{"handle":"a@example.org"}`, func(r *http.Request) { r.Header.Del(dirapi.HeaderIdentity) }, dirapi.CodeUnknownDevice)

	// Registrations.
	R := func(name string, mutate func(m, dev map[string]any), code string) {
		add(badCase{name: "registrations/" + name, method: "POST", path: "/v1/registrations", body: validRegistration(newKeys, mutate), signer: "new", code: code})
	}
	R("well-formed, no code was sent", nil, dirapi.CodeCodeExpired)
	R("no handle", func(m, d map[string]any) { delete(m, "handle") }, dirapi.CodeMissingField)
	R("bad handle", func(m, d map[string]any) { m["handle"] = "mailto:nope" }, dirapi.CodeInvalidHandle)
	R("no code", func(m, d map[string]any) { delete(m, "code") }, dirapi.CodeMissingField)
	for _, c := range []string{"12345", "1234567", "12a456", " 12345", "١٢٣٤٥٦", "-12345", "123 45"} {
		R("code "+strconv.Quote(c), func(m, d map[string]any) { m["code"] = c }, dirapi.CodeInvalidCode)
	}
	R("code as number", func(m, d map[string]any) { m["code"] = 123456 }, dirapi.CodeMalformedJSON)
	R("no device", func(m, d map[string]any) { delete(m, "device") }, dirapi.CodeMissingField)
	R("device null", func(m, d map[string]any) { m["device"] = nil }, dirapi.CodeMissingField)
	R("device list", func(m, d map[string]any) { m["device"] = []int{1} }, dirapi.CodeMalformedJSON)
	R("device unknown field", func(m, d map[string]any) { d["identity"] = "AAAA" }, dirapi.CodeUnknownField)
	R("device_key missing", func(m, d map[string]any) { delete(d, "device_key") }, dirapi.CodeMissingField)
	R("device_key not base64", func(m, d map[string]any) { d["device_key"] = "%%%" }, dirapi.CodeMalformedJSON)
	R("device_key url base64", func(m, d map[string]any) {
		d["device_key"] = base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	}, dirapi.CodeMalformedJSON)
	R("device_key 31 bytes", func(m, d map[string]any) { d["device_key"] = make([]byte, 31) }, dirapi.CodeInvalidDeviceKey)
	R("device_key 33 bytes", func(m, d map[string]any) { d["device_key"] = make([]byte, 33) }, dirapi.CodeInvalidDeviceKey)
	R("device_key not on curve", func(m, d map[string]any) { d["device_key"] = bytes.Repeat([]byte{0xff}, 32) }, dirapi.CodeInvalidDeviceKey)
	R("device_key of another device", func(m, d map[string]any) { dk := other.DeviceKey(); d["device_key"] = dk[:] }, dirapi.CodeBadPrekeySig)
	R("prekey missing", func(m, d map[string]any) { delete(d, "signed_prekey") }, dirapi.CodeMissingField)
	R("prekey garbage", func(m, d map[string]any) { d["signed_prekey"] = []byte("garbage") }, dirapi.CodeInvalidPrekey)
	sp := newKeys.SignedPrekey().Marshal()
	for i := 1; i < len(sp); i += 9 {
		R(fmt.Sprintf("prekey truncated at %d", i), func(m, d map[string]any) { d["signed_prekey"] = sp[:i] }, dirapi.CodeInvalidPrekey)
	}
	R("prekey extra byte", func(m, d map[string]any) { d["signed_prekey"] = append(slices.Clone(sp), 0) }, dirapi.CodeInvalidPrekey)
	R("prekey signature flipped", func(m, d map[string]any) { d["signed_prekey"] = flip(sp, 40) }, dirapi.CodeBadPrekeySig)
	R("prekey of another device", func(m, d map[string]any) { d["signed_prekey"] = other.SignedPrekey().Marshal() }, dirapi.CodeBadPrekeySig)
	R("push_token missing", func(m, d map[string]any) { delete(d, "push_token") }, dirapi.CodeMissingField)
	R("push_token 31", func(m, d map[string]any) { d["push_token"] = make([]byte, 31) }, dirapi.CodeInvalidPushToken)
	R("push_token 33", func(m, d map[string]any) { d["push_token"] = make([]byte, 33) }, dirapi.CodeInvalidPushToken)
	R("push_token 4096", func(m, d map[string]any) { d["push_token"] = make([]byte, 4096) }, dirapi.CodeInvalidPushToken)
	capsOf := func(d map[string]any) map[string]any { return d["capabilities"].(map[string]any) }
	R("capabilities missing", func(m, d map[string]any) { delete(d, "capabilities") }, dirapi.CodeMissingField)
	R("schemes empty", func(m, d map[string]any) { capsOf(d)["schemes"] = []string{} }, dirapi.CodeMissingField)
	R("schemes string", func(m, d map[string]any) { capsOf(d)["schemes"] = "pair" }, dirapi.CodeMalformedJSON)
	R("scheme twice", func(m, d map[string]any) { capsOf(d)["schemes"] = []string{"pair", "pair"} }, dirapi.CodeInvalidCapability)
	R("scheme unknown", func(m, d map[string]any) { capsOf(d)["schemes"] = []string{"rsa"} }, dirapi.CodeInvalidCapability)
	R("scheme case", func(m, d map[string]any) { capsOf(d)["schemes"] = []string{"PAIR"} }, dirapi.CodeInvalidCapability)
	R("three schemes", func(m, d map[string]any) { capsOf(d)["schemes"] = []string{"pair", "pair-ec", "pair"} }, dirapi.CodeInvalidCapability)
	R("max_payload missing", func(m, d map[string]any) { delete(capsOf(d), "max_payload") }, dirapi.CodeMissingField)
	R("max_payload negative", func(m, d map[string]any) { capsOf(d)["max_payload"] = -1 }, dirapi.CodeInvalidCapability)
	R("max_payload tiny", func(m, d map[string]any) { capsOf(d)["max_payload"] = 100 }, dirapi.CodeInvalidCapability)
	R("max_payload huge", func(m, d map[string]any) { capsOf(d)["max_payload"] = int64(1) << 40 }, dirapi.CodeInvalidCapability)
	R("max_payload overflow", func(m, d map[string]any) { capsOf(d)["max_payload"] = json.Number("1e30") }, dirapi.CodeMalformedJSON)
	R("max_payload fraction", func(m, d map[string]any) { capsOf(d)["max_payload"] = 1.5 }, dirapi.CodeMalformedJSON)
	R("max_payload string", func(m, d map[string]any) { capsOf(d)["max_payload"] = "4096" }, dirapi.CodeMalformedJSON)
	R("name missing", func(m, d map[string]any) { delete(d, "name") }, dirapi.CodeMissingField)
	R("name 65 chars", func(m, d map[string]any) { d["name"] = strings.Repeat("n", 65) }, dirapi.CodeInvalidName)
	R("name 64 two-byte chars too", func(m, d map[string]any) { d["name"] = strings.Repeat("é", 65) }, dirapi.CodeInvalidName)
	R("name leading space", func(m, d map[string]any) { d["name"] = " phone" }, dirapi.CodeInvalidName)
	R("name control char", func(m, d map[string]any) { d["name"] = "pho\u0007ne" }, dirapi.CodeInvalidName)
	R("name newline", func(m, d map[string]any) { d["name"] = "pho\nne" }, dirapi.CodeInvalidName)
	R("name invalid UTF-8", func(m, d map[string]any) { d["name"] = "pho\xffne" }, dirapi.CodeInvalidName)
	R("name number", func(m, d map[string]any) { d["name"] = 5 }, dirapi.CodeMalformedJSON)
	add(badCase{name: "registrations/too large", method: "POST", path: "/v1/registrations", signer: "new",
		body: validRegistration(newKeys, func(m, d map[string]any) { d["name"] = strings.Repeat("x", dirapi.MaxRegisterBody) }), code: dirapi.CodeBodyTooLarge})

	// Account, device update and removal.
	add(badCase{name: "account/unsigned", method: "GET", path: "/v1/account", code: dirapi.CodeUnsigned})
	add(badCase{name: "account/unregistered", method: "GET", path: "/v1/account", signer: "new", code: dirapi.CodeUnknownDevice})
	add(badCase{name: "account/with a body", method: "GET", path: "/v1/account", signer: "reg", body: "{}", code: dirapi.CodeBodyTooLarge})
	add(badCase{name: "devices/remove bad id", method: "DELETE", path: "/v1/devices/xyz", signer: "reg", code: dirapi.CodeInvalidDeviceID})
	add(badCase{name: "devices/remove upper-case id", method: "DELETE", path: "/v1/devices/" + strings.ToUpper(dirapi.DeviceID(regKeys)), signer: "reg", code: dirapi.CodeInvalidDeviceID})
	add(badCase{name: "devices/remove unknown id", method: "DELETE", path: "/v1/devices/" + hex.EncodeToString(make([]byte, 32)), signer: "reg", code: dirapi.CodeNotFound})
	add(badCase{name: "devices/remove unregistered signer", method: "DELETE", path: "/v1/devices/" + dirapi.DeviceID(regKeys), signer: "new", code: dirapi.CodeUnknownDevice})
	add(badCase{name: "devices/update garbage", method: "PUT", path: "/v1/devices/self", signer: "reg", body: "{", code: dirapi.CodeMalformedJSON})
	add(badCase{name: "devices/update empty", method: "PUT", path: "/v1/devices/self", signer: "reg", body: "{}", code: dirapi.CodeMissingField})
	add(badCase{name: "devices/update unregistered", method: "PUT", path: "/v1/devices/self", signer: "new", body: "{}", code: dirapi.CodeUnknownDevice})

	// Routing.
	add(badCase{name: "route/GET lookup", method: "GET", path: "/v1/lookup", signer: "reg", code: dirapi.CodeMethodNotAllowed})
	add(badCase{name: "route/PUT codes", method: "PUT", path: "/v1/codes", signer: "reg", code: dirapi.CodeMethodNotAllowed})
	add(badCase{name: "route/POST account", method: "POST", path: "/v1/account", signer: "reg", code: dirapi.CodeMethodNotAllowed})
	add(badCase{name: "route/POST device", method: "POST", path: "/v1/devices/abc", signer: "reg", code: dirapi.CodeMethodNotAllowed})
	add(badCase{name: "route/unknown", method: "GET", path: "/v1/nothing", code: dirapi.CodeNotFound})
	add(badCase{name: "route/trailing slash", method: "POST", path: "/v1/lookup/", signer: "reg", code: dirapi.CodeNotFound})

	// Truncations of a valid registration and a valid lookup at every byte.
	fullReg := validRegistration(newKeys, nil)
	for i := 0; i < len(fullReg); i++ {
		add(badCase{name: fmt.Sprintf("truncated registration at %d", i), method: "POST", path: "/v1/registrations", signer: "new", body: fullReg[:i]})
	}
	fullLookup := lookup("a@example.org", "tel:+15551234567")
	for i := 0; i < len(fullLookup); i++ {
		add(badCase{name: fmt.Sprintf("truncated lookup at %d", i), method: "POST", path: "/v1/lookup", signer: "reg", body: fullLookup[:i]})
	}

	handWritten := 0
	known := map[string]bool{}
	for _, c := range dirapi.Codes {
		known[c] = true
	}
	for _, c := range cases {
		body := []byte(c.body)
		if c.useBody != nil {
			body = c.useBody
		}
		var k *identity.Keys
		switch c.signer {
		case "reg":
			k = regKeys
		case "new":
			k = newKeys
		}
		req := e.request(k, c.method, c.path, body, c.signer == "new")
		if c.mutate != nil {
			c.mutate(req)
		}
		status, code, hdr := e.serve(req)
		if status >= 500 || status < 400 {
			t.Errorf("%s: status %d (%s), want a 4xx", c.name, status, code)
			continue
		}
		if !known[code] {
			t.Errorf("%s: undocumented error code %q", c.name, code)
		}
		if status != dirapi.StatusOf(code) {
			t.Errorf("%s: status %d does not go with %s", c.name, status, code)
		}
		if code == dirapi.CodeMethodNotAllowed && hdr.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", c.name)
		}
		if c.code != "" {
			handWritten++
			if code != c.code {
				t.Errorf("%s: code %s, want %s", c.name, code, c.code)
			}
		}
	}
	t.Logf("H4: cases=%d hand_written=%d 5xx=0 undocumented=0", len(cases), handWritten)
}

func flip(b []byte, i int) []byte {
	out := slices.Clone(b)
	out[i] ^= 0x01
	return out
}

// registeredKeys registers one more device and returns its keys.
func (e *env) registeredKeys(t testing.TB) *identity.Keys {
	c, _ := e.register(fmt.Sprintf("r%d@example.org", e.used), "another")
	return c.Keys
}
