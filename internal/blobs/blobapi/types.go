package blobapi

import (
	"time"

	"github.com/sealpost/sealpost/attachment"
)

// Paths of the blob store's HTTP API (docs/api/blobs.md).
const (
	// PathBlobs takes POST (start an upload, signed); PathBlobs+"/{id}"
	// takes GET and HEAD (anyone with the URI) and DELETE (signed by a
	// device of the owning account).
	PathBlobs = "/v1/blobs"
	// PathUploads+"{token}" takes GET (status) and DELETE (abort);
	// PathUploads+"{token}/chunks/{index}" takes PUT (one chunk);
	// PathUploads+"{token}/complete" takes POST.
	PathUploads = "/v1/uploads/"
)

// Sizes of the identifiers.
const (
	// IDSize is the number of random bytes in a blob id; its text form is
	// 2*IDSize lower-case hex digits. 192 bits: a URI cannot be guessed.
	IDSize = 24
	// TokenSize is the number of random bytes in an upload token; its text
	// form is unpadded base64url (43 characters). The token is the upload's
	// credential: whoever holds the upload URL can send its chunks.
	TokenSize = 32
	// ChunkSize is the size of every chunk but the last: the MMCS chunk
	// size, so a chunk's checksum is its attachment.ChunkChecksum.
	ChunkSize = attachment.ChunkSize
)

// Header names beyond the signature headers of internal/reqsign.
const (
	// HeaderSignature carries the blob's mmcs-signature (hex) on downloads.
	HeaderSignature = "X-Sealpost-Blob-Signature"
	// HeaderExpires carries the blob's expiry time (RFC 3339) on downloads.
	HeaderExpires = "X-Sealpost-Blob-Expires"
)

// Upload states.
const (
	StateUploading = "uploading"
	StateComplete  = "complete"
)

// CreateRequest is the body of POST /v1/blobs: the encrypted object the
// device is about to upload. Chunks lists the checksum of every chunk in
// order (attachment.Summary.Chunks): NumChunks(Size) of them.
type CreateRequest struct {
	Size      int64                      `json:"size"`
	Signature attachment.Signature       `json:"signature"`
	Chunks    []attachment.ChunkChecksum `json:"chunks"`
}

// ChunkPlan is one chunk of an upload plan.
type ChunkPlan struct {
	Index    int                      `json:"index"`
	Offset   int64                    `json:"offset"`
	Size     int64                    `json:"size"`
	Checksum attachment.ChunkChecksum `json:"checksum"`
	// Received is true once the server holds this chunk, checked.
	Received bool `json:"received"`
}

// Upload is the answer to POST /v1/blobs (201) and GET /v1/uploads/{token}:
// the blob's URI, where to send the chunks, and which have arrived.
type Upload struct {
	// ID is the blob id; URI is where the blob can be downloaded once the
	// upload is complete. The URI is what goes into the message
	// (message.Attachment.URL).
	ID  string `json:"id"`
	URI string `json:"uri"`
	// UploadURL is the upload's own address; it carries the credential to
	// send chunks, so keep it as secret as the upload.
	UploadURL string               `json:"upload_url"`
	Size      int64                `json:"size"`
	Signature attachment.Signature `json:"signature"`
	ChunkSize int64                `json:"chunk_size"`
	Chunks    []ChunkPlan          `json:"chunks"`
	// Parallel is how many chunks the server takes in at once: sending
	// more at once gains nothing, and lets a later chunk overtake the one
	// the signature's hash waits for. 0 (an older server): no advice.
	Parallel int `json:"parallel,omitempty"`
	// State is StateUploading or StateComplete.
	State string `json:"state"`
	// Expires is when an unfinished upload is discarded, or, once
	// complete, when the blob is.
	Expires time.Time `json:"expires"`
}

// ChunkReceipt answers PUT /v1/uploads/{token}/chunks/{index}: the chunk
// is stored, checked and durable. (GET /v1/uploads/{token} lists them all.)
type ChunkReceipt struct {
	Index int   `json:"index"`
	Size  int64 `json:"size"`
}

// Blob answers POST /v1/uploads/{token}/complete: the blob is stored,
// checked and readable at URI until Expires.
type Blob struct {
	ID        string               `json:"id"`
	URI       string               `json:"uri"`
	Size      int64                `json:"size"`
	Signature attachment.Signature `json:"signature"`
	Expires   time.Time            `json:"expires"`
}

// NumChunks is the number of chunks of a blob of size bytes: an empty blob
// has none, and every chunk but the last holds ChunkSize bytes.
func NumChunks(size int64) int {
	if size <= 0 {
		return 0
	}
	return int((size + ChunkSize - 1) / ChunkSize)
}

// ChunkBounds returns the offset and length of chunk index of a blob of
// size bytes. index must be in [0, NumChunks(size)).
func ChunkBounds(index int, size int64) (off, n int64) {
	off = int64(index) * ChunkSize
	return off, min(ChunkSize, size-off)
}
