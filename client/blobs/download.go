package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
)

// PartialSuffix is added to the destination's name for the ciphertext of a
// download in progress.
const PartialSuffix = ".sealpost-download"

// DownloadOptions tune DownloadFile. The zero value (or nil) is fine.
type DownloadOptions struct {
	// Progress, if set, is called as the download advances.
	Progress func(Progress)
}

// netError marks an error of the network (or of the server's side of the
// connection): sending the request again may succeed.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// DownloadFile fetches the blob at uri, which must be size bytes with
// signature sig, and decrypts it under key to dest. See the package
// documentation for what it promises. An interrupted download is resumed
// from the bytes already in dest+PartialSuffix, by this call's retries or
// by a later call.
func (c *Client) DownloadFile(ctx context.Context, uri string, key attachment.Key, sig attachment.Signature, size int64, dest string, opts *DownloadOptions) error {
	if opts == nil {
		opts = &DownloadOptions{}
	}
	report := func(p Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	if size < 0 {
		return attachment.ErrCannotOpen
	}
	partial := dest + PartialSuffix
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	have := fi.Size()
	if have > size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
	}
	if have < size {
		err = c.withRetry(ctx, func() error { return c.fetch(ctx, uri, f, &have, size, sig, report) })
		if errors.Is(err, attachment.ErrCannotOpen) {
			f.Close()
			os.Remove(partial)
			return attachment.ErrCannotOpen
		}
		if err != nil {
			return err // the partial download stays, to be resumed
		}
	}
	src := &countingReaderAt{r: f, total: 2 * size, fn: report}
	err = decryptFile(dest, src, size, key, sig)
	f.Close()
	if err == nil || errors.Is(err, attachment.ErrCannotOpen) {
		os.Remove(partial)
	}
	if err == nil {
		report(Progress{Phase: PhaseDecrypt, Done: 2 * size, Total: 2 * size})
	}
	return err
}

// fetch downloads bytes [*have, size) of the blob into f, advancing *have
// as bytes arrive. A blob that is not size bytes, or whose signature the
// server gives as another, is attachment.ErrCannotOpen.
func (c *Client) fetch(ctx context.Context, uri string, f *os.File, have *int64, size int64, sig attachment.Signature, report func(Progress)) error {
	req, err := http.NewRequestWithContext(ctx, "GET", uri, nil)
	if err != nil {
		return err
	}
	if *have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(*have, 10)+"-")
	}
	resp, err := c.hc().Do(req)
	if err != nil {
		return &netError{err}
	}
	defer resp.Body.Close()
	if s := resp.Header.Get(blobapi.HeaderSignature); s != "" {
		var got attachment.Signature
		if got.UnmarshalText([]byte(s)) != nil || !got.Equal(sig) {
			return attachment.ErrCannotOpen // another blob (a swapped URI)
		}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != size {
			return attachment.ErrCannotOpen
		}
		if *have > 0 { // the server sent the whole blob: start again
			if err := f.Truncate(0); err != nil {
				return err
			}
			*have = 0
		}
	case http.StatusPartialContent:
		first, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			return &netError{fmt.Errorf("blobs: bad Content-Range %q", resp.Header.Get("Content-Range"))}
		}
		if total != size {
			return attachment.ErrCannotOpen
		}
		if first != *have {
			return &netError{fmt.Errorf("blobs: asked for bytes from %d, got from %d", *have, first)}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return attachment.ErrCannotOpen // shorter than size
	default:
		return responseError(resp)
	}
	// Read one byte more than is left: a longer blob is refused. Whole
	// buffers are written at once, to keep system calls few.
	body := io.LimitReader(resp.Body, size-*have+1)
	buf := make([]byte, 256<<10)
	next := *have
	for {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if *have+int64(n) > size {
				return attachment.ErrCannotOpen
			}
			if _, err := f.WriteAt(buf[:n], *have); err != nil {
				return err
			}
			*have += int64(n)
			if *have >= next {
				report(Progress{Phase: PhaseDownload, Done: *have, Total: size})
				next = *have + 1<<20
			}
		}
		switch {
		case rerr == nil:
			continue
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF: // the body ended
			if *have < size {
				return &netError{io.ErrUnexpectedEOF}
			}
			report(Progress{Phase: PhaseDownload, Done: *have, Total: size})
			return nil
		default:
			return &netError{rerr}
		}
	}
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	return first, total, err1 == nil && err2 == nil && first >= 0 && total >= 0
}

// countingReaderAt reports the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	done  int64
	total int64
	next  int64
	fn    func(Progress)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.done += int64(n)
	if c.done >= c.next {
		c.fn(Progress{Phase: PhaseDecrypt, Done: min(c.done, c.total), Total: c.total})
		c.next = c.done + 4<<20
	}
	return n, err
}

// decryptFile is attachment.DecryptFile, but it asks the system to start
// writing the plaintext to disk as it goes (writeBehind), so that the
// final sync does not wait for the whole file: attachment.Decrypt checks
// the signature over all of src before it writes the first byte to the
// temporary file, which is renamed to dest only after a second check;
// on any error it is removed.
func decryptFile(dest string, src io.ReaderAt, size int64, key attachment.Key, sig attachment.Signature) (err error) {
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, ".sealpost-blob-*.partial") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := &writeBehind{f: f}
	if err = attachment.Decrypt(w, src, size, key, sig); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, dest); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeBehind writes to f and, every writeBehindEvery bytes, starts the
// write-back of what it wrote since the last time (without waiting).
type writeBehind struct {
	f       *os.File
	off     int64 // bytes written
	flushed int64 // bytes whose write-back has been started
}

const writeBehindEvery = 8 << 20

func (w *writeBehind) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.flushed >= writeBehindEvery {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
	return n, err
}
