package directio

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"
)

// Set switches the mode both ways where the file system allows direct
// I/O, and a file in direct mode still takes an aligned write.
func TestSet(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !Set(f, true) {
		if runtime.GOOS == "linux" {
			t.Logf("no direct I/O on this file system")
		}
		return
	}
	// An aligned buffer: 4096 bytes at a 4096-byte boundary.
	raw := make([]byte, 2*4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&raw[0]))%4096)) % 4096
	if _, err := f.Write(raw[off : off+4096]); err != nil {
		t.Fatalf("aligned write in direct mode: %v", err)
	}
	if Set(f, false) {
		t.Fatal("Set(false) reports direct mode")
	}
	if _, err := f.Write([]byte("unaligned tail")); err != nil {
		t.Fatalf("unaligned write after direct mode off: %v", err)
	}
}
