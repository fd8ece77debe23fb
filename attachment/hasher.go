package attachment

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"io"
)

// Summary describes an encrypted file: what the sender puts in the message
// and in the upload request.
type Summary struct {
	// Signature is the mmcs-signature of the encrypted file.
	Signature Signature
	// Chunks are the checksums of the encrypted file's chunks in order:
	// chunk i covers bytes [i*ChunkSize, min((i+1)*ChunkSize, Size)). An
	// empty file has no chunks. Chunks is nil when the Encrypter was made
	// with Options.SkipChunkChecksums.
	Chunks []ChunkChecksum
	// Size is the size of the encrypted file, which is also the size of the
	// plaintext (CTR mode adds nothing).
	Size int64
}

// ChunkChecksum is the checksum of one chunk of an encrypted file:
// 0x01 ‖ the first 20 bytes of SHA-256(SHA-256(chunk)). Its text form is
// lower-case hex. A checksum is not secret.
type ChunkChecksum [ChunkChecksumSize]byte

// ChunkChecksumOf returns the checksum of chunk. It does not check the
// chunk's length; VerifyChunk does.
func ChunkChecksumOf(chunk []byte) ChunkChecksum {
	inner := sha256.Sum256(chunk)
	return chunkChecksumFromInner(&inner)
}

func chunkChecksumFromInner(inner *[sha256.Size]byte) ChunkChecksum {
	outer := sha256.Sum256(inner[:])
	var c ChunkChecksum
	c[0] = chunkChecksumID
	copy(c[1:], outer[:])
	return c
}

// VerifyChunk reports, with ErrCannotOpen, whether chunk is not a valid
// chunk with checksum want: it must hold 1 to ChunkSize bytes and match in
// constant time. It returns nil when the chunk is good.
func VerifyChunk(chunk []byte, want ChunkChecksum) error {
	return opaque(verifyChunk(chunk, want))
}

func verifyChunk(chunk []byte, want ChunkChecksum) error {
	v := NewChunkVerifier()
	v.Write(chunk)
	return v.verify(want)
}

// ChunkVerifier is VerifyChunk for a chunk that arrives in pieces: write
// each piece to it as it arrives, while it is still in the CPU's caches,
// then call Verify. Create one with NewChunkVerifier.
type ChunkVerifier struct {
	h hash.Hash // SHA-256 of the bytes so far
	n int64
}

// NewChunkVerifier returns a ChunkVerifier for an empty chunk.
func NewChunkVerifier() *ChunkVerifier { return &ChunkVerifier{h: sha256.New()} }

// Write absorbs the next piece of the chunk. It never returns an error.
func (v *ChunkVerifier) Write(p []byte) (int, error) {
	v.h.Write(p)
	v.n += int64(len(p))
	return len(p), nil
}

// Verify reports, with ErrCannotOpen, whether the bytes written are not a
// valid chunk with checksum want, as VerifyChunk does.
func (v *ChunkVerifier) Verify(want ChunkChecksum) error { return opaque(v.verify(want)) }

func (v *ChunkVerifier) verify(want ChunkChecksum) error {
	if v.n == 0 || v.n > ChunkSize {
		return failChunkSize
	}
	var inner [sha256.Size]byte
	v.h.Sum(inner[:0])
	if got := chunkChecksumFromInner(&inner); !got.Equal(want) {
		return failChunk
	}
	return nil
}

// Equal reports whether c and o are the same checksum, in constant time.
func (c ChunkChecksum) Equal(o ChunkChecksum) bool {
	return subtle.ConstantTimeCompare(c[:], o[:]) == 1
}

// String returns the hex form.
func (c ChunkChecksum) String() string { return hex.EncodeToString(c[:]) }

// MarshalText returns the hex form (lower case).
func (c ChunkChecksum) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, c[:]), nil }

// UnmarshalText parses 42 hex digits starting 01, upper or lower case
// (MarshalText writes lower case). On error c is left unchanged.
func (c *ChunkChecksum) UnmarshalText(b []byte) error {
	var raw ChunkChecksum
	if !decodePrefixed(raw[:], b, chunkChecksumID) {
		return errors.New("attachment: chunk checksum must be 42 hex digits starting 01")
	}
	*c = raw
	return nil
}

// chunkHasher computes the chunk checksums of a stream written to it.
type chunkHasher struct {
	h    hash.Hash // SHA-256 of the current chunk
	n    int       // bytes in the current chunk
	sums []ChunkChecksum
}

func newChunkHasher() *chunkHasher { return &chunkHasher{h: sha256.New()} }

func (c *chunkHasher) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), ChunkSize-c.n)
		c.h.Write(p[:k])
		c.n += k
		p = p[k:]
		if c.n == ChunkSize {
			c.sums = append(c.sums, c.current())
			c.h.Reset()
			c.n = 0
		}
	}
	return total, nil
}

// current returns the checksum of the bytes of the current chunk so far.
func (c *chunkHasher) current() ChunkChecksum {
	var inner [sha256.Size]byte
	c.h.Sum(inner[:0])
	return chunkChecksumFromInner(&inner)
}

// checksums returns the checksums of the stream so far, counting a partial
// last chunk; it does not change the state.
func (c *chunkHasher) checksums() []ChunkChecksum {
	out := make([]ChunkChecksum, len(c.sums), len(c.sums)+1)
	copy(out, c.sums)
	if c.n > 0 {
		out = append(out, c.current())
	}
	return out
}

// newSignatureHash returns a SHA-1 that has absorbed the salt.
func newSignatureHash() hash.Hash {
	h := sha1.New()
	io.WriteString(h, signatureSalt)
	return h
}

func signatureOf(h hash.Hash) Signature {
	var s Signature
	s[0] = signatureType
	h.Sum(s[1:1])
	return s
}

// Hasher computes the Summary (signature and chunk checksums) of an
// encrypted stream written to it, for example by a blob store that checks
// an upload against the summary the uploader claimed. It holds no plaintext
// and no key. A Hasher is not safe for concurrent use.
type Hasher struct {
	sig    hash.Hash
	chunks *chunkHasher
	size   int64
}

// NewHasher returns a Hasher for an empty stream.
func NewHasher() *Hasher { return NewHasherOptions(Options{}) }

// NewHasherOptions is NewHasher with options: with SkipChunkChecksums the
// Hasher computes the signature only (one SHA-1 pass), and Sum leaves
// Chunks nil.
func NewHasherOptions(opts Options) *Hasher {
	h := &Hasher{sig: newSignatureHash()}
	if !opts.SkipChunkChecksums {
		h.chunks = newChunkHasher()
	}
	return h
}

// Write absorbs more of the encrypted stream. It never returns an error.
func (h *Hasher) Write(p []byte) (int, error) {
	h.sig.Write(p)
	if h.chunks != nil {
		h.chunks.Write(p)
	}
	h.size += int64(len(p))
	return len(p), nil
}

// Sum returns the summary of everything written so far. It does not change
// the Hasher's state; more can be written afterwards.
func (h *Hasher) Sum() Summary {
	s := Summary{Signature: signatureOf(h.sig), Size: h.size}
	if h.chunks != nil {
		s.Chunks = h.chunks.checksums()
	}
	return s
}
