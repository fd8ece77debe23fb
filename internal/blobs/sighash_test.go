package blobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
)

// openLog records the offsets of the store's Open calls.
type openLog struct {
	storage.Store
	mu   sync.Mutex
	offs []int64
}

func (o *openLog) Open(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	o.mu.Lock()
	o.offs = append(o.offs, off)
	o.mu.Unlock()
	return o.Store.Open(ctx, id, off, n)
}

func (o *openLog) take() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	offs := o.offs
	o.offs = nil
	return offs
}

func newLoggedEnv(t *testing.T) (*env, *openLog) {
	store, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := &openLog{Store: store}
	return newEnvStore(t, log, nil), log
}

// TestSignatureFromChunksInOrder: chunks that arrive in order are hashed
// as they come, and complete reads nothing back; chunks that do not are
// read back from the first one that could not be hashed in order. Either
// way the blob is checked whole: a declared signature that the chunks do
// not make is refused.
func TestSignatureFromChunksInOrder(t *testing.T) {
	b := newBlob(t, 30, 3*blobapi.ChunkSize+7)
	cases := []struct {
		order    []int
		readBack []int64 // offsets complete opens the blob at
	}{
		{[]int{0, 1, 2, 3}, nil},
		{[]int{0, 2, 1, 3}, []int64{blobapi.ChunkSize}}, // 1 did not come while 2 waited: hashing stopped after 0
		{[]int{3, 2, 1, 0}, []int64{0}},
		{[]int{0, 1, 1, 0, 2, 3}, nil}, // chunks sent again change nothing
	}
	for _, c := range cases {
		for _, lie := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/lying=%v", c.order, lie), func(t *testing.T) {
				e, log := newLoggedEnv(t)
				sent := b
				if lie {
					sent = &blob{cipher: b.cipher, sum: b.sum}
					sent.sum.Signature = newBlob(t, 31, 1).sum.Signature
				}
				up := e.create(e.dev, sent)
				for _, i := range c.order {
					if r := e.putChunk(up, i, b.chunk(i)); r.status != 200 {
						t.Fatalf("chunk %d: %d %s", i, r.status, r.body)
					}
				}
				r := e.complete(up)
				if got := log.take(); !slices.Equal(got, c.readBack) {
					t.Errorf("complete read the blob back from %v, want %v", got, c.readBack)
				}
				if lie {
					if r.status != 422 || r.errCode() != blobapi.CodeSignatureMismatch {
						t.Fatalf("complete with a lying signature: %d %s", r.status, r.body)
					}
					return
				}
				if r.status != 200 {
					t.Fatalf("complete: %d %s", r.status, r.body)
				}
				if r := e.do("GET", up.URI, nil, nil); !bytes.Equal(r.body, b.cipher) {
					t.Fatal("the stored blob differs")
				}
			})
		}
	}
}

// TestSignatureChunkWaitsForPredecessor: a chunk that overtakes the one
// before it while that one is still arriving on this node waits for it,
// so both are hashed in order and complete reads nothing back.
func TestSignatureChunkWaitsForPredecessor(t *testing.T) {
	e, log := newLoggedEnv(t)
	b := newBlob(t, 32, 2*blobapi.ChunkSize)
	up := e.create(e.dev, b)
	id := up.ID

	// Chunk 0 starts arriving and stalls after its first kilobyte.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", up.UploadURL+"/chunks/0", pr)
	req.ContentLength = blobapi.ChunkSize
	first := make(chan int)
	go func() {
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := pw.Write(b.chunk(0)[:1024]); err != nil { // returns once the handler reads the body
		t.Fatal(err)
	}
	// Chunk 1 arrives whole meanwhile, and waits for chunk 0 to be hashed.
	second := make(chan int)
	go func() { second <- e.putChunk(up, 1, b.chunk(1)).status }()
	for {
		st := e.svc.sig(id)
		st.mu.Lock()
		n := st.receiving[1]
		st.mu.Unlock()
		if n > 0 {
			break
		}
		runtime.Gosched()
	}
	if _, err := pw.Write(b.chunk(0)[1024:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if s0, s1 := <-first, <-second; s0 != 200 || s1 != 200 {
		t.Fatalf("chunks answered %d and %d", s0, s1)
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("complete read the blob back from %v, want nothing read back", got)
	}
}

// TestSignatureChunkBeforePredecessorStarts: a chunk whose predecessor has
// not started arriving waits for it a little (a client's senders need not
// start their requests in chunk order), and both are hashed in order.
func TestSignatureChunkBeforePredecessorStarts(t *testing.T) {
	e, log := newLoggedEnv(t)
	e.svc.sigGrace = time.Minute // the test's own pace must not matter
	b := newBlob(t, 33, 2*blobapi.ChunkSize)
	up := e.create(e.dev, b)
	second := make(chan int)
	go func() { second <- e.putChunk(up, 1, b.chunk(1)).status }()
	for {
		st := e.svc.sig(up.ID)
		st.mu.Lock()
		n := st.receiving[1]
		st.mu.Unlock()
		if n > 0 {
			break
		}
		runtime.Gosched()
	}
	if r := e.putChunk(up, 0, b.chunk(0)); r.status != 200 {
		t.Fatalf("chunk 0: %d %s", r.status, r.body)
	}
	if s1 := <-second; s1 != 200 {
		t.Fatalf("chunk 1 answered %d", s1)
	}
	if r := e.complete(up); r.status != 200 {
		t.Fatalf("complete: %d %s", r.status, r.body)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("complete read the blob back from %v, want nothing read back", got)
	}
}
