// Package storage is the blob store's storage interface: the bytes of blobs
// (received chunk by chunk, then committed as one object) and small records
// (the blob service's metadata). Backends: fs (files in the data folder,
// the default) and s3 (any S3-compatible object store). One conformance
// suite, storagetest, runs against both.
//
// The service on top (internal/blobs) decides what is readable: it serves
// an object only after its record says the whole object was checked
// against its signature. So a backend may hold an object that is committed
// but not yet checked; it must never hold a chunk or an object that is
// partially written.
//
// Only the server links the backends; the client SDK never imports this
// package.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of every backend. Backends wrap them; test with errors.Is.
var (
	// ErrNotFound: no such object, upload or record.
	ErrNotFound = errors.New("storage: not found")
	// ErrIncomplete: Commit was asked for an upload that lacks a chunk, or
	// holds one of the wrong size.
	ErrIncomplete = errors.New("storage: upload lacks a chunk")
	// ErrInvalidKey: a record key or id that the contract does not allow.
	ErrInvalidKey = errors.New("storage: invalid key")
)

// ChunkSize is the size of every chunk of an object but the last (the MMCS
// chunk size, 5 MiB, which is also S3's smallest multipart part).
const ChunkSize = 5 << 20

// Store keeps blobs and records. Implementations are safe for concurrent
// use.
//
// # Identifiers and keys
//
// Blob ids are 1 to 128 characters of [a-z0-9] (the service uses 48 hex
// digits). Record keys are 1 to 512 bytes: non-empty segments of
// [a-z0-9_] separated by single slashes; no key is a leading run of
// segments of another ("a/b" and "a/b/c" do not both exist; the fs backend
// cannot hold both). Anything else is refused with ErrInvalidKey.
//
// # Uploads
//
// An object is written in chunks: BeginUpload, then PutChunk for chunks 0
// to n-1 in any order, any number of times, possibly concurrently, then
// Commit (or AbortUpload). Chunk i covers bytes [i*ChunkSize,
// min((i+1)*ChunkSize, size)); every chunk but the last has exactly
// ChunkSize bytes, so n = ceil(size/ChunkSize) and an empty object has no
// chunks.
//
// # Objects
//
// After Commit the object can be read with Open until Delete. Objects are
// immutable: a second upload for the same id is a caller error (the
// service never reuses ids).
//
// # Records
//
// Records are small values (at most 1 MiB) replaced whole and atomically:
// a reader sees the old value or the new one, never a mix. There is no
// transaction across records; the service orders its writes so that a
// crash between two of them leaves nothing readable that should not be.
type Store interface {
	// BeginUpload prepares to receive the chunks of object id, size bytes
	// long. It returns a handle (opaque, at most 1024 bytes) that the
	// caller keeps and passes to the other upload methods; it may be
	// empty.
	BeginUpload(ctx context.Context, id string, size int64) (handle string, err error)

	// PutChunk stores data (1 to ChunkSize bytes, the length of the chunk
	// in the plan, which the caller checks) as chunk index of the upload.
	// It does not keep data after it returns. It is atomic: if it fails,
	// or ctx ends, the chunk stored before (if any) is unchanged;
	// otherwise the new chunk replaces it whole. When PutChunk returns nil
	// the chunk is durable. Concurrent PutChunk calls for the same chunk
	// leave one of them whole. ErrNotFound if the upload was never begun,
	// or was committed or aborted. Data that starts at a multiple of
	// directio.Align is written fastest by the file backend.
	PutChunk(ctx context.Context, id, handle string, index int, data []byte) error

	// Chunks returns the indexes of the chunks stored for the upload, in
	// ascending order, each once. ErrNotFound as for PutChunk.
	Chunks(ctx context.Context, id, handle string) ([]int, error)

	// Commit makes the upload's chunks 0 to ceil(size/ChunkSize)-1, in
	// order, the object id, atomically and durably: before Commit returns
	// nil, Open finds nothing; after, it reads all size bytes. It returns
	// ErrIncomplete (and changes nothing) if a chunk is missing or has the
	// wrong length. Committing an upload that was already committed returns
	// nil if the object exists.
	Commit(ctx context.Context, id, handle string, size int64) error

	// AbortUpload discards an upload and its chunks. It returns nil if
	// there is no such upload (idempotent).
	AbortUpload(ctx context.Context, id, handle string) error

	// Open returns a reader of bytes [off, off+n) of object id. The
	// caller must close it. 0 <= off, 0 <= n and off+n <= the object's size
	// are the caller's to ensure; a backend may refuse other ranges.
	// ErrNotFound if there is no such object. Readers are streamed: they
	// hold a bounded buffer whatever n is.
	Open(ctx context.Context, id string, off, n int64) (io.ReadCloser, error)

	// Delete removes object id and frees its space. It returns nil if
	// there is no such object (idempotent).
	Delete(ctx context.Context, id string) error

	// PutRecord sets key to value, atomically and durably.
	PutRecord(ctx context.Context, key string, value []byte) error

	// GetRecord returns the value of key, or ErrNotFound.
	GetRecord(ctx context.Context, key string) ([]byte, error)

	// DeleteRecord removes key. It returns nil if there is no such record.
	DeleteRecord(ctx context.Context, key string) error

	// ListRecords calls fn with every key that starts with prefix, in
	// ascending byte order (which, with the characters keys may use, is
	// also the order of a depth-first walk of their segments), until fn returns an error (which ListRecords
	// returns; ErrStop ends the walk with nil). prefix is "" or ends with
	// "/". Records put or deleted during the walk may or may not be seen.
	ListRecords(ctx context.Context, prefix string, fn func(key string) error) error

	// Close releases the backend's resources. Uploads and objects stay.
	Close() error
}

// ErrStop, returned by a ListRecords callback, ends the walk without error.
var ErrStop = errors.New("storage: stop listing")

// Presigner is implemented by backends that can hand out a time-limited
// URL from which anyone can GET an object (with an optional Range header)
// without going through the server.
type Presigner interface {
	PresignGet(ctx context.Context, id string, ttl time.Duration) (string, error)
}

// ValidID reports whether id is a valid blob id for a Store.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// ValidKey reports whether key is a valid record key for a Store.
func ValidKey(key string) bool {
	if len(key) == 0 || len(key) > 512 {
		return false
	}
	seg := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			s := key[seg:i]
			if s == "" {
				return false
			}
			seg = i + 1
			continue
		}
		if c := key[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// ValidPrefix reports whether prefix is a valid ListRecords prefix.
func ValidPrefix(prefix string) bool {
	return prefix == "" || (prefix[len(prefix)-1] == '/' && ValidKey(prefix[:len(prefix)-1]))
}

// NumChunks is the number of chunks of an object of size bytes.
func NumChunks(size int64) int {
	if size <= 0 {
		return 0
	}
	return int((size + ChunkSize - 1) / ChunkSize)
}

// ChunkLen is the length of chunk index of an object of size bytes.
func ChunkLen(index int, size int64) int64 {
	return min(ChunkSize, size-int64(index)*ChunkSize)
}
