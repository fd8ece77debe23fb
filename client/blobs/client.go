// Package blobs is the device side of the Sealpost blob store: it encrypts
// a file and uploads it (resumably, with progress), and downloads a blob,
// checks it against its signature and decrypts it to a file, so that no
// plaintext byte appears under the final name unless the whole blob
// verified.
//
// # Sending a file
//
//	c := &blobs.Client{BaseURL: "https://sealpost.example.org", HTTP: hc, Keys: keys}
//	up, err := c.UploadFile(ctx, "photo.jpg", &blobs.UploadOptions{Progress: show})
//	// the message carries up.URI, up.Key, up.Signature and up.Size
//	// (message.Attachment URL, Key, Signature, Size)
//
// UploadFile reads the file twice: once to encrypt it and learn its
// signature and chunk checksums (the server wants them before the first
// chunk, so that it can refuse what is too large or over quota at once and
// check every chunk as it arrives), and once more to send the chunks, each
// encrypted again on its own as it streams out (attachment.NewStreamAt:
// AES only, the hashes are not computed twice). A fresh key encrypts to the same bytes both
// times; if the file changed in between, the server refuses the changed
// chunk (its checksum, and the signature at the end, are those of the
// first reading) and UploadFile fails with ErrFileChanged.
//
// # Resuming
//
// Within one call, a request that fails on the network (or gets 429 or a
// 5xx) is sent again after a backoff, up to Client.Retries times; a chunk
// is read and encrypted from the file again for each attempt (the sender
// holds no chunk in memory). Across processes:
// UploadOptions.OnState receives an UploadState as soon as the server has
// accepted the upload; store it (it holds the key: keep it with the
// device's other secrets) and pass it back as UploadOptions.Resume to send
// only the chunks the server lacks.
//
// # Receiving
//
//	err := c.DownloadFile(ctx, att.URL, att.Key, att.Signature, att.Size, "photo.jpg", nil)
//
// DownloadFile reads the blob once: it refuses a blob that is not exactly
// att.Size bytes as soon as the server says so, and streams the rest
// through an attachment.Decrypter, which decrypts and checks the signature
// in the same pass, into a temporary file (mode 0600) next to dest. Only
// when the whole blob has matched the signature is that file synced and
// renamed to dest; on any verification failure it is removed, and the
// call returns attachment.ErrCannotOpen. So no plaintext byte ever appears
// under the final name before the signature has verified, and none is
// left behind by a refused blob. A dropped connection is resumed with a
// Range request within the call; if the call fails for another reason
// than verification, the ciphertext received so far is kept in
// dest + ".sealpost-download" for a later call to go on from. (A process
// killed in the middle of a download can leave its temporary file,
// .sealpost-blob-*.partial, behind: unverified plaintext, readable by the
// user only.)
//
// NewTransport makes an HTTP transport tuned for these transfers.
//
// The signature covers the ciphertext, not the key: a blob decrypted
// under another key than the one it was made with gives garbage, without
// error. The key and signature travel together in the authenticated
// message, which is what rules that out.
//
// # Memory
//
// An upload holds the attachment package's fixed buffers, and per chunk
// in flight only what the HTTP transport buffers (chunks stream from the
// file); a download holds fixed buffers only. Neither grows with the file.
//
// A Client is safe for concurrent use if its HTTP client is.
package blobs

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Defaults of Client.
const (
	DefaultParallel   = 5 // as many as a sealpostd takes in at once by default (--blob-buffers)
	DefaultRetries    = 8
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Client talks to one blob store as one device.
type Client struct {
	// BaseURL is the server that takes new uploads, e.g.
	// "https://127.0.0.1:7443". Downloads go to whatever URI they are
	// given.
	BaseURL string
	// HTTP is the HTTP client; nil means http.DefaultClient. Several
	// HTTP/1.1 connections (the default when h2 is not offered, or
	// TLSClientConfig.NextProtos = ["http/1.1"]) are faster on fast links
	// than one HTTP/2 connection.
	HTTP *http.Client
	// Keys sign the upload requests (needed only to upload).
	Keys *identity.Keys
	// Now is the clock for request nonces; nil means time.Now.
	Now func() time.Time
	// Parallel is the number of chunks sent at once (default
	// DefaultParallel), or fewer if the server takes fewer at once (the
	// plan's Parallel).
	Parallel int
	// Retries is how many times a request that failed on the network, or
	// got 429 or a 5xx, is sent again (default DefaultRetries; negative:
	// never).
	Retries int
	// MinBackoff and MaxBackoff bound the wait before a retry, which
	// doubles from MinBackoff (with jitter) and honours Retry-After.
	MinBackoff, MaxBackoff time.Duration
}

// Progress reports how far an upload or download has got.
type Progress struct {
	// Phase is PhaseEncrypt, PhaseUpload, PhaseDownload or PhaseDecrypt.
	Phase string
	// Done of Total bytes of this phase.
	Done, Total int64
}

// Phases of Progress.
const (
	PhaseEncrypt  = "encrypt"  // first pass over the file: signature and checksums
	PhaseUpload   = "upload"   // bytes acknowledged by the server
	PhaseDownload = "download" // ciphertext received and decrypted (not yet verified)
	PhaseDecrypt  = "decrypt"  // reported once, Done = Total: the blob verified and its plaintext is in place
)

// ErrFileChanged is returned by UploadFile when the file changed between
// its two readings (or, resuming, since the upload began).
var ErrFileChanged = errors.New("blobs: the file changed while it was being uploaded")

func (c *Client) hc() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return DefaultRetries
	}
	return c.Retries
}

func (c *Client) parallel() int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return DefaultParallel
}

// backoff returns the wait before retry attempt (1, 2, ...).
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	lo, hi := c.MinBackoff, c.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	d := lo << min(attempt-1, 20)
	d = min(d, hi)
	d = d/2 + rand.N(d/2+1) // jitter
	return max(d, retryAfter)
}

// retryable reports whether a failed request may succeed if sent again.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *blobapi.Error
	if errors.As(err, &e) {
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	}
	var ne *netError
	return errors.As(err, &ne)
}

// withRetry runs try until it succeeds, fails for good, or the retries run
// out.
func (c *Client) withRetry(ctx context.Context, try func() error) error {
	for attempt := 0; ; attempt++ {
		err := try()
		if err == nil || !retryable(err) || attempt >= c.retries() || ctx.Err() != nil {
			return err
		}
		var retryAfter time.Duration
		var e *blobapi.Error
		if errors.As(err, &e) {
			retryAfter = e.RetryAfter
		}
		t := time.NewTimer(c.backoff(attempt+1, retryAfter))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// responseError turns an error answer into a *blobapi.Error.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb blobapi.ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
		eb.Error = &blobapi.Error{Code: "http_" + strconv.Itoa(resp.StatusCode), Message: fmt.Sprintf("unexpected answer %q", truncate(data, 200))}
	}
	eb.Error.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		eb.Error.RetryAfter = time.Duration(s) * time.Second
	}
	return eb.Error
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// call sends one request with body (nil for none) and decodes a 2xx JSON
// answer into out (if not nil). sign signs it with the device key.
func (c *Client) call(ctx context.Context, method, url string, body []byte, sign bool, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign {
		if c.Keys == nil {
			return errors.New("blobs: Client.Keys is needed to upload")
		}
		h := c.Keys.Public().Hash()
		if err := reqsign.Sign(req, body, c.Keys.SigningKey(), hex.EncodeToString(h[:]), c.now()); err != nil {
			return err
		}
	}
	resp, err := c.hc().Do(req)
	if err != nil {
		return &netError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return responseError(resp)
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &netError{err}
	}
	return json.Unmarshal(data, out)
}
