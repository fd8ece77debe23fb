// Package storagetest is the conformance suite of the blob store's storage
// interface: every backend runs it (fs always; s3 against a real
// S3-compatible server when SEALPOST_TEST_S3 is set). Each check compares
// what the backend returns with bytes the test made itself.
package storagetest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/storage"
)

// Run runs the suite. open returns a store to test; every call may return
// the same store (ids and keys are unique per test).
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Records", testRecords},
		{"ListRecords", testListRecords},
		{"InvalidKeys", testInvalidKeys},
		{"UploadCommitOpen", testUploadCommitOpen},
		{"EmptyObject", testEmptyObject},
		{"FailedPutLeavesChunk", testFailedPut},
		{"CommitIncomplete", testCommitIncomplete},
		{"AbortAndDelete", testAbortDelete},
		{"ConcurrentPuts", testConcurrentPuts},
		{"UnknownIDs", testUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// NewID returns a fresh blob id.
func NewID() string {
	var b [12]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int64) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func ctx() context.Context { return context.Background() }

func putAll(t *testing.T, s storage.Store, id, handle string, data []byte, order []int) {
	t.Helper()
	size := int64(len(data))
	for _, i := range order {
		off := int64(i) * storage.ChunkSize
		n := storage.ChunkLen(i, size)
		if err := s.PutChunk(ctx(), id, handle, i, data[off:off+n]); err != nil {
			t.Fatalf("PutChunk %d: %v", i, err)
		}
	}
}

func readRange(t *testing.T, s storage.Store, id string, off, n int64) []byte {
	t.Helper()
	r, err := s.Open(ctx(), id, off, n)
	if err != nil {
		t.Fatalf("Open(%d, %d): %v", off, n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading [%d, +%d): %v", off, n, err)
	}
	return b
}

func testRecords(t *testing.T, s storage.Store) {
	p := "t/" + NewID() + "/"
	if _, err := s.GetRecord(ctx(), p+"a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetRecord of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.PutRecord(ctx(), p+"a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx(), p+"a", []byte("two, longer")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetRecord(ctx(), p+"a"); err != nil || string(v) != "two, longer" {
		t.Fatalf("GetRecord after replace: %q %v", v, err)
	}
	if err := s.PutRecord(ctx(), p+"empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetRecord(ctx(), p+"empty"); err != nil || len(v) != 0 {
		t.Fatalf("empty record: %q %v", v, err)
	}
	big := Data(7, 1<<20)
	if err := s.PutRecord(ctx(), p+"big", big); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetRecord(ctx(), p+"big"); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("1 MiB record did not come back: %d bytes, %v", len(v), err)
	}
	for _, k := range []string{"a", "empty", "big"} {
		if err := s.DeleteRecord(ctx(), p+k); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetRecord(ctx(), p+k); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetRecord after delete: %v", err)
		}
	}
	if err := s.DeleteRecord(ctx(), p+"a"); err != nil {
		t.Fatalf("second DeleteRecord: %v, want nil", err)
	}
	// A parent of an existing key is not a record.
	if err := s.PutRecord(ctx(), p+"x/y", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx(), p+"x"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetRecord of a key's parent: %v, want ErrNotFound", err)
	}
	s.DeleteRecord(ctx(), p+"x/y")
}

func testListRecords(t *testing.T, s storage.Store) {
	p := "t/" + NewID() + "/"
	keys := []string{"b/2", "a", "b/10", "a_b", "c/d/e", "b_", "0", "b/1/x"}
	for _, k := range keys {
		if err := s.PutRecord(ctx(), p+k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, k := range keys {
		want = append(want, p+k)
	}
	slices.Sort(want)
	list := func(prefix string) []string {
		var got []string
		if err := s.ListRecords(ctx(), prefix, func(k string) error { got = append(got, k); return nil }); err != nil {
			t.Fatalf("ListRecords(%q): %v", prefix, err)
		}
		return got
	}
	if got := list(p); !slices.Equal(got, want) {
		t.Fatalf("ListRecords(%q) =\n%q\nwant (byte order)\n%q", p, got, want)
	}
	if got, w := list(p+"b/"), []string{p + "b/1/x", p + "b/10", p + "b/2"}; !slices.Equal(got, w) {
		t.Fatalf("ListRecords(b/) = %q, want %q", got, w)
	}
	if got := list(p + "nothing/"); len(got) != 0 {
		t.Fatalf("ListRecords of an unused prefix = %q", got)
	}
	var n int
	err := s.ListRecords(ctx(), p, func(string) error {
		n++
		if n == 3 {
			return storage.ErrStop
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("ErrStop: err=%v after %d keys, want nil after 3", err, n)
	}
	boom := errors.New("boom")
	if err := s.ListRecords(ctx(), p, func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("callback error: %v, want it returned", err)
	}
	for _, k := range keys {
		s.DeleteRecord(ctx(), p+k)
	}
	if got := list(p); len(got) != 0 {
		t.Fatalf("after deleting every key: %q", got)
	}
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	for _, k := range []string{"", "/a", "a/", "a//b", "A", "a/../b", "..", ".", "a b", "a\x00", "a.b", "é"} {
		if err := s.PutRecord(ctx(), k, nil); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("PutRecord(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.GetRecord(ctx(), k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("GetRecord(%q): %v, want ErrInvalidKey", k, err)
		}
	}
	for _, p := range []string{"a", "/", "a//", "../"} {
		if err := s.ListRecords(ctx(), p, func(string) error { return nil }); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ListRecords(%q): %v, want ErrInvalidKey", p, err)
		}
	}
	for _, id := range []string{"", "ABC", "a/b", "../x", "a.b"} {
		if _, err := s.BeginUpload(ctx(), id, 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("BeginUpload(%q): %v, want ErrInvalidKey", id, err)
		}
		if _, err := s.Open(ctx(), id, 0, 0); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Open(%q): %v, want ErrInvalidKey", id, err)
		}
	}
}

func testUploadCommitOpen(t *testing.T, s storage.Store) {
	id := NewID()
	size := int64(2*storage.ChunkSize + 12345)
	data := Data(1, size)
	h, err := s.BeginUpload(ctx(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Chunks(ctx(), id, h); err != nil || len(got) != 0 {
		t.Fatalf("Chunks of a new upload: %v %v", got, err)
	}
	putAll(t, s, id, h, data, []int{2, 0})
	if got, err := s.Chunks(ctx(), id, h); err != nil || !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("Chunks after 2 and 0: %v %v", got, err)
	}
	if _, err := s.Open(ctx(), id, 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open before Commit: %v, want ErrNotFound", err)
	}
	putAll(t, s, id, h, data, []int{1, 1}) // the same chunk twice
	if got, err := s.Chunks(ctx(), id, h); err != nil || !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Chunks after all: %v %v", got, err)
	}
	if err := s.Commit(ctx(), id, h, size); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx(), id, h, size); err != nil {
		t.Fatalf("second Commit: %v, want nil", err)
	}
	if got := readRange(t, s, id, 0, size); !bytes.Equal(got, data) {
		t.Fatalf("whole object differs (%d bytes read)", len(got))
	}
	cs := int64(storage.ChunkSize)
	for _, r := range [][2]int64{{0, 0}, {0, 1}, {cs - 1, 2}, {cs, cs}, {cs - 10, cs + 20}, {size - 1, 1}, {1, size - 1}, {size, 0}, {2 * cs, size - 2*cs}} {
		if got := readRange(t, s, id, r[0], r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Errorf("range [%d, +%d) differs", r[0], r[1])
		}
	}
	if err := s.PutChunk(ctx(), id, h, 0, data[:cs]); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("PutChunk after Commit: %v, want ErrNotFound", err)
	}
	if _, err := s.Chunks(ctx(), id, h); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Chunks after Commit: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx(), id, 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx(), id); err != nil {
		t.Fatalf("second Delete: %v, want nil", err)
	}
}

func testEmptyObject(t *testing.T, s storage.Store) {
	id := NewID()
	h, err := s.BeginUpload(ctx(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx(), id, h, 0); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, id, 0, 0); len(got) != 0 {
		t.Fatalf("empty object read %d bytes", len(got))
	}
	if err := s.Delete(ctx(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx(), id, 0, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open of a deleted empty object: %v, want ErrNotFound", err)
	}
}

func testFailedPut(t *testing.T, s storage.Store) {
	id := NewID()
	size := int64(storage.ChunkSize + 100)
	data := Data(2, size)
	h, err := s.BeginUpload(ctx(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	cs := int64(storage.ChunkSize)
	cancelled, cancel := context.WithCancel(ctx())
	cancel()
	// First attempts that fail leave no chunk.
	if err := s.PutChunk(cancelled, id, h, 1, Data(9, 100)); err == nil {
		t.Fatal("PutChunk with a cancelled context returned nil")
	}
	for _, bad := range [][]byte{nil, make([]byte, cs+1)} {
		if err := s.PutChunk(ctx(), id, h, 1, bad); err == nil {
			t.Fatalf("PutChunk of %d bytes returned nil", len(bad))
		}
	}
	if got, _ := s.Chunks(ctx(), id, h); len(got) != 0 {
		t.Fatalf("a failed PutChunk left chunks %v", got)
	}
	// PutChunk keeps nothing of its argument: the caller may reuse it at
	// once.
	buf := bytes.Clone(data[:cs])
	if err := s.PutChunk(ctx(), id, h, 0, buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, Data(3, cs))
	putAll(t, s, id, h, data, []int{1})
	// A later attempt with other bytes that fails leaves the good chunk as
	// it was.
	if err := s.PutChunk(cancelled, id, h, 0, Data(3, cs)); err == nil {
		t.Fatal("PutChunk with a cancelled context returned nil")
	}
	if err := s.Commit(ctx(), id, h, size); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, id, 0, size); !bytes.Equal(got, data) {
		t.Fatal("the stored object is not the chunks that were stored")
	}
	s.Delete(ctx(), id)
}

func testCommitIncomplete(t *testing.T, s storage.Store) {
	id := NewID()
	size := int64(2*storage.ChunkSize + 1)
	data := Data(4, size)
	h, err := s.BeginUpload(ctx(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, id, h, data, []int{0, 2})
	if err := s.Commit(ctx(), id, h, size); !errors.Is(err, storage.ErrIncomplete) {
		t.Fatalf("Commit without chunk 1: %v, want ErrIncomplete", err)
	}
	if _, err := s.Open(ctx(), id, 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after a refused Commit: %v, want ErrNotFound", err)
	}
	// The upload is still usable.
	putAll(t, s, id, h, data, []int{1})
	if err := s.Commit(ctx(), id, h, size); err != nil {
		t.Fatalf("Commit once complete: %v", err)
	}
	if got := readRange(t, s, id, 0, size); !bytes.Equal(got, data) {
		t.Fatal("object differs")
	}
	s.Delete(ctx(), id)
}

func testAbortDelete(t *testing.T, s storage.Store) {
	id := NewID()
	size := int64(10)
	h, err := s.BeginUpload(ctx(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, id, h, Data(5, size), []int{0})
	if err := s.AbortUpload(ctx(), id, h); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chunks(ctx(), id, h); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Chunks after Abort: %v, want ErrNotFound", err)
	}
	if err := s.PutChunk(ctx(), id, h, 0, Data(5, size)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("PutChunk after Abort: %v, want ErrNotFound", err)
	}
	if err := s.Commit(ctx(), id, h, size); err == nil {
		t.Fatal("Commit after Abort returned nil")
	}
	if err := s.AbortUpload(ctx(), id, h); err != nil {
		t.Fatalf("second Abort: %v, want nil", err)
	}
}

func testConcurrentPuts(t *testing.T, s storage.Store) {
	id := NewID()
	size := int64(3 * storage.ChunkSize)
	data := Data(6, size)
	h, err := s.BeginUpload(ctx(), id, size)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := i % 3
			off := int64(c) * storage.ChunkSize
			errs <- s.PutChunk(ctx(), id, h, c, data[off:off+storage.ChunkSize])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx(), id, h, size); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, id, 0, size); !bytes.Equal(got, data) {
		t.Fatal("object differs after concurrent puts")
	}
	s.Delete(ctx(), id)
}

func testUnknown(t *testing.T, s storage.Store) {
	id := NewID()
	if _, err := s.Open(ctx(), id, 0, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.Chunks(ctx(), id, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Chunks of an unknown upload: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx(), id); err != nil {
		t.Errorf("Delete of an unknown id: %v, want nil", err)
	}
	if err := s.AbortUpload(ctx(), id, ""); err != nil {
		t.Errorf("AbortUpload of an unknown id: %v, want nil", err)
	}
	if err := s.PutChunk(ctx(), id, "", 0, []byte{1}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("PutChunk of an unknown upload: %v, want ErrNotFound", err)
	}
}
