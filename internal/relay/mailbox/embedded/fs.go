package embedded

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is the file layer the store runs on. OSFS is the real one; the tests
// use a layer that keeps written data apart from synced data and drops the
// unsynced part at a simulated power loss.
//
// What the store relies on: Write appends; data is durable once the file's
// Sync returns; a created or removed name is durable once SyncDir of its
// folder returns.
type FS interface {
	MkdirAll(dir string) error
	// List returns the names (not paths) in dir, sorted.
	List(dir string) ([]string, error)
	// Create creates a new, empty file; it fails if path exists.
	Create(path string) (File, error)
	// Open opens an existing file for reading, appending and truncation.
	Open(path string) (File, error)
	Remove(path string) error
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	// Write appends p.
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

func (OSFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }

func (OSFS) List(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(es))
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (OSFS) Create(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Open(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Remove(path string) error { return os.Remove(path) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f osFile) Sync() error { return fdatasync(f.File) }

var errClosedFS = errors.New("embedded: file layer closed")

func join(dir, name string) string { return filepath.Join(dir, name) }
