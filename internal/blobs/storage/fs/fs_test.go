package fs

import (
	"bytes"
	"context"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/storagetest"
	"github.com/sealpost/sealpost/internal/directio"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestCrashLeftovers: what a crash can leave behind (temporary files of
// chunks and records, a half-removed object in the trash) is ignored or
// cleaned up when the store is opened again.
func TestCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := storagetest.NewID()
	if _, err := s.BeginUpload(ctx, id, 10); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "uploads", id, ".000000.123.tmp"), []byte("half"), 0o600)
	os.MkdirAll(filepath.Join(root, "records", "k"), 0o700)
	os.WriteFile(filepath.Join(root, "records", "k", ".rec.1.tmp"), []byte("half"), 0o600)
	os.MkdirAll(filepath.Join(root, "trash", "x.1", "sub"), 0o700)

	s, err = Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Chunks(ctx, id, ""); err != nil || len(got) != 0 {
		t.Fatalf("a temporary chunk file counted as a chunk: %v %v", got, err)
	}
	var keys []string
	s.ListRecords(ctx, "", func(k string) error { keys = append(keys, k); return nil })
	if len(keys) != 0 {
		t.Fatalf("a temporary record file listed: %q", keys)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "trash")); len(ents) != 0 {
		t.Fatalf("trash not emptied: %v", ents)
	}
}

// TestChunkSizesAndAlignment writes chunks whose lengths are and are not
// multiples of the direct-I/O alignment, from memory that does and does not
// start aligned, on the test folder's file system and on a tmpfs when there
// is one (where direct I/O may be refused and the page cache is used
// instead), and reads the objects back.
func TestChunkSizesAndAlignment(t *testing.T) {
	roots := []string{t.TempDir()}
	if shm, err := os.MkdirTemp("/dev/shm", "sealpost-fs-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		roots = append(roots, shm)
	}
	ctx := context.Background()
	for _, root := range roots {
		s, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.CreateTemp(root, "probe")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: direct I/O %v", root, directio.Set(f, true))
		f.Close()
		for _, c := range []struct {
			size int64
			skew int // data starts this far past an aligned address
		}{
			{1, 0}, {directio.Align, 0}, {directio.Align + 1, 0}, {copyBufSize + 1, 0},
			{storage.ChunkSize + 1, 0}, {2*storage.ChunkSize + 4097, 0},
			{directio.Align, 1}, {storage.ChunkSize + 1, 7}, {copyBufSize + directio.Align, 512},
		} {
			size := c.size
			data := directio.Alloc(int(size) + c.skew)[c.skew:]
			mrand.NewChaCha8([32]byte{byte(size)}).Read(data)
			id := storagetest.NewID()
			if _, err := s.BeginUpload(ctx, id, size); err != nil {
				t.Fatal(err)
			}
			for i := range storage.NumChunks(size) {
				off := int64(i) * storage.ChunkSize
				n := storage.ChunkLen(i, size)
				if err := s.PutChunk(ctx, id, "", i, data[off:off+n]); err != nil {
					t.Fatalf("size %d chunk %d: %v", size, i, err)
				}
			}
			if err := s.Commit(ctx, id, "", size); err != nil {
				t.Fatal(err)
			}
			r, err := s.Open(ctx, id, 0, size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: size %d: read back %d bytes (%v), not what was written", root, size, len(got), err)
			}
		}
	}
}
