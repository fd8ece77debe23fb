package attachment

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checksumsHex(cs []ChunkChecksum) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

// Frozen vectors. They were computed once outside Go, with
// `openssl enc -aes-256-ctr -K 000102…1f -iv 00…00` for the ciphertext and
// Python's hashlib for the SHA-1 and SHA-256 values, and frozen here.
func TestFrozenVectorSmall(t *testing.T) {
	pt := []byte("The quick brown fox jumps over the lazy dog.")
	wantCT := mustHex(t, "a6f865965b3cf6b3c2d3f818b25919a096320e8e20ccf295d5d6f4472db0164966d995b2d456fa9d6cc7ce1b")
	const wantSig = "81b54cbab8ecd32f5567124dc279392f06be96989d"
	const wantChunk = "01e5e15a5f8d4d42908b71648af128f4e439ec71da"

	var ct bytes.Buffer
	sum, err := Encrypt(&ct, bytes.NewReader(pt), testKey())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ct.Bytes(), wantCT) {
		t.Fatalf("ciphertext\n got %x\nwant %x", ct.Bytes(), wantCT)
	}
	if sum.Signature.String() != wantSig {
		t.Fatalf("signature %s, want %s", sum.Signature, wantSig)
	}
	if got := checksumsHex(sum.Chunks); !slices.Equal(got, []string{wantChunk}) {
		t.Fatalf("chunks %v, want [%s]", got, wantChunk)
	}
	if sum.Size != int64(len(pt)) {
		t.Fatalf("size %d", sum.Size)
	}
	var out bytes.Buffer
	if err := Decrypt(&out, bytes.NewReader(wantCT), int64(len(wantCT)), testKey(), sum.Signature); err != nil || !bytes.Equal(out.Bytes(), pt) {
		t.Fatalf("Decrypt = %q, %v", out.Bytes(), err)
	}
}

func TestFrozenVectorEmpty(t *testing.T) {
	var ct bytes.Buffer
	sum, err := Encrypt(&ct, bytes.NewReader(nil), testKey())
	if err != nil {
		t.Fatal(err)
	}
	// 81 ‖ SHA-1(salt), from Python's hashlib.
	if got := sum.Signature.String(); got != "816d9c593d8fc735a2c4c2aeb8d3131c9f02277b07" {
		t.Fatalf("empty signature %s", got)
	}
	if ct.Len() != 0 || len(sum.Chunks) != 0 || sum.Chunks == nil || sum.Size != 0 {
		t.Fatalf("empty file: %d bytes, chunks %v (nil %v), size %d", ct.Len(), sum.Chunks, sum.Chunks == nil, sum.Size)
	}
}

// Three chunks, the last of 3 bytes; plaintext byte i is i mod 251. The
// SHA-256 of the whole ciphertext (openssl) checks the stream without
// freezing 10 MiB.
func TestFrozenVectorLarge(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		n := 2*refChunkSize + 3
		ct := new(bytes.Buffer)
		e := NewEncrypterOptions(ct, testKey(), modeOptions(parallel))
		if _, err := e.ReadFrom(&patternReader{n: int64(n)}); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		sum := e.Sum()
		if got := sum.Signature.String(); got != "81e6e8edd0b2e2ac40548f2d90a475228da49947ba" {
			t.Errorf("signature %s", got)
		}
		want := []string{
			"01ac473793bbc431b333ed86d094479c55842088d2",
			"018dbc941e9ffdcc4b72e4f22755367629cb39fcd8",
			"01a890c4e490110b8558150a8e8082c91ffce4a597",
		}
		if got := checksumsHex(sum.Chunks); !slices.Equal(got, want) {
			t.Errorf("chunks %v, want %v", got, want)
		}
		if h := refSHA256Hex(ct.Bytes()); h != "f28866dcc59021dfa8b4a546c90164207a91880a0fbc7208f0180e52709809d8" {
			t.Errorf("SHA-256 of ciphertext %s", h)
		}
	})
}

// writePlans feed the same plaintext to an Encrypter in different ways, so
// that block and chunk boundaries fall inside and between writes.
var writePlans = []struct {
	name string
	run  func(e *Encrypter, pt []byte) error
}{
	{"ReadFrom", func(e *Encrypter, pt []byte) error {
		_, err := e.ReadFrom(bytes.NewReader(pt))
		return err
	}},
	{"OneWrite", func(e *Encrypter, pt []byte) error {
		n, err := e.Write(pt)
		if err == nil && n != len(pt) {
			err = fmt.Errorf("short write %d", n)
		}
		return err
	}},
	{"RandomWrites", func(e *Encrypter, pt []byte) error {
		r := rand.New(rand.NewPCG(1, uint64(len(pt))))
		for len(pt) > 0 {
			k := min(len(pt), 1+r.IntN(3*blockSize/2))
			if r.IntN(4) == 0 {
				k = min(len(pt), 1+r.IntN(17))
			}
			if _, err := e.Write(pt[:k]); err != nil {
				return err
			}
			pt = pt[k:]
		}
		return nil
	}},
	{"SmallReads", func(e *Encrypter, pt []byte) error {
		_, err := e.ReadFrom(&oddReader{data: pt})
		return err
	}},
}

// oddReader returns at most 7, 4096+1 or 65536-3 bytes per Read, in turn.
type oddReader struct {
	data []byte
	i    int
}

func (r *oddReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	sizes := [...]int{7, 4097, 65533}
	n := copy(p[:min(len(p), sizes[r.i%3])], r.data)
	r.i++
	r.data = r.data[n:]
	return n, nil
}

var testSizes = []int{0, 1, 15, 16, 17, blockSize - 1, blockSize, blockSize + 1,
	refChunkSize - 1, refChunkSize, refChunkSize + 1, 2*refChunkSize + 3}

func TestEncryptMatchesReference(t *testing.T) {
	key := NewKey()
	for _, n := range testSizes {
		pt := randomBytes(n, uint64(n))
		wantCT := refCTR(t, key, pt)
		wantSig := refSignature(wantCT)
		wantChunks := refChunks(wantCT)
		if got, want := len(wantChunks), (n+refChunkSize-1)/refChunkSize; got != want {
			t.Fatalf("reference chunk count %d, want %d", got, want)
		}
		for _, plan := range writePlans {
			modes(t, func(t *testing.T, parallel bool) {
				t.Run(fmt.Sprintf("%d/%s", n, plan.name), func(t *testing.T) {
					var ct bytes.Buffer
					e := NewEncrypterOptions(&ct, key, modeOptions(parallel))
					if err := plan.run(e, pt); err != nil {
						t.Fatal(err)
					}
					if err := e.Close(); err != nil {
						t.Fatal(err)
					}
					sum := e.Sum()
					if !bytes.Equal(ct.Bytes(), wantCT) {
						t.Fatalf("ciphertext differs from reference CTR (len %d vs %d)", ct.Len(), len(wantCT))
					}
					if sum.Signature != wantSig {
						t.Fatalf("signature %s, want %s", sum.Signature, wantSig)
					}
					if !slices.Equal(sum.Chunks, wantChunks) {
						t.Fatalf("chunks %v, want %v", sum.Chunks, wantChunks)
					}
					if sum.Size != int64(n) {
						t.Fatalf("size %d, want %d", sum.Size, n)
					}
				})
			})
		}
	}
}

func TestSkipChunkChecksums(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		pt := randomBytes(3*blockSize+5, 9)
		key := testKey()
		opts := modeOptions(parallel)
		opts.SkipChunkChecksums = true
		var ct bytes.Buffer
		e := NewEncrypterOptions(&ct, key, opts)
		e.Write(pt)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		sum := e.Sum()
		want := refCTR(t, key, pt)
		if !bytes.Equal(ct.Bytes(), want) || sum.Signature != refSignature(want) || sum.Chunks != nil || sum.Size != int64(len(pt)) {
			t.Fatalf("signature-only summary wrong: %+v", sum)
		}
	})
}

func TestHasher(t *testing.T) {
	ct := randomBytes(2*refChunkSize+blockSize+1, 3)
	h := NewHasher()
	if s := h.Sum(); s.Signature != refSignature(nil) || len(s.Chunks) != 0 || s.Size != 0 {
		t.Fatalf("empty Hasher: %+v", s)
	}
	r := rand.New(rand.NewPCG(2, 2))
	for rest := ct; len(rest) > 0; {
		k := min(len(rest), 1+r.IntN(2*refChunkSize/3))
		h.Write(rest[:k])
		rest = rest[k:]
		// Sum in the middle must not disturb the state.
		done := len(ct) - len(rest)
		if s := h.Sum(); s.Signature != refSignature(ct[:done]) || !slices.Equal(s.Chunks, refChunks(ct[:done])) || s.Size != int64(done) {
			t.Fatalf("Hasher.Sum after %d bytes wrong", done)
		}
	}
}

func TestChunkChecksumOfAndVerifyChunk(t *testing.T) {
	// Frozen: 01 ‖ SHA-256(SHA-256(ciphertext of the small vector))[:20], hashlib.
	ct := mustHex(t, "a6f865965b3cf6b3c2d3f818b25919a096320e8e20ccf295d5d6f4472db0164966d995b2d456fa9d6cc7ce1b")
	if got := ChunkChecksumOf(ct).String(); got != "01e5e15a5f8d4d42908b71648af128f4e439ec71da" {
		t.Fatalf("ChunkChecksumOf = %s", got)
	}
	chunk := randomBytes(refChunkSize, 4)
	want := refChunk(chunk)
	if ChunkChecksumOf(chunk) != want {
		t.Fatal("ChunkChecksumOf differs from reference")
	}
	if err := VerifyChunk(chunk, want); err != nil {
		t.Fatalf("VerifyChunk(good) = %v", err)
	}
	cases := []struct {
		name   string
		chunk  []byte
		sum    ChunkChecksum
		reason error
	}{
		{"flip", flipped(chunk, len(chunk)/2), want, failChunk},
		{"truncated", chunk[:len(chunk)-1], want, failChunk},
		{"too large", append(bytes.Clone(chunk), 0), refChunk(append(bytes.Clone(chunk), 0)), failChunkSize},
		{"empty", nil, refChunk(nil), failChunkSize},
		{"wrong type byte", chunk, ChunkChecksum(append([]byte{0x02}, want[1:]...)), failChunk},
	}
	for _, c := range cases {
		if err := VerifyChunk(c.chunk, c.sum); err != ErrCannotOpen {
			t.Errorf("%s: VerifyChunk = %v, want ErrCannotOpen", c.name, err)
		}
		if err := verifyChunk(c.chunk, c.sum); err != c.reason {
			t.Errorf("%s: reason %v, want %v", c.name, err, c.reason)
		}
		v := NewChunkVerifier()
		for rest := c.chunk; len(rest) > 0; rest = rest[min(len(rest), 4093):] {
			v.Write(rest[:min(len(rest), 4093)])
		}
		if err := v.Verify(c.sum); err != ErrCannotOpen {
			t.Errorf("%s: ChunkVerifier in pieces = %v, want ErrCannotOpen", c.name, err)
		}
		if err := v.verify(c.sum); err != c.reason {
			t.Errorf("%s: ChunkVerifier reason %v, want %v", c.name, err, c.reason)
		}
	}
	v := NewChunkVerifier()
	for rest := chunk; len(rest) > 0; rest = rest[min(len(rest), 4093):] {
		v.Write(rest[:min(len(rest), 4093)])
	}
	if err := v.Verify(want); err != nil {
		t.Fatalf("ChunkVerifier(good, in pieces) = %v", err)
	}
}

func flipped(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

func TestEncrypterWriteErrors(t *testing.T) {
	modes(t, func(t *testing.T, parallel bool) {
		// dst fails during the second block: the error is sticky.
		w := &errWriter{limit: blockSize + 10, err: errTest}
		e := NewEncrypterOptions(w, testKey(), modeOptions(parallel))
		_, err := e.Write(make([]byte, 3*blockSize))
		if !errors.Is(err, errTest) {
			t.Fatalf("Write = %v", err)
		}
		if _, err := e.Write([]byte{1}); !errors.Is(err, errTest) {
			t.Fatalf("Write after error = %v", err)
		}
		if _, err := e.ReadFrom(bytes.NewReader([]byte{1})); !errors.Is(err, errTest) {
			t.Fatalf("ReadFrom after error = %v", err)
		}
		if err := e.Close(); !errors.Is(err, errTest) {
			t.Fatalf("Close = %v", err)
		}
		mustPanic(t, "Sum after failed Close", func() { e.Sum() })

		// A writer that writes less without an error.
		e = NewEncrypterOptions(shortWriter{}, testKey(), modeOptions(parallel))
		e.Write([]byte("hello"))
		if err := e.Close(); err != io.ErrShortWrite {
			t.Fatalf("Close with short writer = %v", err)
		}

		// Encrypt reports the reader's error.
		if _, err := Encrypt(io.Discard, io.MultiReader(bytes.NewReader(make([]byte, blockSize+1)), errReader{}), testKey()); !errors.Is(err, errTest) {
			t.Fatalf("Encrypt with failing reader = %v", err)
		}
	})
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errTest }

func TestEncrypterLifecycle(t *testing.T) {
	e := NewEncrypter(io.Discard, testKey())
	mustPanic(t, "Sum before Close", func() { e.Sum() })
	e.Write([]byte("abc"))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := e.Write([]byte("d")); err == nil {
		t.Fatal("Write after Close accepted")
	}
	s := e.Sum()
	s.Chunks[0][0] = 0xff // the caller's copy
	if e.Sum().Chunks[0][0] != 0x01 {
		t.Fatal("Sum returns the internal slice")
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// An Encrypter that is dropped without Close must not leak its helper
// goroutines. This waits for the garbage collector; it asserts no timing.
func TestAbandonedEncrypterStopsGoroutines(t *testing.T) {
	waitStageGoroutines(t, 0) // helpers stopped by earlier tests may still be exiting
	func() {
		e := NewEncrypterOptions(io.Discard, testKey(), modeOptions(true))
		e.Write(make([]byte, 3*blockSize))
		if n := stageGoroutines(); e.p.w == nil || n != 2 {
			t.Fatalf("%d helper goroutines, want 2", n)
		}
	}()
	waitStageGoroutines(t, 0) // the cleanup runs once the Encrypter is collected

	// Close stops them without the garbage collector.
	e := NewEncrypterOptions(io.Discard, testKey(), modeOptions(true))
	e.Write(make([]byte, 3*blockSize))
	if n := stageGoroutines(); n != 2 {
		t.Fatalf("%d helper goroutines, want 2", n)
	}
	e.Close()
	runtime.KeepAlive(e)
	waitStageGoroutines(t, 0)
}

// waitStageGoroutines waits, running the garbage collector, until no more
// than want helper goroutines exist. Stopped helpers exit on their own; this
// only gives them the time to.
func waitStageGoroutines(t *testing.T, want int) {
	t.Helper()
	for i := 0; stageGoroutines() > want; i++ {
		if i == 500 {
			t.Fatalf("%d helper goroutines left, want %d", stageGoroutines(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// stageGoroutines counts the helper goroutines of this package, started or
// not yet (a goroutine that has not run yet shows only its go wrapper).
func stageGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/sealpost/sealpost/attachment.(*pipe).start in")
		}
		buf = make([]byte, 2*len(buf))
	}
}
