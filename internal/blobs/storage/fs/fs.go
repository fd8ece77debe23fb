// Package fs is the blob store's default backend: files in a folder (by
// default <data>/blobs).
//
// Layout under the root:
//
//	uploads/<id>/<index>            chunks of an upload in progress
//	objects/<id[:2]>/<id>/<index>   a committed object: its chunks, as received
//	records/<key>                   one file per record ("/" separates folders)
//	trash/                          objects and uploads being removed
//
// Every write is atomic: bytes go to a temporary file (a name starting with
// "."), which is synced and renamed over the final name, and the folder is
// synced after the rename. Chunks are written with direct I/O where the
// system allows it (see PutChunk), so that they do not pass through the
// page cache on their way to the disk; reads go through the page cache. Commit is one rename of the upload's folder to
// the object's, so an object is either absent or whole, and no chunk is
// copied: a committed object stays a folder of 5 MiB files, and Open
// reads across them. Delete renames the object's folder to the trash before
// removing it, so a crash mid-removal leaves no half object in objects/.
//
// Concurrency: the operating system serialises renames; concurrent writers
// of one chunk or one record each write their own temporary file, and the
// last rename wins. A Store is safe for concurrent use.
package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/directio"
)

// Store is the folder backend.
type Store struct {
	root string
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) a store in the folder root.
func Open(root string) (*Store, error) {
	for _, d := range []string{"uploads", "objects", "records", "trash"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("blob store folder: %w", err)
		}
	}
	s := &Store{root: root}
	s.emptyTrash()
	return s, nil
}

// Root returns the store's folder.
func (s *Store) Root() string { return s.root }

// Close does nothing: the store holds no open files between calls.
func (s *Store) Close() error { return nil }

func (s *Store) uploadDir(id string) string { return filepath.Join(s.root, "uploads", id) }
func (s *Store) objectDir(id string) string {
	return filepath.Join(s.root, "objects", id[:min(2, len(id))], id)
}

// chunkName is the file name of chunk index: zero-padded so that a folder
// listing is in chunk order.
func chunkName(index int) string { return fmt.Sprintf("%06d", index) }

func checkID(id string) error {
	if !storage.ValidID(id) {
		return fmt.Errorf("%w: blob id %q", storage.ErrInvalidKey, id)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// BeginUpload creates the upload's folder. The handle is empty.
func (s *Store) BeginUpload(ctx context.Context, id string, size int64) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if size < 0 {
		return "", fmt.Errorf("fs: negative size %d", size)
	}
	dir := s.uploadDir(id)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	syncDir(filepath.Dir(dir))
	return "", nil
}

// Chunks are written with direct I/O where the system has it (Linux): a
// chunk is synced as soon as it is written and read again rarely soon, so
// copying it through the page cache costs CPU (measured: 1 to 2.5 s per GiB
// on the benchmark machine, against about 0.4 s direct) and buys nothing.
// Direct I/O needs buffers, file offsets and lengths aligned to the
// device's block: a chunk that starts aligned (the blob service's buffers
// do) is written straight from the caller's memory, others through an
// aligned buffer, and the unaligned end of a last chunk through the page
// cache.
const copyBufSize = 1 << 20 // a multiple of directio.Align that divides storage.ChunkSize

// copyBufs are the aligned buffers PutChunk copies unaligned chunks through.
var copyBufs = sync.Pool{New: func() any { b := directio.Alloc(copyBufSize); return &b }}

// PutChunk writes the chunk to a temporary file in the upload's folder,
// syncs it and renames it to the chunk's name.
func (s *Store) PutChunk(ctx context.Context, id, handle string, index int, data []byte) (err error) {
	if err := checkID(id); err != nil {
		return err
	}
	if index < 0 || len(data) == 0 || len(data) > storage.ChunkSize {
		return fmt.Errorf("fs: chunk %d of %d bytes is out of range", index, len(data))
	}
	dir := s.uploadDir(id)
	f, err := os.CreateTemp(dir, "."+chunkName(index)+".*.tmp")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := writeChunk(ctx, f, data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, chunkName(index))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
		}
		return err
	}
	return syncDir(dir)
}

// writeChunk writes data to f in pieces of copyBufSize (ctx is checked
// between them), in direct mode where it can.
func writeChunk(ctx context.Context, f *os.File, data []byte) error {
	direct := directio.Set(f, true)
	var bp *[]byte // an aligned buffer, for data that is not aligned
	defer func() {
		if bp != nil {
			copyBufs.Put(bp)
		}
	}()
	for len(data) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := data[:min(len(data), copyBufSize)]
		data = data[len(b):]
		if direct && len(b)%directio.Align != 0 {
			direct = directio.Set(f, false) // the unaligned end of the last chunk
		}
		if direct && !directio.Aligned(b) {
			if bp == nil {
				bp = copyBufs.Get().(*[]byte)
			}
			b = (*bp)[:copy(*bp, b)]
		}
		_, err := f.Write(b)
		if direct && errors.Is(err, syscall.EINVAL) {
			// A device with larger blocks than directio.Align: nothing was
			// written; go through the page cache from here on.
			direct = directio.Set(f, false)
			_, err = f.Write(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Chunks lists the upload's chunk files.
func (s *Store) Chunks(ctx context.Context, id, handle string) ([]int, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(s.uploadDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	out := []int{}
	for _, e := range ents {
		if i, ok := parseChunkName(e.Name()); ok {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}

func parseChunkName(name string) (int, bool) {
	if len(name) < 6 || name[0] == '.' {
		return 0, false
	}
	i, err := strconv.Atoi(name)
	return i, err == nil && i >= 0 && chunkName(i) == name
}

// Commit checks the chunk files and renames the upload's folder to the
// object's.
func (s *Store) Commit(ctx context.Context, id, handle string, size int64) error {
	if err := checkID(id); err != nil {
		return err
	}
	up, obj := s.uploadDir(id), s.objectDir(id)
	if ok, err := exists(up); err != nil {
		return err
	} else if !ok {
		if ok, err := exists(obj); err != nil || ok {
			return err // already committed
		}
		return fmt.Errorf("upload %s: %w", id, storage.ErrNotFound)
	}
	for i := range storage.NumChunks(size) {
		fi, err := os.Stat(filepath.Join(up, chunkName(i)))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("upload %s chunk %d: %w", id, i, storage.ErrIncomplete)
		}
		if err != nil {
			return err
		}
		if fi.Size() != storage.ChunkLen(i, size) {
			return fmt.Errorf("upload %s chunk %d has %d bytes, want %d: %w", id, i, fi.Size(), storage.ChunkLen(i, size), storage.ErrIncomplete)
		}
	}
	parent := filepath.Dir(obj)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	if err := syncDir(up); err != nil {
		return err
	}
	if err := os.Rename(up, obj); err != nil {
		return err
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return syncDir(filepath.Dir(up))
}

// AbortUpload moves the upload's folder to the trash and removes it.
func (s *Store) AbortUpload(ctx context.Context, id, handle string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return s.discard(s.uploadDir(id))
}

// Delete moves the object's folder to the trash and removes it.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return s.discard(s.objectDir(id))
}

func (s *Store) discard(dir string) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	trash := filepath.Join(s.root, "trash", filepath.Base(dir)+"."+hex.EncodeToString(rnd[:]))
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// emptyTrash finishes removals a crash interrupted.
func (s *Store) emptyTrash() {
	dir := filepath.Join(s.root, "trash")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// Open returns a reader that walks the object's chunk files.
func (s *Store) Open(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("fs: invalid range %d+%d", off, n)
	}
	dir := s.objectDir(id)
	r := &objectReader{dir: dir, off: off, left: n}
	if n == 0 {
		if ok, err := exists(dir); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("object %s: %w", id, storage.ErrNotFound)
		}
		return r, nil
	}
	if err := r.next(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("object %s: %w", id, storage.ErrNotFound)
		}
		return nil, err
	}
	return r, nil
}

// objectReader reads [off, off+left) across chunk files, one open at a time.
type objectReader struct {
	dir   string
	off   int64 // object offset of the next byte
	left  int64 // bytes still to return
	f     *os.File
	fLeft int64 // bytes left to read in f for this range
}

// next opens the chunk file holding r.off.
func (r *objectReader) next() error {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	idx := int(r.off / storage.ChunkSize)
	in := r.off % storage.ChunkSize
	f, err := os.Open(filepath.Join(r.dir, chunkName(idx)))
	if err != nil {
		return err
	}
	if in > 0 {
		if _, err := f.Seek(in, io.SeekStart); err != nil {
			f.Close()
			return err
		}
	}
	r.f = f
	r.fLeft = min(r.left, storage.ChunkSize-in)
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if r.f == nil || r.fLeft == 0 {
		if err := r.next(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("fs: object chunk vanished: %w", io.ErrUnexpectedEOF)
			}
			return 0, err
		}
	}
	if int64(len(p)) > r.fLeft {
		p = p[:r.fLeft]
	}
	m, err := r.f.Read(p)
	r.off += int64(m)
	r.left -= int64(m)
	r.fLeft -= int64(m)
	if err == io.EOF {
		if r.fLeft > 0 {
			return m, io.ErrUnexpectedEOF // a chunk file shorter than Commit checked
		}
		err = nil
	}
	if r.left == 0 && err == nil {
		r.f.Close()
		r.f = nil
		return m, io.EOF
	}
	return m, err
}

// readBufs are the buffers objectReader.WriteTo reads through: larger
// reads than io.Copy's 32 KiB cost fewer system calls (a cold read of a
// GiB took 1.3 s of CPU in 32 KiB reads and 0.6 s in 1 MiB ones on the
// benchmark machine); 256 KiB keeps the memory of many downloads small.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// WriteTo copies the rest of the range to w (io.Copy uses it, so that a
// download reads the object in large pieces).
func (r *objectReader) WriteTo(w io.Writer) (int64, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	// Only the Reader and Writer methods: io.CopyBuffer must not call this
	// WriteTo again, nor a ReaderFrom of w that would read in pieces of
	// its own size.
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, *bp)
}

func (r *objectReader) Close() error {
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}

func (s *Store) recordPath(key string) string {
	return filepath.Join(s.root, "records", filepath.FromSlash(key))
}

// PutRecord writes a temporary file next to the record, syncs it and
// renames it over the record.
func (s *Store) PutRecord(ctx context.Context, key string, value []byte) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("%w: record key %q", storage.ErrInvalidKey, key)
	}
	path := s.recordPath(key)
	dir := filepath.Dir(path)
	var err error
	// A concurrent DeleteRecord may remove the (empty) folder between
	// MkdirAll and CreateTemp; try again then.
	for range 5 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err = writeAtomic(dir, path, value); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

func writeAtomic(dir, path string, value []byte) (err error) {
	f, err := os.CreateTemp(dir, ".rec.*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(value); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// GetRecord reads the record's file.
func (s *Store) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if !storage.ValidKey(key) {
		return nil, fmt.Errorf("%w: record key %q", storage.ErrInvalidKey, key)
	}
	b, err := os.ReadFile(s.recordPath(key))
	if errors.Is(err, fs.ErrNotExist) || isDirErr(err) {
		return nil, fmt.Errorf("record %s: %w", key, storage.ErrNotFound)
	}
	return b, err
}

func isDirErr(err error) bool { return errors.Is(err, syscall.EISDIR) }

// DeleteRecord removes the record's file, and its folders if they are
// left empty.
func (s *Store) DeleteRecord(ctx context.Context, key string) error {
	if !storage.ValidKey(key) {
		return fmt.Errorf("%w: record key %q", storage.ErrInvalidKey, key)
	}
	path := s.recordPath(key)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return err
	}
	top := filepath.Join(s.root, "records")
	for dir != top && strings.HasPrefix(dir, top) {
		if os.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
		dir = filepath.Dir(dir)
	}
	return nil
}

// ListRecords walks the records folder under prefix; folder entries come
// sorted by name, which is the keys' byte order.
func (s *Store) ListRecords(ctx context.Context, prefix string, fn func(key string) error) error {
	if !storage.ValidPrefix(prefix) {
		return fmt.Errorf("%w: record prefix %q", storage.ErrInvalidKey, prefix)
	}
	err := s.walk(ctx, filepath.Join(s.root, "records", filepath.FromSlash(prefix)), prefix, fn)
	if errors.Is(err, storage.ErrStop) {
		return nil
	}
	return err
}

func (s *Store) walk(ctx context.Context, dir, prefix string, fn func(string) error) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // a temporary file
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if err := s.walk(ctx, filepath.Join(dir, name), prefix+name+"/", fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(prefix + name); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
