package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
	"github.com/sealpost/sealpost/internal/relay/mailbox/embedded"
	"github.com/sealpost/sealpost/internal/server"
)

// /readyz is 503 while starting, names each backend that does not answer,
// and is 503 from the start of a shutdown.
func TestReadyzStates(t *testing.T) {
	dir, mb, blobs := attachedDirectory, attachedMailbox, attachedBlobs
	t.Cleanup(func() {
		attachedDirectory, attachedMailbox, attachedBlobs = dir, mb, blobs
		resetHealth()
	})
	get := func() (int, string) {
		w := httptest.NewRecorder()
		readyz(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}

	resetHealth()
	if code, body := get(); code != http.StatusServiceUnavailable || body != "not ready: starting\n" {
		t.Fatalf("starting: %d %q", code, body)
	}

	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close() // a mailbox that refuses everything
	bs, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	attachedDirectory, attachedMailbox, attachedBlobs = nil, store, bs
	health.attached.Store(true)
	health.serving.Store(true)
	code, body := get()
	want := "not ready\ndirectory: not attached\nmailbox: mailbox: closed\nblob store: ok\n"
	if code != http.StatusServiceUnavailable || body != want {
		t.Fatalf("failing backends: %d %q, want %q", code, body, want)
	}

	health.draining.Store(true)
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("draining: %d %q", code, body)
	}
}

// HTTP answers are counted by route pattern, status and error code.
func TestMetricsObserve(t *testing.T) {
	m := newMetrics()
	m.observe(server.Request{Route: "POST /v1/lookup", Status: 429, Error: "rate_limited", Duration: time.Millisecond})
	m.observe(server.Request{Route: "POST /v1/lookup", Status: 200, Duration: time.Millisecond})
	m.observe(server.Request{Route: "", Status: 404, Duration: time.Millisecond})
	m.observe(server.Request{Route: "POST /v1/push/certificate", Status: 400, Duration: time.Millisecond})
	w := httptest.NewRecorder()
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`sealpost_http_requests_total{route="POST /v1/lookup",status="429"} 1`,
		`sealpost_http_requests_total{route="POST /v1/lookup",status="200"} 1`,
		`sealpost_http_requests_total{route="unmatched",status="404"} 1`,
		`sealpost_http_errors_total{code="rate_limited",route="POST /v1/lookup"} 1`,
		`sealpost_http_errors_total{code="none",route="unmatched"} 1`,
		`sealpost_http_errors_total{code="none",route="POST /v1/push/certificate"} 1`,
		`sealpost_http_request_duration_seconds_count{route="POST /v1/lookup"} 2`,
		"go_goroutines ", "process_cpu_seconds_total ", `go_build_info{checksum=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, `sealpost_http_errors_total{code="none",route="POST /v1/lookup"}`) {
		t.Error("a success was counted as an error")
	}
}
