package fs

import (
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
