package blobs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// fakeDevices stands in for the directory: devices with keys and accounts.
type fakeDevices struct {
	mu   sync.Mutex
	devs map[string]*device
}

type device struct {
	id      string
	key     *ecdsa.PrivateKey
	account string
}

func (f *fakeDevices) SigningKey(id string) (*ecdsa.PublicKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devs[id]; ok {
		return &d.key.PublicKey, nil
	}
	return nil, reqsign.ErrUnknown
}

func (f *fakeDevices) Account(ctx context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devs[id]; ok {
		return d.account, nil
	}
	return "", reqsign.ErrUnknown
}

func (f *fakeDevices) add(account string) *device {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var raw [32]byte
	rand.Read(raw[:])
	d := &device{id: hex.EncodeToString(raw[:]), key: key, account: account}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.devs == nil {
		f.devs = map[string]*device{}
	}
	f.devs[d.id] = d
	return d
}

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	svc   *Service
	srv   *httptest.Server
	store storage.Store
	devs  *fakeDevices
	dev   *device // a registered device of account "acct-1"
	clock *clock
}

// newEnv starts a service on the fs backend behind an httptest server.
// mod may change the config before New.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	store, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newEnvStore(t, store, mod)
}

func newEnvStore(t *testing.T, store storage.Store, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, store: store, devs: &fakeDevices{}, clock: &clock{t: time.Now()}}
	e.dev = e.devs.add("acct-1")
	cfg := Config{Store: store, Devices: e.devs, Now: e.clock.Now, SweepEvery: -1, Limits: &Limits{}}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.srv = httptest.NewTLSServer(svc.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		svc.Close()
	})
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) errCode() string {
	var eb blobapi.ErrorBody
	if json.Unmarshal(r.body, &eb) != nil || eb.Error == nil {
		return ""
	}
	return eb.Error.Code
}

func (r *response) apiErr() *blobapi.Error {
	var eb blobapi.ErrorBody
	json.Unmarshal(r.body, &eb)
	return eb.Error
}

func (e *env) do(method, url string, body []byte, hdr map[string]string) *response {
	e.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = e.srv.URL + url
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) *response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Error(err) // not Fatal: send may run on another goroutine
		return &response{status: -1}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Error(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// signed sends a request signed by d.
func (e *env) signed(d *device, method, path string, body []byte) *response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := reqsign.Sign(req, body, d.key, d.id, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

// blob is an encrypted test blob.
type blob struct {
	cipher []byte
	sum    attachment.Summary
}

func newBlob(t *testing.T, seed uint64, size int64) *blob {
	t.Helper()
	plain := make([]byte, size)
	mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(plain)
	var ct bytes.Buffer
	sum, err := attachment.Encrypt(&ct, bytes.NewReader(plain), attachment.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return &blob{cipher: ct.Bytes(), sum: sum}
}

func (b *blob) createBody() []byte {
	body, _ := json.Marshal(blobapi.CreateRequest{Size: b.sum.Size, Signature: b.sum.Signature, Chunks: b.sum.Chunks})
	return body
}

func (b *blob) chunk(i int) []byte {
	off, n := blobapi.ChunkBounds(i, b.sum.Size)
	return b.cipher[off : off+n]
}

// create starts an upload of b and returns the plan.
func (e *env) create(d *device, b *blob) *blobapi.Upload {
	e.t.Helper()
	r := e.signed(d, "POST", blobapi.PathBlobs, b.createBody())
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var up blobapi.Upload
	if err := json.Unmarshal(r.body, &up); err != nil {
		e.t.Fatal(err)
	}
	return &up
}

func (e *env) putChunk(up *blobapi.Upload, i int, data []byte) *response {
	e.t.Helper()
	return e.do("PUT", fmt.Sprintf("%s/chunks/%d", up.UploadURL, i), data, nil)
}

func (e *env) complete(up *blobapi.Upload) *response {
	e.t.Helper()
	return e.do("POST", up.UploadURL+"/complete", nil, nil)
}

// upload stores b completely and returns its plan.
func (e *env) upload(d *device, b *blob) *blobapi.Upload {
	e.t.Helper()
	up := e.create(d, b)
	for i := range up.Chunks {
		if r := e.putChunk(up, i, b.chunk(i)); r.status != http.StatusOK {
			e.t.Fatalf("chunk %d: %d %s", i, r.status, r.body)
		}
	}
	if r := e.complete(up); r.status != http.StatusOK {
		e.t.Fatalf("complete: %d %s", r.status, r.body)
	}
	return up
}

func (e *env) status(up *blobapi.Upload) *blobapi.Upload {
	e.t.Helper()
	r := e.do("GET", up.UploadURL, nil, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("status: %d %s", r.status, r.body)
	}
	var st blobapi.Upload
	if err := json.Unmarshal(r.body, &st); err != nil {
		e.t.Fatal(err)
	}
	return &st
}
