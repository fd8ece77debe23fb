package blobs

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
)

// UploadOptions tune UploadFile. The zero value (or nil) is fine.
type UploadOptions struct {
	// Progress, if set, is called as the upload advances, from one
	// goroutine at a time.
	Progress func(Progress)
	// OnState, if set, is called once the server has accepted the upload,
	// with what is needed to resume it from another process.
	OnState func(*UploadState)
	// Resume continues an upload started earlier (from its OnState) of the
	// same, unchanged file.
	Resume *UploadState
}

// UploadState is what it takes to resume an upload. It holds the
// attachment key: store it as a secret.
type UploadState struct {
	UploadURL string               `json:"upload_url"`
	URI       string               `json:"uri"`
	Key       attachment.Key       `json:"key"`
	Signature attachment.Signature `json:"signature"`
	Size      int64                `json:"size"`
}

// Uploaded describes a stored blob: what the message needs to carry.
type Uploaded struct {
	URI       string
	Key       attachment.Key
	Signature attachment.Signature
	Size      int64
	Expires   time.Time
}

// UploadFile encrypts the file at path under a fresh key, uploads it and
// returns what the message must carry. See the package documentation for
// how it resumes.
func (c *Client) UploadFile(ctx context.Context, path string, opts *UploadOptions) (*Uploaded, error) {
	if opts == nil {
		opts = &UploadOptions{}
	}
	report := func(p Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	var st UploadState
	var plan *blobapi.Upload
	if opts.Resume != nil {
		st = *opts.Resume
		plan = new(blobapi.Upload)
		if err := c.withRetry(ctx, func() error { return c.call(ctx, "GET", st.UploadURL, nil, false, plan) }); err != nil {
			return nil, fmt.Errorf("blobs: resuming the upload: %w", err)
		}
		if plan.Size != st.Size || plan.Signature != st.Signature {
			return nil, errors.New("blobs: the upload to resume is of another file")
		}
	} else {
		st.Key = attachment.NewKey()
		sum, err := c.summarise(ctx, path, st.Key, report)
		if err != nil {
			return nil, err
		}
		body, _ := json.Marshal(blobapi.CreateRequest{Size: sum.Size, Signature: sum.Signature, Chunks: sum.Chunks})
		plan = new(blobapi.Upload)
		err = c.withRetry(ctx, func() error { return c.call(ctx, "POST", c.BaseURL+blobapi.PathBlobs, body, true, plan) })
		if err != nil {
			return nil, fmt.Errorf("blobs: starting the upload: %w", err)
		}
		st.UploadURL, st.URI, st.Signature, st.Size = plan.UploadURL, plan.URI, sum.Signature, sum.Size
		if opts.OnState != nil {
			s := st
			opts.OnState(&s)
		}
	}
	for round := 0; plan.State != blobapi.StateComplete; round++ {
		var need []bool
		var missing int64
		for _, ch := range plan.Chunks {
			need = append(need, !ch.Received)
			if !ch.Received {
				missing += ch.Size
			}
		}
		if missing > 0 {
			if err := c.sendChunks(ctx, path, &st, need, st.Size-missing, plan.Parallel, report); err != nil {
				return nil, err
			}
		}
		var done blobapi.Blob
		err := c.withRetry(ctx, func() error { return c.call(ctx, "POST", st.UploadURL+"/complete", nil, false, &done) })
		var e *blobapi.Error
		if errors.As(err, &e) && e.Code == blobapi.CodeChunksMissing && round < 3 {
			// Chunks lost on the server's side (a crash before they were
			// durable): send them again.
			if err := c.withRetry(ctx, func() error { return c.call(ctx, "GET", st.UploadURL, nil, false, plan) }); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("blobs: completing the upload: %w", err)
		}
		return &Uploaded{URI: done.URI, Key: st.Key, Signature: done.Signature, Size: done.Size, Expires: done.Expires}, nil
	}
	return &Uploaded{URI: plan.URI, Key: st.Key, Signature: plan.Signature, Size: plan.Size, Expires: plan.Expires}, nil
}

// progressReader counts what is read through it.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	phase string
	next  int64
	fn    func(Progress)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done >= p.next || err == io.EOF {
		p.fn(Progress{Phase: p.phase, Done: p.done, Total: p.total})
		p.next = p.done + 1<<20
	}
	return n, err
}

// summarise encrypts the file once, for its signature and checksums.
func (c *Client) summarise(ctx context.Context, path string, key attachment.Key, report func(Progress)) (attachment.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return attachment.Summary{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return attachment.Summary{}, err
	}
	src := &progressReader{r: &ctxReader{ctx, f}, total: fi.Size(), phase: PhaseEncrypt, fn: report}
	return attachment.Encrypt(io.Discard, src, key)
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sendChunks sends the chunks marked in need, Parallel at a time (or as
// many as the server takes in at once, serverParallel, if fewer): each
// sender streams its chunk from the file, encrypting it piece by piece as
// the connection takes it (attachment.NewStreamAt: the same bytes as the
// first pass made, and no chunk-sized buffer), and sends it again from the
// file until the server has it. The server checks every chunk against the
// checksum of the first pass, so a file that changed since is refused
// chunk by chunk (ErrFileChanged); one that changed its size is refused
// here.
func (c *Client) sendChunks(ctx context.Context, path string, st *UploadState, need []bool, already int64, serverParallel int, report func(Progress)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := sameSize(f, st.Size); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan int)
	var acked atomic.Int64
	acked.Store(already)
	var progressMu sync.Mutex
	var wg sync.WaitGroup
	senders := c.parallel()
	if serverParallel > 0 {
		senders = min(senders, serverParallel)
	}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() != nil {
					continue // failed or cancelled: let the feeder stop
				}
				off, n := blobapi.ChunkBounds(i, st.Size)
				body := func() io.Reader {
					return &chunkReader{f: f, ctr: attachment.NewStreamAt(st.Key, off), off: off, end: off + n}
				}
				err := c.withRetry(ctx, func() error { return c.putChunk(ctx, st.UploadURL, i, n, body) })
				if err != nil {
					var e *blobapi.Error
					if errors.As(err, &e) && e.Code == blobapi.CodeChecksumMismatch || errors.Is(err, ErrFileChanged) {
						err = ErrFileChanged
					} else {
						err = fmt.Errorf("blobs: sending chunk %d: %w", i, err)
					}
					cancel(err)
					continue
				}
				done := acked.Add(n)
				progressMu.Lock()
				report(Progress{Phase: PhaseUpload, Done: done, Total: st.Size})
				progressMu.Unlock()
			}
		}()
	}
feed:
	for i, ok := range need {
		if !ok {
			continue
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return sameSize(f, st.Size)
}

// sameSize returns ErrFileChanged unless f has size bytes.
func sameSize(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return ErrFileChanged
	}
	return nil
}

// chunkReader reads the bytes [off, end) of f, encrypted by ctr (the key
// stream from off on), in whatever pieces its reader asks for. Its errors
// are *fileError: ErrFileChanged for a file that ends early, or the error
// of reading the file.
type chunkReader struct {
	f        *os.File
	ctr      cipher.Stream
	off, end int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off == r.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.end-r.off)]
	n, err := r.f.ReadAt(p, r.off)
	r.ctr.XORKeyStream(p[:n], p[:n])
	r.off += int64(n)
	switch {
	case n == len(p):
		return n, nil
	case err == nil || errors.Is(err, io.EOF):
		return n, &fileError{ErrFileChanged} // shorter than when it was summarised
	default:
		return n, &fileError{err}
	}
}

// fileError is an error of the file being sent, not of the network: the
// request is not sent again.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }

// putChunk sends chunk index, n bytes read from body(); the transport may
// call body again to send it once more on a fresh connection.
func (c *Client) putChunk(ctx context.Context, uploadURL string, index int, n int64, body func() io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, "PUT", uploadURL+"/chunks/"+strconv.Itoa(index), body())
	if err != nil {
		return err
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body()), nil }
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.hc().Do(req)
	if fe := (*fileError)(nil); errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return &netError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return nil
}
