package pki

import (
	"sync"
	"testing"
)

// Nodes starting together on one empty folder end up with one CA.
func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	cas := make([]*CA, 8)
	var wg sync.WaitGroup
	for i := range cas {
		wg.Go(func() {
			ca, err := LoadOrCreate(dir, "ca", "test CA")
			if err != nil {
				t.Error(err)
			}
			cas[i] = ca
		})
	}
	wg.Wait()
	for _, ca := range cas[1:] {
		if ca == nil || !ca.Cert.Equal(cas[0].Cert) {
			t.Fatal("concurrent starts created different CAs")
		}
	}
}
