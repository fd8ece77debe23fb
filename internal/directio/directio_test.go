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
	if _, err := f.Write(Alloc(Align)); err != nil {
		t.Fatalf("aligned write in direct mode: %v", err)
	}
	if Set(f, false) {
		t.Fatal("Set(false) reports direct mode")
	}
	if _, err := f.Write([]byte("unaligned tail")); err != nil {
		t.Fatalf("unaligned write after direct mode off: %v", err)
	}
}

// Alloc gives aligned slices of the asked length and capacity; Aligned
// tells them from slices that start or end off the alignment.
func TestAlloc(t *testing.T) {
	for _, n := range []int{0, 1, Align, 5 << 20} {
		b := Alloc(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Alloc(%d): len %d cap %d", n, len(b), cap(b))
		}
		if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Align != 0 {
			t.Fatalf("Alloc(%d) is not aligned", n)
		}
	}
	b := Alloc(3 * Align)
	if !Aligned(b) || !Aligned(b[Align:]) || !Aligned(b[:0]) {
		t.Fatal("aligned slices reported unaligned")
	}
	if Aligned(b[1:Align+1]) || Aligned(b[:Align+1]) {
		t.Fatal("unaligned slices reported aligned")
	}
}
