package attachment

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"runtime"
)

// EncryptAt encrypts src, the bytes at offset off of a file, under key into
// dst: dst[i] = src[i] XOR the key stream at off+i. It gives the same bytes
// as an Encrypter fed the whole file, so chunks of one file can be encrypted
// on their own, in any order and concurrently. AES-CTR is its own inverse:
// the same call decrypts. It computes no signature or checksum. dst must be
// at least as long as src; they may be the same slice, but must not overlap
// otherwise. It panics if off is negative.
func EncryptAt(dst, src []byte, key Key, off int64) {
	NewStreamAt(key, off).XORKeyStream(dst[:len(src)], src)
}

// NewStreamAt returns the key stream of key from byte off of a file on:
// XORKeyStream over the bytes from off on, in as many calls as suit the
// caller, is EncryptAt over all of them at once. It panics if off is
// negative.
func NewStreamAt(key Key, off int64) cipher.Stream {
	if off < 0 {
		panic("attachment: a key stream at a negative offset")
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("attachment: " + err.Error()) // unreachable: the key has 32 bytes
	}
	// The counter block of byte off is off/16, big-endian over 128 bits; an
	// int64 offset never reaches the upper half.
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	ctr := cipher.NewCTR(block, iv[:])
	if skip := int(off % aes.BlockSize); skip > 0 {
		var waste [aes.BlockSize]byte
		ctr.XORKeyStream(waste[:skip], waste[:skip])
	}
	return ctr
}

// Decrypter decrypts a stream of ciphertext written to it into an
// underlying writer, in one pass, and checks it against its size and
// signature at Close. Create one with NewDecrypter; it is not safe for
// concurrent use.
//
// Unlike Decrypt, a Decrypter writes plaintext BEFORE the ciphertext has
// been checked: what the underlying writer receives is unverified until
// Close returns nil, and must be thrown away if Close returns anything else
// (or is never called). Write to something that can be discarded whole,
// such as a temporary file that is renamed into place only after Close
// returned nil. Its use is a download that should be read once, with the
// signature check and the decryption in the same pass.
//
// Plaintext reaches the underlying writer in blocks of 256 KiB as they fill
// up; Flush and Close write the last, partial block. Write and ReadFrom
// refuse more ciphertext than the stated size with ErrCannotOpen. The first
// error of the underlying writer, and ErrCannotOpen, are sticky.
type Decrypter struct {
	dst  io.Writer
	ctr  cipher.Stream
	sig  hash.Hash
	want Signature
	size int64 // stated size of the ciphertext
	p    pipe
	out  []byte // plaintext of the block being written

	cur  []byte // block being filled, from p.slot; nil between blocks
	fill int
	n    int64 // ciphertext bytes taken

	parallel   bool
	cleanup    runtime.Cleanup
	hasCleanup bool

	err    error // sticky: a write error of dst, or a failure
	closed bool
}

// NewDecrypter returns a Decrypter that decrypts under key, into dst, a
// ciphertext that must be exactly size bytes with signature sig.
func NewDecrypter(dst io.Writer, key Key, size int64, sig Signature) *Decrypter {
	return newDecrypter(dst, key, size, sig, parallelOK())
}

func newDecrypter(dst io.Writer, key Key, size int64, sig Signature, parallel bool) *Decrypter {
	d := &Decrypter{dst: dst, ctr: newCTR(key), sig: newSignatureHash(), want: sig, size: size, parallel: parallel}
	if size < 0 {
		d.err = failSize
	}
	d.p.add(d.sig)
	if size < blockSize {
		d.p.small = int(max(size, 1)) // a small file gets small buffers
	}
	return d
}

// Len returns the number of ciphertext bytes the Decrypter has taken.
func (d *Decrypter) Len() int64 { return d.n }

// Write decrypts more of the ciphertext. It returns ErrCannotOpen if the
// ciphertext would pass its stated size, and the error of the underlying
// writer (wrapped) if writing plaintext failed now or earlier.
func (d *Decrypter) Write(p []byte) (int, error) {
	if err := d.usable(); err != nil {
		return 0, err
	}
	if int64(len(p)) > d.size-d.n {
		d.err = failLong
		return 0, ErrCannotOpen
	}
	n := 0
	for len(p) > 0 {
		if d.cur == nil {
			d.cur = d.p.slot()
		}
		k := copy(d.cur[d.fill:], p)
		d.fill += k
		d.n += int64(k)
		n += k
		p = p[k:]
		if d.fill == len(d.cur) {
			if err := d.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom decrypts everything from r until io.EOF, reading straight into
// the Decrypter's buffers (io.Copy uses it), and returns the number of
// bytes read. It returns ErrCannotOpen if r holds more than the stated
// size. An error of r is returned as is and leaves the Decrypter usable,
// so that a dropped download can go on from Len with another reader.
func (d *Decrypter) ReadFrom(r io.Reader) (int64, error) {
	if err := d.usable(); err != nil {
		return 0, err
	}
	var total int64
	for {
		if d.cur == nil {
			d.cur = d.p.slot()
		}
		buf := d.cur[d.fill:]
		if left := d.size - d.n; int64(len(buf)) > left {
			// Read one byte more than is left: a longer stream is refused.
			buf = buf[:left+1]
		}
		m, err := r.Read(buf)
		if int64(m) > d.size-d.n {
			d.err = failLong
			return total, ErrCannotOpen
		}
		if m > 0 {
			d.fill += m
			d.n += int64(m)
			total += int64(m)
			if d.fill == len(d.cur) {
				if err := d.flush(); err != nil {
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

func (d *Decrypter) usable() error {
	if d.closed {
		return errClosed
	}
	return opaque(d.err)
}

// Flush decrypts and writes the ciphertext taken so far that is still
// buffered, so that the underlying writer holds the plaintext of exactly
// Len bytes. It does not check anything.
func (d *Decrypter) Flush() error {
	if err := d.usable(); err != nil {
		return err
	}
	return d.flush()
}

// flush decrypts the current block into d.out, writes it to dst and hands
// the ciphertext to the signature hash.
func (d *Decrypter) flush() error {
	b := d.cur[:d.fill]
	d.cur, d.fill = nil, 0
	if len(b) == 0 {
		return nil
	}
	if d.parallel && d.p.w == nil && len(b) == blockSize {
		// More than one block: worth overlapping AES and SHA-1.
		d.p.start()
		d.cleanup = runtime.AddCleanup(d, (*workers).close, d.p.w)
		d.hasCleanup = true
	}
	d.p.submit(b) // the hash only reads b, as the decryption below does
	if len(d.out) < len(b) {
		d.out = make([]byte, len(d.p.ring[0]))
	}
	o := d.out[:len(b)]
	d.ctr.XORKeyStream(o, b)
	n, err := d.dst.Write(o)
	if err == nil && n < len(o) {
		err = io.ErrShortWrite
	}
	if err != nil {
		d.err = fmt.Errorf("attachment: writing plaintext: %w", err)
		return d.err
	}
	return nil
}

// Close writes the last block and checks the whole ciphertext: it returns
// nil only if exactly the stated size was written and matches the
// signature (compared in constant time). Otherwise it returns ErrCannotOpen
// (or the sticky error of the underlying writer), and everything the
// underlying writer received must be thrown away. It does not close the
// underlying writer. Closing twice returns the first result again.
func (d *Decrypter) Close() error {
	if d.closed {
		return opaque(d.err)
	}
	if d.err == nil && d.cur != nil {
		d.flush()
	}
	d.closed = true
	if d.hasCleanup {
		d.cleanup.Stop()
		d.hasCleanup = false
	}
	d.p.stop() // waits for the hash
	d.out = nil
	if d.err != nil {
		return opaque(d.err)
	}
	switch {
	case d.n < d.size:
		d.err = failShort
	case !signatureOf(d.sig).Equal(d.want):
		d.err = failSignature
	}
	return opaque(d.err)
}
