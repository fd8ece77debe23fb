package blobs

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/directio"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Register adds the blob store's routes to mux:
//
//	POST   /v1/blobs                          start an upload          (signed by a registered device)
//	GET    /v1/blobs/{id}                     download, Range allowed  (anyone with the URI)
//	HEAD   /v1/blobs/{id}                     size and signature
//	DELETE /v1/blobs/{id}                     remove early             (signed by a device of the owner)
//	GET    /v1/uploads/{token}                upload status: which chunks arrived
//	PUT    /v1/uploads/{token}/chunks/{index} one chunk
//	POST   /v1/uploads/{token}/complete       check the whole blob, make it readable
//	DELETE /v1/uploads/{token}                abort
//
// Other methods on these paths get a JSON 405.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+blobapi.PathBlobs, s.handleCreate)
	mux.HandleFunc("GET "+blobapi.PathBlobs+"/{id}", s.handleGet)
	mux.HandleFunc("HEAD "+blobapi.PathBlobs+"/{id}", s.handleGet)
	mux.HandleFunc("DELETE "+blobapi.PathBlobs+"/{id}", s.handleDelete)
	mux.HandleFunc("GET "+blobapi.PathUploads+"{token}", s.handleStatus)
	mux.HandleFunc("DELETE "+blobapi.PathUploads+"{token}", s.handleAbort)
	mux.HandleFunc("PUT "+blobapi.PathUploads+"{token}/chunks/{index}", s.handleChunk)
	mux.HandleFunc("POST "+blobapi.PathUploads+"{token}/complete", s.handleComplete)
	for path, allow := range map[string]string{
		blobapi.PathBlobs:                              "POST",
		blobapi.PathBlobs + "/{id}":                    "GET, HEAD, DELETE",
		blobapi.PathUploads + "{token}":                "GET, DELETE",
		blobapi.PathUploads + "{token}/chunks/{index}": "PUT",
		blobapi.PathUploads + "{token}/complete":       "POST",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeErr(w, blobapi.Errorf(blobapi.CodeMethodNotAllowed, "%s takes %s", r.URL.Path, allow))
		})
	}
}

// Handler returns a mux with only the blob store's routes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErr(w, blobapi.Errorf(blobapi.CodeInternal, "could not encode the answer"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func writeErr(w http.ResponseWriter, e *blobapi.Error) {
	if e.Code == blobapi.CodeRateLimited && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(e.RetryAfter))
	}
	b, _ := json.Marshal(blobapi.ErrorBody{Error: e})
	h := w.Header()
	h.Del("Content-Length")
	if e.Code != blobapi.CodeRangeNotSatisfiable {
		h.Del("Content-Range")
	}
	h.Del("ETag")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(blobapi.StatusOf(e.Code))
	w.Write(b)
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	s.log.Error("blobs: "+what, "path", redactPath(r.URL.Path), "err", err)
	writeErr(w, blobapi.Errorf(blobapi.CodeInternal, "the blob store could not %s; try again later", what))
}

// redactPath keeps upload tokens (credentials) out of logs.
func redactPath(p string) string {
	if rest, ok := strings.CutPrefix(p, blobapi.PathUploads); ok {
		_, tail, _ := strings.Cut(rest, "/")
		return blobapi.PathUploads + "…/" + tail
	}
	return p
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "addr:" + r.RemoteAddr
	}
	return "addr:" + host
}

func limited(l *ratelimit.Limiter, key string) *blobapi.Error {
	if ok, wait := l.Allow(key); !ok {
		e := blobapi.Errorf(blobapi.CodeRateLimited, "too many requests; retry after %s seconds", ratelimit.RetryAfter(wait))
		e.RetryAfter = wait
		return e
	}
	return nil
}

// readBody reads at most limit bytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *blobapi.Error) {
	if r.ContentLength > limit {
		return nil, blobapi.Errorf(blobapi.CodeBodyTooLarge, "body is %d bytes; this endpoint takes at most %d", r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, blobapi.Errorf(blobapi.CodeBodyTooLarge, "body is larger than %d bytes, the limit of this endpoint", limit)
		}
		return nil, blobapi.Errorf(blobapi.CodeMalformedJSON, "could not read the body")
	}
	return b, nil
}

// authenticate verifies a signed request and returns the device's key id.
func (s *Service) authenticate(r *http.Request, body []byte) (string, *blobapi.Error) {
	var keyErr error
	keyFor := func(keyID string) (*ecdsa.PublicKey, error) {
		k, err := s.devices.SigningKey(keyID)
		if err != nil && !errors.Is(err, reqsign.ErrUnknown) && !errors.Is(err, reqsign.ErrMalformed) {
			keyErr = err
		}
		return k, err
	}
	id, err := s.verifier.Verify(r, body, keyFor)
	switch {
	case err == nil:
		return id, nil
	case keyErr != nil:
		s.log.Error("blobs: resolving a signing key", "err", keyErr)
		return "", blobapi.Errorf(blobapi.CodeInternal, "the blob store could not check the signature; try again later")
	case errors.Is(err, reqsign.ErrMissing):
		return "", blobapi.Errorf(blobapi.CodeUnsigned, "%s", err.Error())
	case errors.Is(err, reqsign.ErrMalformed):
		return "", blobapi.Errorf(blobapi.CodeBadSignatureHdrs, "%s", err.Error())
	case errors.Is(err, reqsign.ErrStale):
		return "", blobapi.Errorf(blobapi.CodeStaleNonce, "%s", err.Error())
	case errors.Is(err, reqsign.ErrReplayed):
		return "", blobapi.Errorf(blobapi.CodeReplayedNonce, "%s; sign every request with a fresh nonce", err.Error())
	case errors.Is(err, reqsign.ErrBadSig):
		return "", blobapi.Errorf(blobapi.CodeBadSignature, "%s", err.Error())
	default:
		return "", blobapi.Errorf(blobapi.CodeUnknownDevice, "%s; register the device with the directory first", reqsign.ErrUnknown.Error())
	}
}

// signedCaller runs the checks of a signed request: the address limit,
// the body, the signature, the device limit and the device's account.
func (s *Service) signedCaller(w http.ResponseWriter, r *http.Request, bodyLimit int64) (device, account string, body []byte, ok bool) {
	if e := limited(s.createAddrLim, clientAddr(r)); e != nil {
		writeErr(w, e)
		return "", "", nil, false
	}
	body, e := readBody(w, r, bodyLimit)
	if e != nil {
		writeErr(w, e)
		return "", "", nil, false
	}
	device, e = s.authenticate(r, body)
	if e != nil {
		writeErr(w, e)
		return "", "", nil, false
	}
	if e := limited(s.createLim, "dev:"+device); e != nil {
		writeErr(w, e)
		return "", "", nil, false
	}
	account, err := s.devices.Account(r.Context(), device)
	if errors.Is(err, reqsign.ErrUnknown) {
		writeErr(w, blobapi.Errorf(blobapi.CodeUnknownDevice, "the device was removed from the directory"))
		return "", "", nil, false
	}
	if err != nil {
		s.internal(w, r, "look up the device's account", err)
		return "", "", nil, false
	}
	return device, account, body, true
}

func (s *Service) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	if r.TLS == nil {
		return "http://" + r.Host // tests and plain-HTTP front ends
	}
	return "https://" + r.Host
}

func blobURI(base, id string) string { return base + blobapi.PathBlobs + "/" + id }

func (s *Service) plan(r *record, token string, have []int) *blobapi.Upload {
	up := &blobapi.Upload{
		ID: r.ID, URI: blobURI(r.BaseURL, r.ID), Size: r.Size, Signature: r.Signature,
		ChunkSize: blobapi.ChunkSize, Chunks: make([]blobapi.ChunkPlan, len(r.Chunks)),
		Parallel: cap(s.bufs), State: r.State, Expires: r.Expires,
	}
	if token != "" {
		up.UploadURL = r.BaseURL + blobapi.PathUploads + token
	}
	j := 0
	for i, c := range r.Chunks {
		off, n := blobapi.ChunkBounds(i, r.Size)
		for j < len(have) && have[j] < i {
			j++
		}
		up.Chunks[i] = blobapi.ChunkPlan{Index: i, Offset: off, Size: n, Checksum: c, Received: j < len(have) && have[j] == i}
	}
	return up
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	limit := int64(createBodySlack + blobapi.NumChunks(s.maxSize)*checksumJSONSize)
	device, account, body, ok := s.signedCaller(w, r, limit)
	if !ok {
		return
	}
	req, e := blobapi.DecodeCreate(body, s.maxSize)
	if e != nil {
		writeErr(w, e)
		return
	}
	rec, token, err := s.create(r.Context(), device, account, s.base(r), req)
	var q errQuota
	if errors.As(err, &q) {
		writeErr(w, blobapi.Errorf(blobapi.CodeQuotaExceeded, "%s; wait for old blobs to expire or delete some", q.Error()))
		return
	}
	if err != nil {
		s.internal(w, r, "start the upload", err)
		return
	}
	tok := blobapi.EncodeToken(token)
	w.Header().Set("Location", rec.BaseURL+blobapi.PathUploads+tok)
	writeJSON(w, http.StatusCreated, s.plan(rec, tok, nil))
}

// uploadOf finds the upload of the request's {token}; on failure it has
// written the error.
func (s *Service) uploadOf(w http.ResponseWriter, r *http.Request) (*record, bool) {
	if e := limited(s.addrLim, clientAddr(r)); e != nil {
		writeErr(w, e)
		return nil, false
	}
	token, e := blobapi.ParseToken(r.PathValue("token"))
	if e != nil {
		writeErr(w, e)
		return nil, false
	}
	rec, err := s.upload(r.Context(), token)
	if errors.Is(err, storage.ErrNotFound) {
		writeErr(w, blobapi.Errorf(blobapi.CodeUploadNotFound, "no such upload; it may have expired, been aborted or been refused"))
		return nil, false
	}
	if err != nil {
		s.internal(w, r, "find the upload", err)
		return nil, false
	}
	return rec, true
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.uploadOf(w, r)
	if !ok {
		return
	}
	have, err := s.received(r.Context(), rec)
	if errors.Is(err, storage.ErrNotFound) {
		// Completed or aborted meanwhile: look again.
		if rec, ok = s.uploadOf(w, r); !ok {
			return
		}
		have, err = s.received(r.Context(), rec)
	}
	if err != nil {
		s.internal(w, r, "list the chunks received", err)
		return
	}
	writeJSON(w, http.StatusOK, s.plan(rec, r.PathValue("token"), have))
}

func (s *Service) handleChunk(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.uploadOf(w, r)
	if !ok {
		return
	}
	if rec.State != blobapi.StateUploading {
		writeErr(w, blobapi.Errorf(blobapi.CodeUploadComplete, "the upload is complete; its blob is at %s", blobURI(rec.BaseURL, rec.ID)))
		return
	}
	index, e := blobapi.ParseChunkIndex(r.PathValue("index"))
	if e != nil {
		writeErr(w, e)
		return
	}
	if index >= len(rec.Chunks) {
		writeErr(w, blobapi.Errorf(blobapi.CodeChunkOutOfRange, "chunk %d: the upload has chunks 0 to %d", index, len(rec.Chunks)-1))
		return
	}
	_, n := blobapi.ChunkBounds(index, rec.Size)
	switch {
	case r.ContentLength < 0:
		writeErr(w, blobapi.Errorf(blobapi.CodeLengthRequired, "send Content-Length: %d with chunk %d", n, index))
		return
	case r.ContentLength != n:
		writeErr(w, blobapi.Errorf(blobapi.CodeChunkSizeMismatch, "chunk %d has %d bytes in the plan; the request has %d", index, n, r.ContentLength))
		return
	}
	// Receive the whole chunk into a buffer, checksumming each piece as it
	// arrives, check it, and only then store it: a chunk that does not
	// match never reaches the store, and an earlier good copy stays.
	var buf []byte
	select {
	case buf = <-s.bufs:
	case <-r.Context().Done():
		return
	}
	defer func() { s.bufs <- buf }()
	if buf == nil {
		buf = directio.Alloc(blobapi.ChunkSize) // aligned: the file store writes it as it is
	}
	chunk := buf[:n]
	defer s.receivingChunk(rec.ID, index)()
	v := attachment.NewChunkVerifier()
	if _, err := io.ReadFull(io.TeeReader(r.Body, v), chunk); err != nil {
		writeErr(w, blobapi.Errorf(blobapi.CodeIncompleteChunk, "chunk %d: the body ended before its %d bytes; send the chunk again", index, n))
		return
	}
	if err := v.Verify(rec.Chunks[index]); err != nil {
		writeErr(w, blobapi.Errorf(blobapi.CodeChecksumMismatch, "chunk %d does not match its checksum %s; it was not stored", index, rec.Chunks[index]))
		return
	}
	// Checked: store it, even if the client goes away now, so that a
	// resumed upload finds it; meanwhile it joins the signature's hash, in
	// chunk order, while it is in memory, so that complete need not read it
	// back. Both only read the buffer, which is released when both are
	// done.
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		s.hashInOrder(r.Context(), rec.ID, index, chunk)
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	err := s.store.PutChunk(ctx, rec.ID, rec.Handle, index, chunk)
	<-hashed
	if errors.Is(err, storage.ErrNotFound) {
		// Completed, aborted or expired while the chunk was arriving (here
		// or on another node): look again, past the cache.
		s.forget(rec.Token)
		if rec, ok = s.uploadOf(w, r); ok {
			writeErr(w, blobapi.Errorf(blobapi.CodeUploadComplete, "the upload is complete; its blob is at %s", blobURI(rec.BaseURL, rec.ID)))
		}
		return
	}
	if err != nil {
		s.internal(w, r, "store the chunk", err)
		return
	}
	writeJSON(w, http.StatusOK, blobapi.ChunkReceipt{Index: index, Size: n})
}

func (s *Service) handleComplete(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.uploadOf(w, r)
	if !ok {
		return
	}
	done, err := s.complete(r.Context(), rec)
	var m errMissing
	switch {
	case errors.As(err, &m):
		e := blobapi.Errorf(blobapi.CodeChunksMissing, "%d of %d chunks have not arrived; send them, then complete again", len(m.missing), len(rec.Chunks))
		e.Missing = m.missing[:min(len(m.missing), maxMissingListed)]
		writeErr(w, e)
		return
	case errors.Is(err, errSignature):
		writeErr(w, blobapi.Errorf(blobapi.CodeSignatureMismatch, "the blob does not match its signature %s; the upload was discarded", rec.Signature))
		return
	case errors.Is(err, storage.ErrNotFound):
		writeErr(w, blobapi.Errorf(blobapi.CodeUploadNotFound, "no such upload; it may have expired, been aborted or been refused"))
		return
	case err != nil:
		s.internal(w, r, "complete the upload", err)
		return
	}
	writeJSON(w, http.StatusOK, blobapi.Blob{ID: done.ID, URI: blobURI(done.BaseURL, done.ID), Size: done.Size, Signature: done.Signature, Expires: done.Expires})
}

func (s *Service) handleAbort(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.uploadOf(w, r)
	if !ok {
		return
	}
	if rec.State != blobapi.StateUploading {
		writeErr(w, blobapi.Errorf(blobapi.CodeUploadComplete, "the upload is complete; delete the blob with a signed DELETE %s/%s", blobapi.PathBlobs, rec.ID))
		return
	}
	if err := s.remove(r.Context(), rec); err != nil {
		s.internal(w, r, "abort the upload", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	_, account, _, ok := s.signedCaller(w, r, 0)
	if !ok {
		return
	}
	id, e := blobapi.ParseID(r.PathValue("id"))
	if e != nil {
		writeErr(w, e)
		return
	}
	rec, err := s.getRecord(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		writeErr(w, blobapi.Errorf(blobapi.CodeNotFound, "no such blob"))
		return
	}
	if err != nil {
		s.internal(w, r, "find the blob", err)
		return
	}
	if rec.Account != accountKey(account) {
		writeErr(w, blobapi.Errorf(blobapi.CodeNotOwner, "the blob belongs to another account"))
		return
	}
	if err := s.remove(r.Context(), rec); err != nil {
		s.internal(w, r, "delete the blob", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleGet serves a complete blob, whole or one byte range, streamed from
// the store (or by a redirect to a presigned URL of it).
func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	if e := limited(s.addrLim, clientAddr(r)); e != nil {
		writeErr(w, e)
		return
	}
	id, e := blobapi.ParseID(r.PathValue("id"))
	if e != nil {
		writeErr(w, e)
		return
	}
	rec, err := s.getRecord(r.Context(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.internal(w, r, "find the blob", err)
		return
	}
	if err != nil || rec.State != blobapi.StateComplete || !s.now().Before(rec.Expires) {
		writeErr(w, blobapi.Errorf(blobapi.CodeNotFound, "no such blob; it may have expired or been deleted"))
		return
	}
	sig := rec.Signature.String()
	etag := `"` + sig + `"`
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", etag)
	h.Set(blobapi.HeaderSignature, sig)
	h.Set(blobapi.HeaderExpires, rec.Expires.Format(time.RFC3339))
	rangeHdr := r.Header.Get("Range")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		rangeHdr = "" // the client's copy is of another blob: send it whole
	}
	off, n, partial, e := blobapi.ParseRange(rangeHdr, rec.Size)
	if e != nil {
		if e.Code == blobapi.CodeRangeNotSatisfiable {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", rec.Size))
		}
		writeErr(w, e)
		return
	}
	if s.presign != nil && r.Method == http.MethodGet {
		u, err := s.presign.PresignGet(r.Context(), rec.ID, presignTTL)
		if err != nil {
			s.internal(w, r, "presign the download", err)
			return
		}
		h.Set("Cache-Control", "no-store")
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private, immutable")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, rec.Size))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	body, err := s.store.Open(r.Context(), rec.ID, off, n)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) { // deleted meanwhile
			writeErr(w, blobapi.Errorf(blobapi.CodeNotFound, "no such blob; it may have expired or been deleted"))
			return
		}
		s.internal(w, r, "read the blob", err)
		return
	}
	defer body.Close()
	w.WriteHeader(status)
	if _, err := io.Copy(w, body); err != nil {
		if !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
			s.log.Error("blobs: serving a blob", logID(rec.ID), "err", err)
		}
		// The status is sent: end the connection so the client sees a
		// truncated body, never a short one that looks whole.
		panic(http.ErrAbortHandler)
	}
}
