package blobs

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// TestBadInputCatalogue sends malformed and hostile requests of every kind
// and checks that each gets its documented code and status: never a 5xx,
// never a body that is not the JSON error envelope. It also checks that
// every code (but internal) is reached, and documented in
// docs/api/blobs.md.
func TestBadInputCatalogue(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSize = 3 * blobapi.ChunkSize; c.Quota = 4 * blobapi.ChunkSize })
	b := newBlob(t, 30, blobapi.ChunkSize+100)
	up := e.create(e.dev, b)
	done := e.upload(e.dev, newBlob(t, 31, 1000))
	tok := strings.TrimPrefix(up.UploadURL, e.srv.URL)
	body := string(b.createBody())
	sig := b.sum.Signature.String()
	sum := b.sum.Chunks[0].String()
	unknownDev := e.devs.add("acct-x")
	e.devs.mu.Lock()
	delete(e.devs.devs, unknownDev.id)
	e.devs.mu.Unlock()

	type req struct {
		name, method, path, body string
		hdr                      map[string]string
		signed                   *device
		code                     string
	}
	signedCreate := func(name, body, code string) req {
		return req{name, "POST", "/v1/blobs", body, nil, e.dev, code}
	}
	cases := []req{
		signedCreate("empty body", "", blobapi.CodeMalformedJSON),
		signedCreate("array", "[]", blobapi.CodeMalformedJSON),
		signedCreate("truncated", body[:len(body)/2], blobapi.CodeMalformedJSON),
		signedCreate("trailing data", body+"{}", blobapi.CodeMalformedJSON),
		signedCreate("extra field", strings.Replace(body, `{"size"`, `{"owner":"x","size"`, 1), blobapi.CodeUnknownField),
		signedCreate("upper-case field", strings.Replace(body, `"size"`, `"Size"`, 1), blobapi.CodeUnknownField),
		signedCreate("duplicate size", strings.Replace(body, `{"size":`, `{"size":1,"size":`, 1), blobapi.CodeDuplicateField),
		signedCreate("no size", `{"signature":"`+sig+`","chunks":[]}`, blobapi.CodeMissingField),
		signedCreate("negative size", `{"size":-1,"signature":"`+sig+`","chunks":[]}`, blobapi.CodeInvalidSize),
		signedCreate("size as string", `{"size":"1","signature":"`+sig+`","chunks":["`+sum+`"]}`, blobapi.CodeInvalidSize),
		signedCreate("fractional size", `{"size":1.0,"signature":"`+sig+`","chunks":["`+sum+`"]}`, blobapi.CodeInvalidSize),
		signedCreate("short signature", `{"size":1,"signature":"81aa","chunks":["`+sum+`"]}`, blobapi.CodeInvalidSignature),
		signedCreate("signature type byte", `{"size":1,"signature":"00`+sig[2:]+`","chunks":["`+sum+`"]}`, blobapi.CodeInvalidSignature),
		signedCreate("checksum type byte", `{"size":1,"signature":"`+sig+`","chunks":["02`+sum[2:]+`"]}`, blobapi.CodeInvalidChecksum),
		signedCreate("checksum not hex", `{"size":1,"signature":"`+sig+`","chunks":["01`+strings.Repeat("zz", 20)+`"]}`, blobapi.CodeInvalidChecksum),
		signedCreate("size lies: too few chunks", `{"size":5242881,"signature":"`+sig+`","chunks":["`+sum+`"]}`, blobapi.CodeChunkCountMismatch),
		signedCreate("size lies: too many chunks", `{"size":10,"signature":"`+sig+`","chunks":["`+sum+`","`+sum+`"]}`, blobapi.CodeChunkCountMismatch),
		signedCreate("size lies: chunks for nothing", `{"size":0,"signature":"`+sig+`","chunks":["`+sum+`"]}`, blobapi.CodeChunkCountMismatch),
		signedCreate("past the size limit", `{"size":15728641,"signature":"`+sig+`","chunks":[]}`, blobapi.CodeBlobTooLarge),
		signedCreate("size 2^63-1", `{"size":9223372036854775807,"signature":"`+sig+`","chunks":[]}`, blobapi.CodeBlobTooLarge),
		signedCreate("body past the limit", `{"size":0,"signature":"`+sig+`","chunks":[`+strings.Repeat(`"`+sum+`",`, 2000)+`"`+sum+`"]}`, blobapi.CodeBodyTooLarge),
		signedCreate("over quota", string(newBlob(t, 32, 3*blobapi.ChunkSize).createBody()), blobapi.CodeQuotaExceeded),
		{"unsigned create", "POST", "/v1/blobs", body, nil, nil, blobapi.CodeUnsigned},
		{"malformed signature headers", "POST", "/v1/blobs", body, map[string]string{reqsign.HeaderKey: e.dev.id, reqsign.HeaderNonce: "zz", reqsign.HeaderSignature: "x"}, nil, blobapi.CodeBadSignatureHdrs},
		{"unknown device", "POST", "/v1/blobs", body, nil, unknownDev, blobapi.CodeUnknownDevice},
		{"delete unsigned", "DELETE", "/v1/blobs/" + done.ID, "", nil, nil, blobapi.CodeUnsigned},
		{"delete bad id", "DELETE", "/v1/blobs/XYZ", "", nil, e.dev, blobapi.CodeInvalidBlobID},
		{"delete unknown", "DELETE", "/v1/blobs/" + strings.Repeat("0", 48), "", nil, e.dev, blobapi.CodeNotFound},
		{"delete another's", "DELETE", "/v1/blobs/" + done.ID, "", nil, e.devs.add("acct-2"), blobapi.CodeNotOwner},

		{"chunk: unknown token", "PUT", "/v1/uploads/" + strings.Repeat("A", 43) + "/chunks/0", "x", nil, nil, blobapi.CodeUploadNotFound},
		{"chunk: malformed token", "PUT", "/v1/uploads/..%2F..%2Fetc/chunks/0", "x", nil, nil, blobapi.CodeUploadNotFound},
		{"chunk: index not a number", "PUT", tok + "/chunks/one", "x", nil, nil, blobapi.CodeInvalidChunkIndex},
		{"chunk: negative index", "PUT", tok + "/chunks/-1", "x", nil, nil, blobapi.CodeInvalidChunkIndex},
		{"chunk: leading zero", "PUT", tok + "/chunks/01", "x", nil, nil, blobapi.CodeInvalidChunkIndex},
		{"chunk: out of range", "PUT", tok + "/chunks/2", "x", nil, nil, blobapi.CodeChunkOutOfRange},
		{"chunk: far out of range", "PUT", tok + "/chunks/999999999", "x", nil, nil, blobapi.CodeChunkOutOfRange},
		{"chunk: size lies (short)", "PUT", tok + "/chunks/1", "x", nil, nil, blobapi.CodeChunkSizeMismatch},
		{"chunk: size lies (long)", "PUT", tok + "/chunks/1", strings.Repeat("x", 101), nil, nil, blobapi.CodeChunkSizeMismatch},
		{"chunk: other content", "PUT", tok + "/chunks/1", strings.Repeat("x", 100), nil, nil, blobapi.CodeChecksumMismatch},
		{"chunk: to a complete upload", "PUT", strings.TrimPrefix(done.UploadURL, e.srv.URL) + "/chunks/0", strings.Repeat("x", 1000), nil, nil, blobapi.CodeUploadComplete},
		{"status: unknown token", "GET", "/v1/uploads/" + strings.Repeat("B", 43), "", nil, nil, blobapi.CodeUploadNotFound},
		{"complete: chunks missing", "POST", tok + "/complete", "", nil, nil, blobapi.CodeChunksMissing},
		{"abort: complete upload", "DELETE", strings.TrimPrefix(done.UploadURL, e.srv.URL), "", nil, nil, blobapi.CodeUploadComplete},
		{"get: bad id", "GET", "/v1/blobs/not-an-id", "", nil, nil, blobapi.CodeInvalidBlobID},
		{"get: upper-case id", "GET", "/v1/blobs/" + strings.ToUpper(done.ID), "", nil, nil, blobapi.CodeInvalidBlobID},
		{"get: unknown id", "GET", "/v1/blobs/" + strings.Repeat("ab", 24), "", nil, nil, blobapi.CodeNotFound},
		{"get: incomplete upload", "GET", "/v1/blobs/" + up.ID, "", nil, nil, blobapi.CodeNotFound},
		{"get: range past the end", "GET", "/v1/blobs/" + done.ID, "", map[string]string{"Range": "bytes=1000-"}, nil, blobapi.CodeRangeNotSatisfiable},
		{"get: empty suffix", "GET", "/v1/blobs/" + done.ID, "", map[string]string{"Range": "bytes=-0"}, nil, blobapi.CodeRangeNotSatisfiable},
		{"get: two ranges", "GET", "/v1/blobs/" + done.ID, "", map[string]string{"Range": "bytes=0-1,5-6"}, nil, blobapi.CodeInvalidRange},
		{"get: reversed range", "GET", "/v1/blobs/" + done.ID, "", map[string]string{"Range": "bytes=9-2"}, nil, blobapi.CodeInvalidRange},
		{"get: other unit", "GET", "/v1/blobs/" + done.ID, "", map[string]string{"Range": "lines=1-2"}, nil, blobapi.CodeInvalidRange},
		{"method: PUT /v1/blobs", "PUT", "/v1/blobs", "", nil, nil, blobapi.CodeMethodNotAllowed},
		{"method: POST blob", "POST", "/v1/blobs/" + done.ID, "", nil, nil, blobapi.CodeMethodNotAllowed},
		{"method: GET chunk", "GET", tok + "/chunks/0", "", nil, nil, blobapi.CodeMethodNotAllowed},
		{"method: GET complete", "GET", tok + "/complete", "", nil, nil, blobapi.CodeMethodNotAllowed},
	}
	reached := map[string]bool{}
	for _, c := range cases {
		var rd io.Reader
		if c.body != "" {
			rd = strings.NewReader(c.body)
		}
		r, err := http.NewRequest(c.method, e.srv.URL+c.path, rd)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if c.signed != nil {
			reqsign.Sign(r, []byte(c.body), c.signed.key, c.signed.id, e.clock.Now())
		}
		resp := e.send(r)
		got := resp.errCode()
		if got != c.code || resp.status != blobapi.StatusOf(c.code) || resp.status >= 500 {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.status, resp.body, blobapi.StatusOf(c.code), c.code)
		}
		reached[got] = true
	}
	// Codes the table cannot reach with a well-behaved HTTP client.
	reached[blobapi.CodeStaleNonce] = testStaleAndReplayed(t, e)
	reached[blobapi.CodeReplayedNonce] = reached[blobapi.CodeStaleNonce]
	reached[blobapi.CodeBadSignature] = testBadSignature(t, e, body)
	reached[blobapi.CodeLengthRequired] = testLengthRequired(t, e, tok)
	reached[blobapi.CodeIncompleteChunk] = true   // TestIncompleteChunkBody
	reached[blobapi.CodeSignatureMismatch] = true // TestSignatureMismatch
	reached[blobapi.CodeRateLimited] = true       // TestRateLimits
	doc, err := os.ReadFile("../../docs/api/blobs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range blobapi.Codes {
		if code != blobapi.CodeInternal && !reached[code] {
			t.Errorf("code %s is reached by no test", code)
		}
		if !bytes.Contains(doc, []byte("`"+code+"`")) {
			t.Errorf("code %s is not in docs/api/blobs.md", code)
		}
	}
	t.Logf("bad-input catalogue: %d requests, %d codes, 0 5xx", len(cases), len(blobapi.Codes)-1)
}

func testStaleAndReplayed(t *testing.T, e *env) bool {
	body := newBlob(t, 33, 1).createBody()
	r, _ := http.NewRequest("POST", e.srv.URL+"/v1/blobs", bytes.NewReader(body))
	reqsign.Sign(r, body, e.dev.key, e.dev.id, e.clock.Now().Add(-reqsign.DefaultWindow-60e9))
	if resp := e.send(r); resp.errCode() != blobapi.CodeStaleNonce {
		t.Errorf("stale nonce: %d %s", resp.status, resp.body)
		return false
	}
	r, _ = http.NewRequest("POST", e.srv.URL+"/v1/blobs", bytes.NewReader(body))
	reqsign.Sign(r, body, e.dev.key, e.dev.id, e.clock.Now())
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	if resp := e.send(r); resp.status != 201 {
		t.Errorf("first request: %d %s", resp.status, resp.body)
	}
	if resp := e.send(r2); resp.errCode() != blobapi.CodeReplayedNonce {
		t.Errorf("replayed request: %d %s", resp.status, resp.body)
		return false
	}
	return true
}

func testBadSignature(t *testing.T, e *env, body string) bool {
	r, _ := http.NewRequest("POST", e.srv.URL+"/v1/blobs", strings.NewReader(body))
	reqsign.Sign(r, []byte(body+" "), e.dev.key, e.dev.id, e.clock.Now()) // signed another body
	resp := e.send(r)
	if resp.errCode() != blobapi.CodeBadSignature {
		t.Errorf("bad signature: %d %s", resp.status, resp.body)
		return false
	}
	return true
}

// testLengthRequired sends a chunk with chunked transfer encoding.
func testLengthRequired(t *testing.T, e *env, tok string) bool {
	conn, err := tls.Dial("tcp", e.srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s/chunks/0 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", tok)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 411 || !bytes.Contains(b, []byte(blobapi.CodeLengthRequired)) {
		t.Errorf("chunked chunk: %d %s", resp.StatusCode, b)
		return false
	}
	return true
}
