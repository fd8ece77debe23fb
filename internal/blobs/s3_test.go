package blobs

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage/s3"
	"github.com/sealpost/sealpost/internal/blobs/storage/storagetest"
)

// newS3Env is newEnv on the S3 backend (SEALPOST_TEST_S3), under a fresh
// prefix. It skips without it, except under CI.
func newS3Env(t *testing.T, mod func(*Config)) *env {
	u := os.Getenv("SEALPOST_TEST_S3")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SEALPOST_TEST_S3 is not set; .ci/setup.d/s3.sh sets it up")
		}
		t.Skip("SEALPOST_TEST_S3 is not set")
	}
	cfg, err := s3.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix += "svc-" + storagetest.NewID() + "/"
	store, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvStore(t, store, mod)
}

// TestS3 runs an upload, a refused upload, a presigned download and the
// expiry sweep on the S3 backend.
func TestS3(t *testing.T) {
	e := newS3Env(t, func(c *Config) { c.Presign = true })
	b := newBlob(t, 40, 2*blobapi.ChunkSize+3)
	up := e.create(e.dev, b)
	for _, i := range []int{2, 0, 1, 1} {
		if r := e.putChunk(up, i, b.chunk(i)); r.status != 200 {
			t.Fatalf("chunk %d: %d %s", i, r.status, r.body)
		}
	}
	bad := bytes.Clone(b.chunk(1))
	bad[0] ^= 1
	if r := e.putChunk(up, 1, bad); r.errCode() != blobapi.CodeChecksumMismatch {
		t.Fatalf("bad chunk: %d %s", r.status, r.body)
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	// The download is a redirect to a presigned URL; the HTTP client
	// follows it (keeping the Range header).
	client := &http.Client{Transport: e.srv.Client().Transport}
	resp, err := client.Get(up.URI)
	if err != nil {
		t.Fatal(err)
	}
	got := new(bytes.Buffer)
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got.Bytes(), b.cipher) || resp.Request.URL.Host == e.srv.Listener.Addr().String() {
		t.Fatalf("presigned download: %d, %d bytes, from %s", resp.StatusCode, got.Len(), resp.Request.URL.Host)
	}
	req, _ := http.NewRequest("GET", up.URI, nil)
	req.Header.Set("Range", "bytes=5242879-5242881")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got.Reset()
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(got.Bytes(), b.cipher[5242879:5242882]) {
		t.Fatalf("presigned range: %d %x", resp.StatusCode, got.Bytes())
	}
	if r := e.do("GET", up.URI, nil, map[string]string{"Range": "bytes=99999999-"}); r.status != 416 {
		t.Fatalf("range past the end: %d", r.status)
	}

	lying := &blob{cipher: b.cipher, sum: b.sum}
	lying.sum.Signature = newBlob(t, 41, 1).sum.Signature
	up2 := e.create(e.dev, lying)
	for i := range up2.Chunks {
		e.putChunk(up2, i, b.chunk(i))
	}
	if r := e.complete(up2); r.errCode() != blobapi.CodeSignatureMismatch {
		t.Fatalf("signature mismatch: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up2.URI, nil, nil); r.status != 404 {
		t.Fatalf("refused blob served: %d", r.status)
	}

	e.clock.Add(DefaultTTL + time.Hour)
	if n, freed, err := e.svc.Sweep(context.Background()); err != nil || n != 1 || freed != b.sum.Size {
		t.Fatalf("sweep: %d %d %v", n, freed, err)
	}
	if _, err := e.store.Open(context.Background(), up.ID, 0, 1); err == nil {
		t.Fatal("expired blob still in S3")
	}
}
