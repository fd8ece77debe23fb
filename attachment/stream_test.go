package attachment

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestEncryptAt compares pieces encrypted on their own, at every kind of
// offset (block-aligned or not, across chunk and block boundaries), with
// the reference encryption of the whole file.
func TestEncryptAt(t *testing.T) {
	key := testKey()
	pt := randomBytes(refChunkSize+3*blockSize+37, 5)
	ref := refCTR(t, key, pt)
	for _, c := range []struct{ off, n int }{
		{0, 0}, {0, 1}, {0, 16}, {0, len(pt)}, {1, 15}, {15, 2}, {16, 16}, {17, 100},
		{blockSize - 3, 7}, {refChunkSize, 3 * blockSize}, {refChunkSize - 1, blockSize + 2},
		{len(pt) - 1, 1}, {len(pt), 0},
	} {
		src := pt[c.off : c.off+c.n]
		dst := make([]byte, c.n+5) // longer than src: the tail stays
		EncryptAt(dst, src, key, int64(c.off))
		if !bytes.Equal(dst[:c.n], ref[c.off:c.off+c.n]) || !bytes.Equal(dst[c.n:], make([]byte, 5)) {
			t.Fatalf("EncryptAt(off %d, %d bytes) differs from the reference", c.off, c.n)
		}
		inPlace := bytes.Clone(src)
		EncryptAt(inPlace, inPlace, key, int64(c.off))
		if !bytes.Equal(inPlace, ref[c.off:c.off+c.n]) {
			t.Fatalf("EncryptAt in place (off %d, %d bytes) differs", c.off, c.n)
		}
		EncryptAt(inPlace, inPlace, key, int64(c.off)) // its own inverse
		if !bytes.Equal(inPlace, src) {
			t.Fatalf("EncryptAt twice (off %d) is not the identity", c.off)
		}
	}
	mustPanic(t, "EncryptAt at a negative offset", func() { EncryptAt(make([]byte, 1), make([]byte, 1), key, -1) })
}

// TestNewStreamAtInPieces runs one key stream, started at unaligned and
// aligned offsets, over pieces of odd sizes, and compares the result with
// the reference encryption of the whole file.
func TestNewStreamAtInPieces(t *testing.T) {
	key := testKey()
	pt := randomBytes(refChunkSize+2*blockSize+41, 6)
	ref := refCTR(t, key, pt)
	for _, off := range []int{0, 1, 15, 16, 31, blockSize - 5, refChunkSize - 7, refChunkSize} {
		ctr := NewStreamAt(key, int64(off))
		got := bytes.Clone(pt[off:])
		for rest, k := got, 1; len(rest) > 0; k = k*3 + 1 { // 1, 4, 13, 40, ... bytes
			n := min(len(rest), k)
			ctr.XORKeyStream(rest[:n], rest[:n])
			rest = rest[n:]
		}
		if !bytes.Equal(got, ref[off:]) {
			t.Fatalf("NewStreamAt(off %d) in pieces differs from the reference", off)
		}
	}
	mustPanic(t, "NewStreamAt at a negative offset", func() { NewStreamAt(key, -1) })
}

// feeders give a Decrypter its ciphertext in different ways.
var feeders = []struct {
	name string
	feed func(d *Decrypter, ct []byte) error
}{
	{"OneWrite", func(d *Decrypter, ct []byte) error { _, err := d.Write(ct); return err }},
	{"SmallWrites", func(d *Decrypter, ct []byte) error {
		for len(ct) > 0 {
			k := min(len(ct), 4093)
			if _, err := d.Write(ct[:k]); err != nil {
				return err
			}
			ct = ct[k:]
		}
		return nil
	}},
	{"ReadFrom", func(d *Decrypter, ct []byte) error { _, err := d.ReadFrom(bytes.NewReader(ct)); return err }},
	{"SmallReads", func(d *Decrypter, ct []byte) error { _, err := d.ReadFrom(&oddReader{data: ct}); return err }},
}

func TestDecrypterRoundTrip(t *testing.T) {
	defer waitStageGoroutines(t, 0)
	for _, n := range testSizes {
		s := seal(t, n, uint64(n)+200)
		for _, f := range feeders {
			modes(t, func(t *testing.T, parallel bool) {
				var out bytes.Buffer
				d := newDecrypter(&out, s.key, int64(n), s.sig, parallel)
				if err := f.feed(d, s.ct); err != nil {
					t.Fatalf("size %d, %s: %v", n, f.name, err)
				}
				if d.Len() != int64(n) {
					t.Fatalf("size %d, %s: Len %d", n, f.name, d.Len())
				}
				if err := d.Close(); err != nil {
					t.Fatalf("size %d, %s: Close = %v", n, f.name, err)
				}
				if !bytes.Equal(out.Bytes(), s.pt) {
					t.Fatalf("size %d, %s: plaintext differs", n, f.name)
				}
			})
		}
	}
}

// TestDecrypterRefuses runs the E9 attacks through a Decrypter: each ends
// in ErrCannotOpen, for the reason Decrypt finds.
func TestDecrypterRefuses(t *testing.T) {
	defer waitStageGoroutines(t, 0)
	for _, n := range []int{1000, 3*blockSize + 5} {
		s, other := seal(t, n, 1), seal(t, n, 2)
		for _, c := range tamperCases(s, other) {
			for _, f := range feeders {
				modes(t, func(t *testing.T, parallel bool) {
					d := newDecrypter(io.Discard, c.key, c.size, c.sig, parallel)
					ferr := f.feed(d, c.ct)
					cerr := d.Close()
					if ferr != nil && ferr != ErrCannotOpen {
						t.Fatalf("%s, %s: feeding = %v", c.name, f.name, ferr)
					}
					if cerr != ErrCannotOpen || d.err != c.reason {
						t.Fatalf("%s, %s: Close = %v, reason %v; want ErrCannotOpen, %v", c.name, f.name, cerr, d.err, c.reason)
					}
				})
			}
		}
	}
}

// failAfter yields data, then fails with errTest at byte cut.
type failAfter struct {
	data []byte
	cut  int
}

func (r *failAfter) Read(p []byte) (int, error) {
	if r.cut == 0 {
		return 0, errTest
	}
	n := copy(p[:min(len(p), r.cut)], r.data)
	r.data, r.cut = r.data[n:], r.cut-n
	return n, nil
}

// TestDecrypterResume: a reader that fails leaves the Decrypter usable; the
// stream goes on from Len with another reader. Flush puts the plaintext of
// exactly Len bytes in the writer.
func TestDecrypterResume(t *testing.T) {
	s := seal(t, 3*blockSize+77, 3)
	modes(t, func(t *testing.T, parallel bool) {
		var out bytes.Buffer
		d := newDecrypter(&out, s.key, int64(len(s.ct)), s.sig, parallel)
		for _, cut := range []int{100, blockSize + 3} {
			n, err := d.ReadFrom(&failAfter{data: s.ct[d.Len():], cut: cut})
			if err != errTest || n != int64(cut) {
				t.Fatalf("ReadFrom = %d, %v; want %d, errTest", n, err, cut)
			}
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), s.pt[:d.Len()]) {
				t.Fatalf("after Flush the writer holds %d bytes, not the plaintext of %d", out.Len(), d.Len())
			}
		}
		if _, err := d.ReadFrom(bytes.NewReader(s.ct[d.Len():])); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil || !bytes.Equal(out.Bytes(), s.pt) {
			t.Fatalf("Close = %v, or the plaintext differs", err)
		}
	})
}

func TestDecrypterWriteErrors(t *testing.T) {
	s := seal(t, 2*blockSize+9, 4)
	modes(t, func(t *testing.T, parallel bool) {
		d := newDecrypter(&errWriter{limit: blockSize + 1, err: errTest}, s.key, int64(len(s.ct)), s.sig, parallel)
		_, err := d.Write(s.ct)
		if !errors.Is(err, errTest) {
			t.Fatalf("Write = %v, want the writer's error", err)
		}
		if _, err := d.Write(s.ct[:1]); !errors.Is(err, errTest) {
			t.Fatalf("Write after a failure = %v, want the writer's error again", err)
		}
		if err := d.Close(); !errors.Is(err, errTest) || errors.Is(err, ErrCannotOpen) {
			t.Fatalf("Close = %v, want the writer's error", err)
		}
		if _, err := d.Write(s.ct[:1]); err != errClosed {
			t.Fatalf("Write after Close = %v", err)
		}
		if err := d.Close(); !errors.Is(err, errTest) {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestHasherSignatureOnly(t *testing.T) {
	ct := randomBytes(refChunkSize+10, 6)
	h := NewHasherOptions(Options{SkipChunkChecksums: true})
	h.Write(ct[:7])
	h.Write(ct[7:])
	if sum := h.Sum(); sum.Signature != refSignature(ct) || sum.Chunks != nil || sum.Size != int64(len(ct)) {
		t.Fatalf("signature-only Hasher: %+v", sum)
	}
}
