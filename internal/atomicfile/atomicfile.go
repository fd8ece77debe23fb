// Package atomicfile replaces a file's content so that readers, and the
// file system after a crash, see either the old content or the new one,
// never a mix or a truncated file.
//
// [WriteFile] writes the new content to a temporary file beside the target
// (".<name>.tmp…", in the same folder so the rename stays on one file
// system), gives it its mode, flushes it to disk, renames it over the
// target and then flushes the folder, so that the rename itself survives a
// crash. If any step fails before the rename, the target is left as it
// was and the temporary file is removed. Concurrent WriteFile calls on one
// path each write a whole file; the last rename wins.
//
// It serves small files written whole (key files, certificates). It is not
// for streams; internal/blobs has its own.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically, with permissions perm exactly
// (the umask does not apply: the mode is set with chmod before any data is
// written). It returns the first error of creating, writing, syncing,
// closing or renaming the file; flushing the folder afterwards is best
// effort, as not every file system supports it.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// writeFile is WriteFile with the write step given, so that tests can make
// it fail part way.
func writeFile(path string, perm os.FileMode, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
