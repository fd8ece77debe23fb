package blobapi

import (
	"fmt"
	"net/http"
	"time"
)

// Error is the body of every error answer, {"error": {"code", "message"}},
// the same envelope as the directory's (docs/api/directory.md), and the
// error the SDK returns for one. Code is stable and meant for programs;
// Message says what to do and may change.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Missing lists the chunk indexes the server still lacks, with
	// CodeChunksMissing.
	Missing []int `json:"missing,omitempty"`
	// Status is the HTTP status that carried the error (not in the JSON
	// body; the client fills it in).
	Status int `json:"-"`
	// RetryAfter is the server's Retry-After for CodeRateLimited.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return "blob store: " + e.Code + ": " + e.Message }

// ErrorBody is the JSON envelope of an error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Errorf returns an *Error with code and a formatted message; its Status
// comes from StatusOf(code).
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: StatusOf(code)}
}

// Stable error codes. Each is documented with its HTTP status in
// docs/api/blobs.md. Codes shared with the directory have the same
// spelling and status there.
const (
	// 400: the request itself is wrong.
	CodeMalformedJSON      = "malformed_json"       // body is not one JSON object of the documented shape
	CodeUnknownField       = "unknown_field"        // a field the endpoint does not know
	CodeDuplicateField     = "duplicate_field"      // the same field twice in one object
	CodeMissingField       = "missing_field"        // a required field is absent
	CodeInvalidSize        = "invalid_size"         // size is negative or not an integer
	CodeInvalidSignature   = "invalid_signature"    // signature is not 42 hex digits starting 81
	CodeInvalidChecksum    = "invalid_checksum"     // a chunk checksum is not 42 hex digits starting 01
	CodeChunkCountMismatch = "chunk_count_mismatch" // the checksum list does not fit the size (a size that lies)
	CodeInvalidBlobID      = "invalid_blob_id"      // not a blob id (48 lower-case hex digits)
	CodeInvalidChunkIndex  = "invalid_chunk_index"  // the chunk index is not a decimal number
	CodeChunkOutOfRange    = "chunk_out_of_range"   // no chunk with that index in the plan
	CodeChunkSizeMismatch  = "chunk_size_mismatch"  // the body is not the size the plan gives the chunk
	CodeIncompleteChunk    = "incomplete_chunk"     // the body ended before its Content-Length
	CodeInvalidRange       = "invalid_range"        // the Range header is malformed or asks for several ranges
	// 401: the signature headers do not prove who is asking.
	CodeUnsigned         = "unsigned"
	CodeBadSignatureHdrs = "malformed_signature"
	CodeStaleNonce       = "stale_nonce"
	CodeReplayedNonce    = "replayed_nonce"
	CodeBadSignature     = "bad_signature"
	CodeUnknownDevice    = "unknown_device"
	// 403
	CodeQuotaExceeded = "quota_exceeded" // the account's stored and pending bytes would pass its quota
	CodeNotOwner      = "not_owner"      // the blob belongs to another account
	// 404, 405
	CodeNotFound         = "not_found"        // no such blob (never stored, not complete, expired or deleted)
	CodeUploadNotFound   = "upload_not_found" // no such upload (never started, expired, aborted or refused)
	CodeMethodNotAllowed = "method_not_allowed"
	// 409: the request conflicts with the upload's state.
	CodeChunksMissing  = "chunks_missing"  // complete asked before every chunk arrived; see missing
	CodeUploadComplete = "upload_complete" // the upload is complete; chunks can no longer be sent
	// 411, 413, 416
	CodeLengthRequired      = "length_required"       // a chunk was sent without Content-Length
	CodeBodyTooLarge        = "body_too_large"        // a JSON body past the endpoint's limit
	CodeBlobTooLarge        = "blob_too_large"        // size is past the per-blob limit
	CodeRangeNotSatisfiable = "range_not_satisfiable" // the range starts at or past the end of the blob
	// 422: the bytes do not match what was declared.
	CodeChecksumMismatch  = "checksum_mismatch"  // a chunk does not match its checksum; it was not stored
	CodeSignatureMismatch = "signature_mismatch" // the whole blob does not match its signature; the upload is discarded
	// 429, 500
	CodeRateLimited = "rate_limited"
	CodeInternal    = "internal"
)

// StatusOf returns the HTTP status that goes with an error code.
func StatusOf(code string) int {
	switch code {
	case CodeUnsigned, CodeBadSignatureHdrs, CodeStaleNonce, CodeReplayedNonce,
		CodeBadSignature, CodeUnknownDevice:
		return http.StatusUnauthorized
	case CodeQuotaExceeded, CodeNotOwner:
		return http.StatusForbidden
	case CodeNotFound, CodeUploadNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeChunksMissing, CodeUploadComplete:
		return http.StatusConflict
	case CodeLengthRequired:
		return http.StatusLengthRequired
	case CodeBodyTooLarge, CodeBlobTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRangeNotSatisfiable:
		return http.StatusRequestedRangeNotSatisfiable
	case CodeChecksumMismatch, CodeSignatureMismatch:
		return http.StatusUnprocessableEntity
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// Codes lists every error code, for tests and documentation checks.
var Codes = []string{
	CodeMalformedJSON, CodeUnknownField, CodeDuplicateField, CodeMissingField, CodeInvalidSize,
	CodeInvalidSignature, CodeInvalidChecksum, CodeChunkCountMismatch, CodeInvalidBlobID,
	CodeInvalidChunkIndex, CodeChunkOutOfRange, CodeChunkSizeMismatch, CodeIncompleteChunk,
	CodeInvalidRange, CodeUnsigned, CodeBadSignatureHdrs, CodeStaleNonce, CodeReplayedNonce,
	CodeBadSignature, CodeUnknownDevice, CodeQuotaExceeded, CodeNotOwner, CodeNotFound,
	CodeUploadNotFound, CodeMethodNotAllowed, CodeChunksMissing, CodeUploadComplete,
	CodeLengthRequired, CodeBodyTooLarge, CodeBlobTooLarge, CodeRangeNotSatisfiable,
	CodeChecksumMismatch, CodeSignatureMismatch, CodeRateLimited, CodeInternal,
}
