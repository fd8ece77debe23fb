package directory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlite"
	"github.com/sealpost/sealpost/internal/reqsign"
)

var ctx = context.Background()

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t       testing.TB
	svc     *Service
	srv     *httptest.Server
	outbox  string
	clock   *clock
	used    int // frozen keys handed out
	handler http.Handler
}

// newEnv starts a directory on a fresh SQLite store behind an httptest TLS
// server. cfg's Store, Sender and Now are filled in.
func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "dir.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, outbox: filepath.Join(dir, "outbox"), clock: &clock{t: time.Unix(1_800_000_000, 0)}}
	cfg.Store = st
	if cfg.Sender == nil {
		cfg.Sender = Outbox{Dir: e.outbox}
	}
	cfg.Now = e.clock.Now
	if cfg.Limits == nil {
		unlimited := Limits{}
		cfg.Limits = &unlimited
	}
	e.svc, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = e.svc.Handler()
	e.srv = httptest.NewTLSServer(e.handler)
	t.Cleanup(func() {
		e.srv.Close()
		e.svc.Close()
		st.Close()
	})
	return e
}

var frozenKeys = sync.OnceValues(func() ([]*identity.Keys, error) {
	files, err := filepath.Glob("testdata/devicekeys/*.keys")
	if err != nil {
		return nil, err
	}
	var out []*identity.Keys
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := identity.ParseKeys(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, k)
	}
	return out, nil
})

// newKeys returns device keys not used before in this env: the frozen
// test keys first, then freshly generated ones.
func (e *env) newKeys() *identity.Keys {
	e.t.Helper()
	keys, err := frozenKeys()
	if err != nil {
		e.t.Fatal(err)
	}
	if e.used < len(keys) {
		e.used++
		return keys[e.used-1]
	}
	k, err := identity.Generate()
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func (e *env) client(k *identity.Keys) *dirapi.Client {
	return &dirapi.Client{BaseURL: e.srv.URL, HTTP: e.srv.Client(), Keys: k, Now: e.clock.Now}
}

func token() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

func fields(k *identity.Keys, name string) dirapi.DeviceFields {
	return dirapi.NewDeviceFields(k, token(), name, 16384)
}

// code reads the latest code the outbox holds for handle.
func (e *env) code(handle string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.outbox, handle))
	if err != nil {
		e.t.Fatalf("outbox: %v", err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// register verifies handle for a new device named name and returns its
// client.
func (e *env) register(handle, name string) (*dirapi.Client, *dirapi.RegisterResponse) {
	e.t.Helper()
	c := e.client(e.newKeys())
	return c, e.registerWith(c, handle, fields(c.Keys, name))
}

func (e *env) registerWith(c *dirapi.Client, handle string, f dirapi.DeviceFields) *dirapi.RegisterResponse {
	e.t.Helper()
	cr, err := c.RequestCode(ctx, handle)
	if err != nil {
		e.t.Fatalf("RequestCode(%s): %v", handle, err)
	}
	res, err := c.Register(ctx, handle, e.code(cr.Handle), f)
	if err != nil {
		e.t.Fatalf("Register(%s): %v", handle, err)
	}
	return res
}

// wantCode fails unless err is a *dirapi.Error with code.
func wantCode(t *testing.T, err error, code string) *dirapi.Error {
	t.Helper()
	var de *dirapi.Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if de.Code != code {
		t.Fatalf("err = %v (status %d), want code %s", err, de.Status, code)
	}
	if de.Status != dirapi.StatusOf(code) {
		t.Fatalf("status %d for %s, want %d", de.Status, code, dirapi.StatusOf(code))
	}
	return de
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// signed returns a request signed by k at the current clock.
func (e *env) signed(k *identity.Keys, method, path string, body []byte, present bool) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := reqsign.Sign(req, body, k.SigningKey(), dirapi.DeviceID(k), e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	if present {
		req.Header.Set(dirapi.HeaderIdentity, b64(k.Public().Bytes()))
	}
	return req
}

// send sends req with body (again, if it was sent before) and returns the
// status and error code.
func (e *env) send(req *http.Request, body []byte) (int, string) {
	e.t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, dirapi.ResponseError(resp, data).Code
}

// raw sends body, signed by k, and returns status, error code and headers.
func (e *env) raw(k *identity.Keys, method, path string, body []byte, present bool, mutate func(*http.Request)) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if k != nil {
		if err := reqsign.Sign(req, body, k.SigningKey(), dirapi.DeviceID(k), e.clock.Now()); err != nil {
			e.t.Fatal(err)
		}
		if present {
			req.Header.Set(dirapi.HeaderIdentity, base64.StdEncoding.EncodeToString(k.Public().Bytes()))
		}
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	code := ""
	if resp.StatusCode/100 != 2 {
		code = dirapi.ResponseError(resp, buf.Bytes()).Code
	}
	return resp.StatusCode, code, resp.Header
}
