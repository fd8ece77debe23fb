package attachment

import (
	"crypto/cipher"
	"errors"
	"hash"
	"io"
	"runtime"
	"slices"
)

// Options tune an Encrypter. The zero value gives the defaults.
type Options struct {
	// SkipChunkChecksums leaves Summary.Chunks nil and saves the SHA-256
	// pass over the ciphertext (about half the CPU time of encryption). Use
	// it when the storage in use does not want chunk checksums, or computes
	// them itself.
	SkipChunkChecksums bool

	// force overrides parallelOK in tests: forceSequential or forceParallel.
	force int
}

const (
	forceSequential = 1
	forceParallel   = 2
)

var errClosed = errors.New("attachment: write to closed Encrypter")

// Encrypter encrypts a stream written to it and writes the ciphertext to an
// underlying writer, computing the Summary on the way. Create one with
// NewEncrypter; it is not safe for concurrent use.
//
// Ciphertext is written to the underlying writer in blocks of 256 KiB as
// they fill up; Close writes the last, partial block. The first error of the
// underlying writer is sticky: every later Write, ReadFrom and Close returns
// it.
type Encrypter struct {
	dst    io.Writer
	ctr    cipher.Stream
	sig    hash.Hash
	chunks *chunkHasher // nil with SkipChunkChecksums
	p      pipe

	cur  []byte // block being filled, from p.slot; nil between blocks
	fill int
	size int64

	parallel   bool
	cleanup    runtime.Cleanup
	hasCleanup bool

	err    error // sticky error of dst
	closed bool
	sum    Summary // valid when closed && err == nil
}

// NewEncrypter returns an Encrypter that writes the encryption of everything
// written to it to dst, under key, and computes the signature and the chunk
// checksums.
func NewEncrypter(dst io.Writer, key Key) *Encrypter {
	return NewEncrypterOptions(dst, key, Options{})
}

// NewEncrypterOptions is NewEncrypter with options.
func NewEncrypterOptions(dst io.Writer, key Key, opts Options) *Encrypter {
	e := &Encrypter{
		dst:      dst,
		ctr:      newCTR(key),
		sig:      newSignatureHash(),
		parallel: parallelOK(),
	}
	switch opts.force {
	case forceSequential:
		e.parallel = false
	case forceParallel:
		e.parallel = true
	}
	e.p.add(e.sig)
	if !opts.SkipChunkChecksums {
		e.chunks = newChunkHasher()
		e.p.add(e.chunks)
	}
	return e
}

// Write encrypts p. It returns an error only if writing to the underlying
// writer failed now or earlier, or if the Encrypter is closed.
func (e *Encrypter) Write(p []byte) (int, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if e.cur == nil {
			e.cur = e.p.slot()
		}
		k := min(len(p), len(e.cur)-e.fill)
		e.ctr.XORKeyStream(e.cur[e.fill:e.fill+k], p[:k])
		e.fill += k
		e.size += int64(k)
		n += k
		p = p[k:]
		if e.fill == len(e.cur) {
			if err := e.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom encrypts everything from r until io.EOF, reading straight into
// the Encrypter's buffers (io.Copy uses it). It returns the number of bytes
// read. An error of r is returned as is and leaves the Encrypter usable.
func (e *Encrypter) ReadFrom(r io.Reader) (int64, error) {
	if err := e.usable(); err != nil {
		return 0, err
	}
	var total int64
	for {
		if e.cur == nil {
			e.cur = e.p.slot()
		}
		m, err := r.Read(e.cur[e.fill:])
		if m > 0 {
			b := e.cur[e.fill : e.fill+m]
			e.ctr.XORKeyStream(b, b)
			e.fill += m
			e.size += int64(m)
			total += int64(m)
			if e.fill == len(e.cur) {
				if err := e.flush(); err != nil {
					return total, err
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (e *Encrypter) usable() error {
	if e.closed {
		return errClosed
	}
	return e.err
}

// flush writes the current block to dst and hands it to the hashes.
func (e *Encrypter) flush() error {
	b := e.cur[:e.fill]
	e.cur, e.fill = nil, 0
	if len(b) == 0 {
		return nil
	}
	n, err := e.dst.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = err
		return err
	}
	if e.parallel && e.p.w == nil && len(b) == blockSize {
		// More than one block: worth overlapping AES and the hashes.
		e.p.start()
		e.cleanup = runtime.AddCleanup(e, (*workers).close, e.p.w)
		e.hasCleanup = true
	}
	e.p.submit(b)
	return nil
}

// Close writes the last block and finishes the Summary. It does not close
// the underlying writer. Closing twice returns the first result again.
func (e *Encrypter) Close() error {
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.err == nil && e.cur != nil {
		e.flush()
	}
	if e.hasCleanup {
		e.cleanup.Stop()
		e.hasCleanup = false
	}
	e.p.stop() // waits for the hashes
	if e.err != nil {
		return e.err
	}
	e.sum = Summary{Signature: signatureOf(e.sig), Size: e.size}
	if e.chunks != nil {
		e.sum.Chunks = e.chunks.checksums()
	}
	return nil
}

// Sum returns the Summary of the encrypted stream. It panics unless Close
// has returned nil: before that the Summary does not exist, and after a
// write error it would describe a ciphertext nobody has.
func (e *Encrypter) Sum() Summary {
	if !e.closed || e.err != nil {
		panic("attachment: Encrypter.Sum called without a successful Close")
	}
	s := e.sum
	s.Chunks = slices.Clone(s.Chunks) // the caller may keep and modify it
	return s
}

// Encrypt encrypts all of src under key to dst and returns the Summary of
// the ciphertext. It is NewEncrypter, io.Copy and Close in one call.
func Encrypt(dst io.Writer, src io.Reader, key Key) (Summary, error) {
	e := NewEncrypter(dst, key)
	if _, err := e.ReadFrom(src); err != nil {
		e.Close()
		return Summary{}, err
	}
	if err := e.Close(); err != nil {
		return Summary{}, err
	}
	return e.sum, nil
}
