// Package blobapi is the wire side of the Sealpost blob store: the JSON
// request and response types of its HTTP API, the stable error codes, and
// the strict decoders the server uses for bodies, path segments and the
// Range header. The API is described in docs/api/blobs.md, with one example
// per call; the client side is in client/blobs.
//
// It imports no storage and no server code, so the client SDK can use it
// without linking a storage backend.
//
// Identifiers: a blob id is IDSize random bytes in lower-case hex (the last
// segment of the blob's URI); an upload token is TokenSize random bytes in
// unpadded base64url (the credential in the upload URL).
//
// Decoders ([DecodeCreate], [ParseID], [ParseToken], [ParseChunkIndex],
// [ParseRange]) return an [*Error] with a code from [Codes] for every input
// they refuse and never panic (fuzzed). Everything here is safe for
// concurrent use.
package blobapi
