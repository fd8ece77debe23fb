package blobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
	"github.com/sealpost/sealpost/internal/ratelimit"
)

// TestRoundTrip uploads a three-chunk blob in reverse order, checks the
// status at each step, completes it, and downloads it whole and by range.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 1, 2*blobapi.ChunkSize+777)
	up := e.create(e.dev, b)
	if len(up.Chunks) != 3 || up.State != blobapi.StateUploading || !strings.HasPrefix(up.URI, e.srv.URL+"/v1/blobs/") ||
		up.Parallel != DefaultBuffers {
		t.Fatalf("plan: %+v", up)
	}
	for i, c := range up.Chunks {
		off, n := blobapi.ChunkBounds(i, b.sum.Size)
		if c.Index != i || c.Offset != off || c.Size != n || c.Checksum != b.sum.Chunks[i] || c.Received {
			t.Fatalf("plan chunk %d: %+v", i, c)
		}
	}
	if r := e.do("GET", up.URI, nil, nil); r.status != 404 || r.errCode() != blobapi.CodeNotFound {
		t.Fatalf("download before upload: %d %s", r.status, r.body)
	}
	for _, i := range []int{2, 1} {
		r := e.putChunk(up, i, b.chunk(i))
		var rc blobapi.ChunkReceipt
		json.Unmarshal(r.body, &rc)
		if r.status != 200 || rc.Index != i {
			t.Fatalf("chunk %d: %d %s", i, r.status, r.body)
		}
	}
	st := e.status(up)
	if st.Chunks[0].Received || !st.Chunks[1].Received || !st.Chunks[2].Received {
		t.Fatalf("status after chunks 2 and 1: %+v", st.Chunks)
	}
	if r := e.complete(up); r.status != 409 || r.errCode() != blobapi.CodeChunksMissing || fmt.Sprint(r.apiErr().Missing) != "[0]" {
		t.Fatalf("complete without chunk 0: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, nil); r.status != 404 {
		t.Fatalf("download of an incomplete upload: %d", r.status)
	}
	e.putChunk(up, 0, b.chunk(0))
	r := e.complete(up)
	var done blobapi.Blob
	json.Unmarshal(r.body, &done)
	if r.status != 200 || done.URI != up.URI || done.Size != b.sum.Size || done.Signature != b.sum.Signature {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if d := done.Expires.Sub(e.clock.Now()) - DefaultTTL; d < -time.Second || d > time.Second {
		t.Errorf("expires %v, want now + %v", done.Expires, DefaultTTL)
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("second complete: %d %s", r.status, r.body)
	}
	if st := e.status(up); st.State != blobapi.StateComplete {
		t.Fatalf("status after complete: %s", st.State)
	}

	r = e.do("GET", up.URI, nil, nil)
	if r.status != 200 || !bytes.Equal(r.body, b.cipher) {
		t.Fatalf("download: %d, %d bytes, equal %v", r.status, len(r.body), bytes.Equal(r.body, b.cipher))
	}
	if r.header.Get(blobapi.HeaderSignature) != b.sum.Signature.String() || r.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("download headers: %v", r.header)
	}
	if err := attachment.Verify(bytes.NewReader(r.body), b.sum.Size, b.sum.Signature); err != nil {
		t.Fatal(err)
	}
	size := b.sum.Size
	cs := int64(blobapi.ChunkSize)
	for _, rg := range [][2]int64{{0, 0}, {cs - 1, cs}, {cs, 2*cs + 100}, {size - 1, size - 1}, {100, size + 1000}} {
		r := e.do("GET", up.URI, nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", rg[0], rg[1])})
		last := min(rg[1], size-1)
		want := b.cipher[rg[0] : last+1]
		if r.status != 206 || !bytes.Equal(r.body, want) || r.header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", rg[0], last, size) {
			t.Errorf("range %v: %d %q, %d bytes", rg, r.status, r.header.Get("Content-Range"), len(r.body))
		}
	}
	r = e.do("GET", up.URI, nil, map[string]string{"Range": "bytes=-10"})
	if r.status != 206 || !bytes.Equal(r.body, b.cipher[size-10:]) {
		t.Errorf("suffix range: %d", r.status)
	}
	r = e.do("GET", up.URI, nil, map[string]string{"Range": "bytes=5-9", "If-Range": `"other"`})
	if r.status != 200 || len(r.body) != int(size) {
		t.Errorf("If-Range of another blob: %d, %d bytes", r.status, len(r.body))
	}
	r = e.do("HEAD", up.URI, nil, nil)
	if r.status != 200 || r.header.Get("Content-Length") != strconv.FormatInt(size, 10) || len(r.body) != 0 {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	r = e.do("GET", up.URI, nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)})
	if r.status != 416 || r.errCode() != blobapi.CodeRangeNotSatisfiable || r.header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("range past the end: %d %s %v", r.status, r.body, r.header)
	}
	if r := e.putChunk(up, 0, b.chunk(0)); r.status != 409 || r.errCode() != blobapi.CodeUploadComplete {
		t.Errorf("chunk after complete: %d %s", r.status, r.body)
	}
}

func TestEmptyBlob(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 2, 0)
	up := e.upload(e.dev, b)
	r := e.do("GET", up.URI, nil, nil)
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Fatalf("empty blob: %d %q", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, map[string]string{"Range": "bytes=0-"}); r.status != 416 {
		t.Fatalf("range of an empty blob: %d", r.status)
	}
}

// TestRepeatedChunkWithOtherContent: a chunk sent again with other bytes
// is refused, and the good copy is what is stored and served.
func TestRepeatedChunkWithOtherContent(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 3, blobapi.ChunkSize+10)
	up := e.create(e.dev, b)
	e.putChunk(up, 0, b.chunk(0))
	e.putChunk(up, 1, b.chunk(1))
	bad := bytes.Clone(b.chunk(0))
	bad[12345] ^= 1
	if r := e.putChunk(up, 0, bad); r.status != 422 || r.errCode() != blobapi.CodeChecksumMismatch {
		t.Fatalf("chunk 0 again, one bit flipped: %d %s", r.status, r.body)
	}
	if r := e.putChunk(up, 0, b.chunk(0)); r.status != 200 {
		t.Fatalf("chunk 0 again, same bytes: %d %s", r.status, r.body)
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, nil); !bytes.Equal(r.body, b.cipher) {
		t.Fatal("the stored blob is not the good one")
	}
}

// TestSignatureMismatch: chunks that match their checksums but a whole
// that does not match the declared signature is refused at completion and
// everything is discarded (nothing served, quota freed).
func TestSignatureMismatch(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Quota = 3 * blobapi.ChunkSize })
	b := newBlob(t, 4, 2*blobapi.ChunkSize)
	other := newBlob(t, 5, 1)
	lying := &blob{cipher: b.cipher, sum: b.sum}
	lying.sum.Signature = other.sum.Signature
	up := e.create(e.dev, lying)
	for i := range up.Chunks {
		if r := e.putChunk(up, i, b.chunk(i)); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	if r := e.complete(up); r.status != 422 || r.errCode() != blobapi.CodeSignatureMismatch {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, nil); r.status != 404 {
		t.Fatalf("download after a refused upload: %d", r.status)
	}
	if r := e.do("GET", up.UploadURL, nil, nil); r.status != 404 || r.errCode() != blobapi.CodeUploadNotFound {
		t.Fatalf("status after a refused upload: %d %s", r.status, r.body)
	}
	if r := e.putChunk(up, 0, b.chunk(0)); r.status != 404 {
		t.Fatalf("chunk after a refused upload: %d", r.status)
	}
	assertNoBlobFiles(t, e)
	// The quota is free again: the real blob fits.
	e.upload(e.dev, b)
}

// assertNoBlobFiles checks that the fs store holds no object, upload or
// record (beyond the empty folders).
func assertNoBlobFiles(t *testing.T, e *env) {
	t.Helper()
	root := e.store.(*fs.Store).Root()
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if len(files) > 0 {
		t.Fatalf("files left in the store: %q", files)
	}
}

func TestQuotaAndSizeLimit(t *testing.T) {
	const max = 3*blobapi.ChunkSize + 1
	e := newEnv(t, func(c *Config) { c.MaxSize = max; c.Quota = 4 * blobapi.ChunkSize })
	// H3 at the size limit: max−1 and max accepted, max+1 refused before
	// any chunk is sent.
	for _, size := range []int64{max - 1, max} {
		b := &blob{sum: attachment.Summary{Size: size, Chunks: make([]attachment.ChunkChecksum, blobapi.NumChunks(size))}}
		for i := range b.sum.Chunks {
			b.sum.Chunks[i][0] = 1
		}
		b.sum.Signature[0] = 0x81
		r := e.signed(e.dev, "POST", blobapi.PathBlobs, b.createBody())
		if r.status != 201 {
			t.Fatalf("size %d: %d %s", size, r.status, r.body)
		}
		var up blobapi.Upload
		json.Unmarshal(r.body, &up)
		if r := e.do("DELETE", up.UploadURL, nil, nil); r.status != 204 {
			t.Fatalf("abort: %d %s", r.status, r.body)
		}
	}
	b := &blob{sum: attachment.Summary{Size: max + 1, Chunks: make([]attachment.ChunkChecksum, blobapi.NumChunks(max+1))}}
	for i := range b.sum.Chunks {
		b.sum.Chunks[i][0] = 1
	}
	b.sum.Signature[0] = 0x81
	if r := e.signed(e.dev, "POST", blobapi.PathBlobs, b.createBody()); r.status != 413 || r.errCode() != blobapi.CodeBlobTooLarge {
		t.Fatalf("size limit + 1: %d %s", r.status, r.body)
	}

	// Quota: 3 chunks stored, 2 more refused, 1 more accepted; another
	// account is not affected.
	big := newBlob(t, 6, 3*blobapi.ChunkSize)
	e.upload(e.dev, big)
	two := newBlob(t, 7, blobapi.ChunkSize+1)
	if r := e.signed(e.dev, "POST", blobapi.PathBlobs, two.createBody()); r.status != 403 || r.errCode() != blobapi.CodeQuotaExceeded {
		t.Fatalf("past the quota: %d %s", r.status, r.body)
	}
	other := e.devs.add("acct-2")
	e.upload(other, two)
	one := newBlob(t, 8, blobapi.ChunkSize)
	up := e.create(e.dev, one) // pending uploads count too
	if r := e.signed(e.dev, "POST", blobapi.PathBlobs, newBlob(t, 9, 1).createBody()); r.errCode() != blobapi.CodeQuotaExceeded {
		t.Fatalf("past the quota with a pending upload: %d %s", r.status, r.body)
	}
	e.do("DELETE", up.UploadURL, nil, nil)
	e.upload(e.dev, newBlob(t, 9, 1))
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TTL = 48 * time.Hour; c.UploadTTL = 2 * time.Hour })
	done := e.upload(e.dev, newBlob(t, 10, blobapi.ChunkSize+5))
	pending := e.create(e.dev, newBlob(t, 11, 100))
	e.putChunk(pending, 0, newBlob(t, 11, 100).cipher)

	e.clock.Add(2*time.Hour + time.Second)
	if r := e.do("GET", pending.UploadURL, nil, nil); r.status != 404 {
		t.Fatalf("expired upload: %d", r.status)
	}
	n, freed, err := e.svc.Sweep(context.Background())
	if err != nil || n != 1 || freed != 100 {
		t.Fatalf("first sweep: %d blobs, %d bytes, %v", n, freed, err)
	}
	if r := e.do("GET", done.URI, nil, nil); r.status != 200 {
		t.Fatalf("blob before its expiry: %d", r.status)
	}
	e.clock.Add(46 * time.Hour)
	if r := e.do("GET", done.URI, nil, nil); r.status != 404 {
		t.Fatalf("blob after its expiry, before the sweep: %d", r.status)
	}
	n, freed, err = e.svc.Sweep(context.Background())
	if err != nil || n != 1 || freed != blobapi.ChunkSize+5 {
		t.Fatalf("second sweep: %d blobs, %d bytes, %v", n, freed, err)
	}
	assertNoBlobFiles(t, e)
	if n, _, _ := e.svc.Sweep(context.Background()); n != 0 {
		t.Fatalf("third sweep reclaimed %d", n)
	}
}

// TestSweepFinishesInterruptedWork: records left by a crash between the
// writes of a creation, or of a removal, are reclaimed by the sweep.
func TestSweepFinishesInterruptedWork(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UploadTTL = time.Hour })
	ctx := context.Background()
	up := e.create(e.dev, newBlob(t, 12, 10))
	// Crash after the marker, usage and token, before the blob record.
	if err := e.store.DeleteRecord(ctx, blobKey(up.ID)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(2 * time.Hour)
	if n, _, err := e.svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	assertNoBlobFiles(t, e)
}

func TestDelete(t *testing.T) {
	e := newEnv(t, nil)
	up := e.upload(e.dev, newBlob(t, 13, 1000))
	stranger := e.devs.add("acct-2")
	if r := e.signed(stranger, "DELETE", blobapi.PathBlobs+"/"+up.ID, nil); r.status != 403 || r.errCode() != blobapi.CodeNotOwner {
		t.Fatalf("delete by another account: %d %s", r.status, r.body)
	}
	sibling := e.devs.add("acct-1")
	if r := e.signed(sibling, "DELETE", blobapi.PathBlobs+"/"+up.ID, nil); r.status != 204 {
		t.Fatalf("delete by the owner's other device: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, nil); r.status != 404 {
		t.Fatalf("download after delete: %d", r.status)
	}
	if r := e.signed(e.dev, "DELETE", blobapi.PathBlobs+"/"+up.ID, nil); r.status != 404 {
		t.Fatalf("second delete: %d", r.status)
	}
	assertNoBlobFiles(t, e)
}

// TestResumeAfterDroppedConnection drops a connection in the middle of a
// chunk: the chunk is not stored, the status says so, and sending it again
// completes the upload.
func TestResumeAfterDroppedConnection(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 14, 2*blobapi.ChunkSize)
	up := e.create(e.dev, b)
	e.putChunk(up, 0, b.chunk(0))

	u := strings.TrimPrefix(up.UploadURL, "https://")
	host, path, _ := strings.Cut(u, "/")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /%s/chunks/1 HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", path, host, blobapi.ChunkSize)
	conn.Write(b.chunk(1)[:blobapi.ChunkSize/2])
	conn.Close() // dropped mid-chunk

	st := e.status(up)
	if !st.Chunks[0].Received || st.Chunks[1].Received {
		t.Fatalf("after the drop: %+v", st.Chunks)
	}
	if r := e.complete(up); r.errCode() != blobapi.CodeChunksMissing || fmt.Sprint(r.apiErr().Missing) != "[1]" {
		t.Fatalf("complete after the drop: %d %s", r.status, r.body)
	}
	e.putChunk(up, 1, b.chunk(1))
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("complete after resuming: %d %s", r.status, r.body)
	}
	if r := e.do("GET", up.URI, nil, nil); !bytes.Equal(r.body, b.cipher) {
		t.Fatal("resumed blob differs")
	}
}

// TestIncompleteChunkBody: a body shorter than its Content-Length gets
// incomplete_chunk (seen through the handler, since a real client that
// sends less has gone away).
func TestIncompleteChunkBody(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 15, 1000)
	up := e.create(e.dev, b)
	path := strings.TrimPrefix(up.UploadURL, e.srv.URL) + "/chunks/0"
	req := httptest.NewRequest("PUT", path, bytes.NewReader(b.cipher[:500]))
	req.ContentLength = 1000
	w := httptest.NewRecorder()
	e.svc.Handler().ServeHTTP(w, req)
	if w.Code != 400 || !strings.Contains(w.Body.String(), blobapi.CodeIncompleteChunk) {
		t.Fatalf("short body: %d %s", w.Code, w.Body)
	}
	if st := e.status(up); st.Chunks[0].Received {
		t.Fatal("a short chunk was stored")
	}
}

// TestRateLimits (H5): creations per device are refused past the burst
// with 429 and Retry-After, and admitted again after the wait.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Limits = &Limits{Create: ratelimit.Limit{Rate: 0.5, Burst: 3}, Addr: ratelimit.Limit{Rate: 1, Burst: 5}}
	})
	b := newBlob(t, 16, 1)
	for i := range 3 {
		if r := e.signed(e.dev, "POST", blobapi.PathBlobs, b.createBody()); r.status != 201 {
			t.Fatalf("create %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.signed(e.dev, "POST", blobapi.PathBlobs, b.createBody())
	if r.status != 429 || r.errCode() != blobapi.CodeRateLimited || r.header.Get("Retry-After") != "2" {
		t.Fatalf("4th create: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	other := e.devs.add("acct-1")
	if r := e.signed(other, "POST", blobapi.PathBlobs, b.createBody()); r.status != 201 {
		t.Fatalf("another device: %d", r.status)
	}
	e.clock.Add(2 * time.Second)
	if r := e.signed(e.dev, "POST", blobapi.PathBlobs, b.createBody()); r.status != 201 {
		t.Fatalf("after Retry-After: %d %s", r.status, r.body)
	}
	// Downloads per address.
	id := strings.Repeat("ab", blobapi.IDSize)
	got := map[int]int{}
	for range 8 {
		got[e.do("GET", "/v1/blobs/"+id, nil, nil).status]++
	}
	if got[404] != 5 || got[429] != 3 {
		t.Fatalf("downloads past the address burst: %v", got)
	}
}

// TestBuffersBoundConcurrency: with one buffer, chunk uploads are received
// one at a time and all succeed.
func TestBuffersBoundConcurrency(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Buffers = 1 })
	b := newBlob(t, 17, 4*blobapi.ChunkSize)
	up := e.create(e.dev, b)
	errs := make(chan string, 4)
	for i := range 4 {
		go func() {
			r := e.putChunk(up, i, b.chunk(i))
			errs <- fmt.Sprintf("%d %s", r.status, r.errCode())
		}()
	}
	for range 4 {
		if s := <-errs; s != "200 " {
			t.Fatal(s)
		}
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatal(r.status)
	}
}

func TestNoTokensInLogs(t *testing.T) {
	p := redactPath("/v1/uploads/SECRET/chunks/3")
	if strings.Contains(p, "SECRET") || !strings.HasSuffix(p, "chunks/3") {
		t.Fatal(p)
	}
}

// TestResumeAfterServerRestart: everything an upload needs is in the
// store, so a new service on the same folder carries on where the old one
// stopped.
func TestResumeAfterServerRestart(t *testing.T) {
	e := newEnv(t, nil)
	b := newBlob(t, 18, 2*blobapi.ChunkSize+1)
	up := e.create(e.dev, b)
	e.putChunk(up, 1, b.chunk(1))
	e.srv.Close()
	e.svc.Close()

	e2 := newEnvStore(t, e.store, func(c *Config) { c.Devices = e.devs; c.Now = e.clock.Now })
	// The upload URL names the old server's address: talk to the new one.
	up.UploadURL = e2.srv.URL + strings.TrimPrefix(up.UploadURL, e.srv.URL)
	st := e2.status(up)
	if st.Chunks[0].Received || !st.Chunks[1].Received || st.Chunks[2].Received {
		t.Fatalf("status after the restart: %+v", st.Chunks)
	}
	e2.putChunk(up, 0, b.chunk(0))
	e2.putChunk(up, 2, b.chunk(2))
	if r := e2.complete(up); r.status != 200 {
		t.Fatalf("complete after the restart: %d %s", r.status, r.body)
	}
	uri := e2.srv.URL + strings.TrimPrefix(up.URI, e.srv.URL)
	if r := e2.do("GET", uri, nil, nil); !bytes.Equal(r.body, b.cipher) {
		t.Fatal("blob differs after the restart")
	}
}
