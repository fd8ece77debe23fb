package embedded

import (
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
)

// CrashFS is an in-memory FS that simulates power loss. Written data is
// durable only after the file's Sync; a created or removed name only after
// SyncDir of its folder. Image returns the files as a machine would find
// them after losing power at that moment: synced data, plus a random
// prefix of what was written but not synced (sometimes with damaged
// bytes), under the names last made durable. With CrashAt set, the n-th
// mutating operation (create, write, sync, truncate, remove, dir sync)
// and every later one fail, as if the power went out just before it.
type CrashFS struct {
	mu      sync.Mutex
	rng     *rand.Rand
	files   map[string]*memFile // the names the running program sees
	durable map[string]*memFile // the names that survive a crash
	dirs    map[string]bool
	ops     int64
	crashAt int64
	crashed bool
}

type memFile struct {
	mu        sync.Mutex
	data      []byte
	syncedLen int
}

var errCrashed = errors.New("crashfs: power lost")

// NewCrashFS returns an empty layer; seed drives the torn tails of Image.
func NewCrashFS(seed uint64) *CrashFS {
	return &CrashFS{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), files: map[string]*memFile{}, durable: map[string]*memFile{}, dirs: map[string]bool{}}
}

// CrashAt makes the n-th mutating operation from now and all later ones
// fail. Zero disables.
func (c *CrashFS) CrashAt(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashAt = c.ops + n
	if n == 0 {
		c.crashAt = 0
	}
}

// Ops returns the number of mutating operations so far.
func (c *CrashFS) Ops() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// Crashed reports whether the simulated power loss has happened.
func (c *CrashFS) Crashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

// step counts a mutating operation; it reports errCrashed from the crash
// point on. Called with c.mu held.
func (c *CrashFS) step() error {
	if c.crashed {
		return errCrashed
	}
	c.ops++
	if c.crashAt > 0 && c.ops >= c.crashAt {
		c.crashed = true
		return errCrashed
	}
	return nil
}

// Image returns the state after a power loss now.
func (c *CrashFS) Image(seed uint64) *CrashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := NewCrashFS(seed)
	for d := range c.dirs {
		img.dirs[d] = true
	}
	for name, f := range c.durable {
		f.mu.Lock()
		keep := f.syncedLen
		if extra := len(f.data) - f.syncedLen; extra > 0 {
			keep += c.rng.IntN(extra + 1)
		}
		data := slices.Clone(f.data[:keep])
		if keep > f.syncedLen && c.rng.IntN(4) == 0 {
			// Damage a byte of the unsynced part that made it.
			i := f.syncedLen + c.rng.IntN(keep-f.syncedLen)
			data[i] ^= byte(1 + c.rng.IntN(255))
		}
		f.mu.Unlock()
		nf := &memFile{data: data, syncedLen: len(data)}
		img.files[name] = nf
		img.durable[name] = nf
	}
	return img
}

// Bytes returns the current content of every file, for scans.
func (c *CrashFS) Bytes() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	for n, f := range c.files {
		f.mu.Lock()
		out[n] = slices.Clone(f.data)
		f.mu.Unlock()
	}
	return out
}

func (c *CrashFS) MkdirAll(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirs[filepath.Clean(dir)] = true
	return nil
}

func (c *CrashFS) List(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir = filepath.Clean(dir)
	var out []string
	for n := range c.files {
		if filepath.Dir(n) == dir {
			out = append(out, filepath.Base(n))
		}
	}
	slices.Sort(out)
	return out, nil
}

func (c *CrashFS) Create(path string) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return nil, err
	}
	path = filepath.Clean(path)
	if _, ok := c.files[path]; ok {
		return nil, errors.New("crashfs: exists")
	}
	f := &memFile{}
	c.files[path] = f
	return &memHandle{fs: c, f: f}, nil
}

func (c *CrashFS) Open(path string) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[filepath.Clean(path)]
	if !ok {
		return nil, errors.New("crashfs: no such file")
	}
	return &memHandle{fs: c, f: f}, nil
}

func (c *CrashFS) Remove(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	delete(c.files, filepath.Clean(path))
	return nil
}

func (c *CrashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	for n := range c.durable {
		if filepath.Dir(n) == dir {
			if _, ok := c.files[n]; !ok {
				delete(c.durable, n)
			}
		}
	}
	for n, f := range c.files {
		if filepath.Dir(n) == dir {
			c.durable[n] = f
		}
	}
	return nil
}

type memHandle struct {
	fs     *CrashFS
	f      *memFile
	closed bool
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) Write(p []byte) (int, error) {
	h.fs.mu.Lock()
	err := h.fs.step()
	h.fs.mu.Unlock()
	if err != nil {
		return 0, err
	}
	h.f.mu.Lock()
	h.f.data = append(h.f.data, p...)
	h.f.mu.Unlock()
	return len(p), nil
}

func (h *memHandle) Sync() error {
	h.fs.mu.Lock()
	err := h.fs.step()
	h.fs.mu.Unlock()
	if err != nil {
		return err
	}
	h.f.mu.Lock()
	h.f.syncedLen = len(h.f.data)
	h.f.mu.Unlock()
	return nil
}

func (h *memHandle) Truncate(size int64) error {
	h.fs.mu.Lock()
	err := h.fs.step()
	h.fs.mu.Unlock()
	if err != nil {
		return err
	}
	h.f.mu.Lock()
	if int(size) < len(h.f.data) {
		h.f.data = h.f.data[:size]
	}
	h.f.syncedLen = min(h.f.syncedLen, len(h.f.data))
	h.f.mu.Unlock()
	return nil
}

func (h *memHandle) Size() (int64, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return int64(len(h.f.data)), nil
}

func (h *memHandle) Close() error { h.closed = true; return nil }
