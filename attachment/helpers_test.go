package attachment

import (
	"crypto/aes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// The reference computations below are written from protocol.md §3 without
// the package's code paths (no cipher.NewCTR, no package constants for the
// salt or the chunk size), so that the tests compare against an independent
// expectation.

const (
	refSalt      = "com.apple.XattrObjectSalt\x00com.apple.DataObjectSalt\x00"
	refChunkSize = 5242880
)

// refCTR is AES-256-CTR built from the raw block cipher: the counter block
// starts at sixteen zero bytes and is incremented as one big-endian 128-bit
// integer after every block.
func refCTR(t testing.TB, key Key, in []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	var ctr, ks [16]byte
	out := make([]byte, len(in))
	for off := 0; off < len(in); off += 16 {
		block.Encrypt(ks[:], ctr[:])
		for i := 0; i < 16 && off+i < len(in); i++ {
			out[off+i] = in[off+i] ^ ks[i]
		}
		for i := 15; i >= 0; i-- {
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
	return out
}

func refSignature(ct []byte) Signature {
	h := sha1.New()
	h.Write([]byte(refSalt))
	h.Write(ct)
	var s Signature
	s[0] = 0x81
	copy(s[1:], h.Sum(nil))
	return s
}

func refChunk(chunk []byte) ChunkChecksum {
	inner := sha256.Sum256(chunk)
	outer := sha256.Sum256(inner[:])
	var c ChunkChecksum
	c[0] = 0x01
	copy(c[1:], outer[:20])
	return c
}

func refChunks(ct []byte) []ChunkChecksum {
	var out []ChunkChecksum
	for off := 0; off < len(ct); off += refChunkSize {
		out = append(out, refChunk(ct[off:min(off+refChunkSize, len(ct))]))
	}
	return out
}

// testKey is 00 01 02 ... 1f.
func testKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// randomBytes returns n deterministic pseudo-random bytes (test data only).
func randomBytes(n int, seed uint64) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// countingWriter counts the bytes written to it and discards them.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// patternTable holds byte(i % 251) for i < 251*1024; the pattern at offset
// off continues at patternTable[off%251:].
var patternTable = pattern(251 * 1024)

// patternReader yields n bytes of byte(i % 251) without holding them.
type patternReader struct{ off, n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off, 250*1024)]
	copy(p, patternTable[r.off%251:])
	r.off += int64(len(p))
	return len(p), nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// errWriter fails after accepting limit bytes.
type errWriter struct {
	limit int
	err   error
}

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, w.err
	}
	w.limit -= len(p)
	return len(p), nil
}

var errTest = errors.New("test I/O error")

// modes runs f with helper goroutines allowed and forbidden.
func modes(t *testing.T, f func(t *testing.T, parallel bool)) {
	t.Run("parallel", func(t *testing.T) { f(t, true) })
	t.Run("sequential", func(t *testing.T) { f(t, false) })
}

func modeOptions(parallel bool) Options {
	if parallel {
		return Options{force: forceParallel}
	}
	return Options{force: forceSequential}
}

func refSHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
