package attachment

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Memory must not grow with the file: encrypt and decrypt a 256 MiB stream
// and check that the bytes allocated (TotalAlloc, which only grows) and the
// heap in use stay far below the stream size. This measures memory, not
// time.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB stream; skipped with -short")
	}
	const size = 256 << 20
	const limit = 16 << 20
	key := testKey()

	measure := func(name string, f func()) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		heap := int64(after.HeapInuse) - int64(before.HeapInuse)
		t.Logf("%s of %d MiB: allocated %d KiB, heap in use grew %d KiB", name, size>>20, alloc>>10, heap>>10)
		if alloc > limit || heap > limit {
			t.Errorf("%s: allocated %d bytes, heap grew %d bytes; limit %d", name, alloc, heap, limit)
		}
	}

	// Encrypt a generated stream, nothing on disk. The ciphertext goes to a
	// Hasher, a second computation of the signature.
	var sum Summary
	check := NewHasher()
	measure("Encrypt", func() {
		var err error
		sum, err = Encrypt(check, &patternReader{n: size}, key)
		if err != nil {
			t.Fatal(err)
		}
	})
	if got := check.Sum(); got.Signature != sum.Signature || len(sum.Chunks) != size/refChunkSize+1 || sum.Size != size {
		t.Fatalf("summary of the stream is wrong: %d chunks", len(sum.Chunks))
	}

	// Decrypt from a temporary file.
	path := filepath.Join(t.TempDir(), "ct")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Encrypt(f, &patternReader{n: size}, key); err != nil {
		t.Fatal(err)
	}
	out := new(patternChecker)
	measure("Decrypt", func() {
		if err := Decrypt(out, f, size, key, sum.Signature); err != nil {
			t.Fatal(err)
		}
	})
	if out.off != size || out.bad {
		t.Fatalf("decrypted %d bytes, mismatch %v", out.off, out.bad)
	}
}

// patternChecker checks that it is written byte(i % 251) at offset i.
type patternChecker struct {
	off int64
	bad bool
}

func (w *patternChecker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), 250*1024)
		if !bytes.Equal(p[:k], patternTable[w.off%251:][:k]) {
			w.bad = true
		}
		w.off += int64(k)
		p = p[k:]
	}
	return n, nil
}
