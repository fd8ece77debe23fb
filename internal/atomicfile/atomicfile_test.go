//go:build unix

// The tests check Unix permission bits and set the umask.

package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// dirEntries returns the names in dir, to check that no temporary file is
// left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteFileMode checks content and mode for new and replaced files,
// with a umask that would otherwise clear the group and other bits.
func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, c := range []struct {
		data []byte
		perm os.FileMode
	}{
		{[]byte("first"), 0o600},
		{[]byte("second, longer than the first"), 0o644},
		{nil, 0o640},
		{[]byte("x"), 0o600},
	} {
		if err := WriteFile(path, c.data, c.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("content %q, %v; want %q", got, err, c.data)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != c.perm || !info.Mode().IsRegular() {
			t.Errorf("mode %v, want %v", info.Mode(), c.perm)
		}
		if names := dirEntries(t, dir); len(names) != 1 || names[0] != "f" {
			t.Errorf("folder holds %v, want only f", names)
		}
	}
}

// TestWriteFileFailureKeepsOld makes the write fail after half the new
// content is written: the old file must be intact, with its mode, and the
// temporary file gone.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	oldData := []byte("the old content")
	if err := WriteFile(path, oldData, 0o600); err != nil {
		t.Fatal(err)
	}
	errDiskFull := errors.New("disk full")
	newData := bytes.Repeat([]byte("new"), 1000)
	err := writeFile(path, 0o644, func(f *os.File) error {
		if _, err := f.Write(newData[:len(newData)/2]); err != nil {
			return err
		}
		return errDiskFull
	})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("writeFile = %v, want the write's error", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, oldData) {
		t.Errorf("after a failed write: %q, %v; want the old content", got, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("after a failed write: mode %v, %v; want 0600", info.Mode(), err)
	}
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != "f" {
		t.Errorf("folder holds %v, want only f", names)
	}
}

// TestWriteFileNoFolder checks that a missing folder is an error and
// creates nothing.
func TestWriteFileNoFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "f")
	if err := WriteFile(path, []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WriteFile into a missing folder = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file exists after a failed WriteFile: %v", err)
	}
}
