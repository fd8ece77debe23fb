package fs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/storagetest"
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
