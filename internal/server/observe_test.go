package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestObserveRequests(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Request
	s.ObserveRequests(func(r Request) { mu.Lock(); got = append(got, r); mu.Unlock() })
	big := bytes.Repeat([]byte("x"), 1<<20)
	s.Mux().HandleFunc("POST /v1/lookup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":"rate_limited","message":"mailto:alice@example.org: slow down"}}`))
	})
	s.Mux().HandleFunc("GET /v1/blobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, bytes.NewReader(big)) // implicit 200, through ReadFrom
	})
	s.Mux().HandleFunc("POST /v1/push/certificate", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"not_json"}}`, http.StatusBadRequest) // text/plain
	})
	s.Mux().HandleFunc("GET /v1/odd", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error":{"code":"Has Spaces"}}`))
	})
	s.Mux().HandleFunc("GET /v1/flush", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the recorder: %v", err)
		}
	})

	for _, c := range []struct {
		method, path string
		want         Request
		body         int
	}{
		{"POST", "/v1/lookup", Request{Route: "POST /v1/lookup", Status: 429, Error: "rate_limited"}, -1},
		{"GET", "/v1/blobs/0123abcd", Request{Route: "GET /v1/blobs/{id}", Status: 200}, len(big)},
		{"POST", "/v1/push/certificate", Request{Route: "POST /v1/push/certificate", Status: 400}, -1},
		{"GET", "/v1/odd", Request{Route: "GET /v1/odd", Status: 500}, -1},
		{"GET", "/v1/flush", Request{Route: "GET /v1/flush", Status: 200}, -1},
		{"GET", "/healthz", Request{Route: "GET /healthz", Status: 200}, -1},
		{"GET", "/nowhere/mailto:bob@example.org", Request{Route: "", Status: 404}, -1},
	} {
		got = nil
		w := httptest.NewRecorder()
		s.serveHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if len(got) != 1 {
			t.Fatalf("%s %s: %d observations", c.method, c.path, len(got))
		}
		g := got[0]
		if g.Duration <= 0 {
			t.Errorf("%s %s: duration %v", c.method, c.path, g.Duration)
		}
		g.Duration = 0
		if g != c.want {
			t.Errorf("%s %s: observed %+v, want %+v", c.method, c.path, g, c.want)
		}
		if c.body >= 0 && w.Body.Len() != c.body {
			t.Errorf("%s %s: body %d bytes, want %d", c.method, c.path, w.Body.Len(), c.body)
		}
		if w.Code != c.want.Status {
			t.Errorf("%s %s: client saw %d", c.method, c.path, w.Code)
		}
	}
}

func TestErrorCode(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"code":"rate_limited","message":"x"}}`:      "rate_limited",
		`{"error":{"message":"x","code":"not_found"}}`:         "not_found",
		`{"error":{"code":"a-b"}}`:                             "",
		`{"error":{"code":""}}`:                                "",
		`{"error":"rate_limited"}`:                             "",
		`{"error":{"code":"` + strings.Repeat("a", 65) + `"}}`: "",
		`{"error":{"code":"ok"`:                                "",
		`not json`:                                             "",
	} {
		if got := errorCode([]byte(body)); got != want {
			t.Errorf("errorCode(%s) = %q, want %q", body, got, want)
		}
	}
	long := `{"error":{"code":"internal","message":"` + strings.Repeat("m", maxErrorBody) + `"}}`
	if got := errorCode([]byte(long)); got != "" {
		t.Errorf("a body longer than %d bytes gave %q", maxErrorBody, got)
	}
}

// FuzzErrorCode: any body gives "" or a code that is safe as a metric
// label; a well-formed envelope with a valid code gives that code.
func FuzzErrorCode(f *testing.F) {
	f.Add([]byte(`{"error":{"code":"rate_limited","message":"slow down"}}`), "rate_limited")
	f.Add([]byte(`{"error":{"code":"x\u0000"}}`), "bad code")
	f.Add([]byte(`[1,2,3]`), "internal")
	f.Fuzz(func(t *testing.T, body []byte, code string) {
		if got := errorCode(body); got != "" && !isCode(got) {
			t.Fatalf("errorCode gave %q", got)
		}
		env, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": string(body)}})
		got := errorCode(env)
		switch {
		case len(env) > maxErrorBody:
			if got != "" {
				t.Fatalf("code %q from a %d-byte body", got, len(env))
			}
		case isCode(code) && got != code:
			t.Fatalf("errorCode(%s) = %q, want %q", env, got, code)
		case !isCode(code) && got != "":
			t.Fatalf("errorCode(%s) = %q for an invalid code", env, got)
		}
	})
}
