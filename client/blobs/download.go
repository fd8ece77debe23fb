package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// by this call's retries, and by a later call from the ciphertext kept in
// dest+PartialSuffix.
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
	// The plaintext goes to a temporary file (mode 0600) that becomes dest
	// only once the whole blob has matched its signature, and is removed
	// otherwise.
	dir := filepath.Dir(dest)
	tmp, err := os.CreateTemp(dir, ".sealpost-blob-*.partial")
	if err != nil {
		return err
	}
	placed := false
	defer func() {
		if !placed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	out := newPlainFile(tmp)
	defer out.finish()
	d := attachment.NewDecrypter(out, key, size, sig)
	defer d.Close() // stops its helper goroutine on every path (before out.finish)
	partial := dest + PartialSuffix
	kept, err := resumePartial(partial, d, size)
	if err != nil {
		return err
	}
	if kept > 0 {
		report(Progress{Phase: PhaseDownload, Done: kept, Total: size})
	}
	if d.Len() < size {
		err = c.withRetry(ctx, func() error { return c.fetch(ctx, uri, d, size, sig, report) })
	}
	if err == nil {
		err = d.Close()
	}
	if errors.Is(err, attachment.ErrCannotOpen) {
		os.Remove(partial)
		return attachment.ErrCannotOpen
	}
	if err != nil {
		// Keep the ciphertext received so far for a later call. It is
		// rebuilt from the plaintext (CTR mode: the same XOR), so that the
		// normal path writes the blob to disk once.
		if d.Flush() == nil && out.finish() == nil {
			savePartial(partial, tmp, kept, d.Len(), key)
		}
		return err
	}
	if err = out.finish(); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	placed = true
	if dd, derr := os.Open(dir); derr == nil {
		dd.Sync()
		dd.Close()
	}
	os.Remove(partial)
	report(Progress{Phase: PhaseDecrypt, Done: size, Total: size})
	return nil
}

// resumePartial feeds the ciphertext that an interrupted call kept in
// partial to d, and returns its length. A partial file longer than the
// blob is of another blob: it is removed.
func resumePartial(partial string, d *attachment.Decrypter, size int64) (int64, error) {
	f, err := os.Open(partial)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() > size {
		f.Close()
		return 0, os.Remove(partial)
	}
	n, err := d.ReadFrom(io.LimitReader(f, fi.Size()))
	if err == nil && n != fi.Size() {
		err = io.ErrUnexpectedEOF // it shrank meanwhile
	}
	return n, err
}

// savePartial writes the ciphertext of bytes [from, to) of the plaintext
// in tmp to partial, after the from bytes it already holds. It is best
// effort: a partial file that is wrong only costs a refused download (the
// signature covers it), and a missing one a download from the start.
func savePartial(partial string, tmp *os.File, from, to int64, key attachment.Key) {
	if to <= from {
		return
	}
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if f.Truncate(from) != nil {
		return
	}
	buf := make([]byte, min(copyBufferSize, to-from))
	for off := from; off < to; {
		b := buf[:min(int64(len(buf)), to-off)]
		if _, err := tmp.ReadAt(b, off); err != nil {
			f.Truncate(from)
			return
		}
		attachment.EncryptAt(b, b, key, off)
		if _, err := f.WriteAt(b, off); err != nil {
			f.Truncate(from)
			return
		}
		off += int64(len(b))
	}
}

// copyBufferSize is the size of the buffers bodies are read through.
const copyBufferSize = 256 << 10

// fetch downloads the rest of the blob, from byte d.Len(), into d. A blob
// that is not size bytes, or whose signature the server gives as another,
// is attachment.ErrCannotOpen.
func (c *Client) fetch(ctx context.Context, uri string, d *attachment.Decrypter, size int64, sig attachment.Signature, report func(Progress)) error {
	have := d.Len()
	if have == size {
		return nil // all there (a retry after the body's last byte)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", uri, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
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
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != size {
			return attachment.ErrCannotOpen
		}
		if have > 0 { // the server sent the whole blob: skip what d has
			if _, err := io.CopyN(io.Discard, body, have); err != nil {
				return &netError{err}
			}
		}
	case http.StatusPartialContent:
		first, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			return &netError{fmt.Errorf("blobs: bad Content-Range %q", resp.Header.Get("Content-Range"))}
		}
		if total != size {
			return attachment.ErrCannotOpen
		}
		if first != have {
			return &netError{fmt.Errorf("blobs: asked for bytes from %d, got from %d", have, first)}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return attachment.ErrCannotOpen // shorter than size
	default:
		return responseError(resp)
	}
	// The Decrypter reads the body straight into its buffers and refuses a
	// blob longer than size. Errors of the body are the network's; others
	// (ErrCannotOpen, writing the plaintext) are not worth a retry.
	_, err = d.ReadFrom(&progressReader{r: netReader{body}, done: have, total: size, phase: PhaseDownload, next: have + 1<<20, fn: report})
	if err != nil {
		return err
	}
	if d.Len() < size {
		return &netError{io.ErrUnexpectedEOF}
	}
	report(Progress{Phase: PhaseDownload, Done: size, Total: size})
	return nil
}

// netReader marks the errors of a response body as the network's.
type netReader struct{ r io.Reader }

func (n netReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && err != io.EOF {
		err = &netError{err}
	}
	return k, err
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

// writeBehind writes to f and, every writeBehindEvery bytes, starts the
// write-back of what it wrote since the last time (without waiting). It is
// plainFile's way where direct I/O is not available.
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
