package pki

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

// Check accepts a CA folder with both files or neither, refuses one with
// only one of them, and waits for a node that is creating the CA.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	if err := Check(dir, "ca"); err != nil {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := LoadOrCreate(dir, "ca", "test CA"); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, "ca"); err != nil {
		t.Fatalf("both files: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, "ca"); err == nil {
		t.Fatal("only ca.pem: Check returned nil")
	}
	// Another node holds the lock and has written one file so far.
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Check(dir, "ca") }()
	time.Sleep(50 * time.Millisecond) // Check sees half a CA and waits for the lock
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("a CA being created: %v", err)
	}
}
