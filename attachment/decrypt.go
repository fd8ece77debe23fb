package attachment

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Verify checks that src holds exactly size bytes whose signature is sig.
// It returns nil if so, ErrCannotOpen if not, and the error of src if
// reading failed for another reason. It reads src once and needs no key, so
// a blob store can use it on uploads.
func Verify(src io.ReaderAt, size int64, sig Signature) error {
	return opaque(verify(src, size, sig, parallelOK()))
}

// Decrypt checks that src holds exactly size bytes of ciphertext whose
// signature is sig, and only then decrypts them under key to dst.
//
// It reads src twice. The first pass hashes the ciphertext and compares the
// signature in constant time; on a mismatch Decrypt returns ErrCannotOpen
// without writing anything to dst. The second pass decrypts and hashes again,
// and compares again at the end: if src changed between the passes, Decrypt
// returns ErrCannotOpen after having written plaintext of the changed
// ciphertext to dst. So whenever Decrypt returns an error, the caller must
// discard what dst received; DecryptFile does that for files.
//
// Errors other than ErrCannotOpen come from src or dst and are wrapped.
//
// The signature covers the ciphertext only: a wrong key with the right
// signature decrypts without error to garbage. The key and the signature
// travel together in the authenticated message, so a mismatched pair means
// the message itself was forged, which the message layer detects.
func Decrypt(dst io.Writer, src io.ReaderAt, size int64, key Key, sig Signature) error {
	return opaque(decrypt(dst, src, size, key, sig, parallelOK()))
}

// DecryptFile is Decrypt to a file: it decrypts into a new temporary file
// in the directory of finalPath, with mode 0600, syncs it, and renames it to
// finalPath only if both signature checks passed. On any error the temporary
// file is removed and finalPath is not touched. An existing file at
// finalPath is replaced atomically. Errors other than ErrCannotOpen come
// from src or the file system. After the rename DecryptFile also syncs the
// directory where the system allows it.
func DecryptFile(finalPath string, src io.ReaderAt, size int64, key Key, sig Signature) error {
	return opaque(decryptFile(finalPath, src, size, key, sig, parallelOK()))
}

func verify(src io.ReaderAt, size int64, sig Signature, parallel bool) error {
	var p pipe
	defer p.stop()
	_, err := firstPass(&p, src, size, sig, parallel)
	return err
}

// firstPass checks the length of src and the signature of its first size
// bytes. It leaves p set up with the signature hash h as its only stage,
// with every submitted block hashed.
func firstPass(p *pipe, src io.ReaderAt, size int64, sig Signature, parallel bool) (h hash.Hash, err error) {
	if size < 0 {
		return nil, failSize
	}
	// Refuse a longer source now: the signature only covers size bytes.
	var one [1]byte
	if n, err := src.ReadAt(one[:], size); n > 0 {
		return nil, failLong
	} else if err != nil && err != io.EOF {
		return nil, readError(err)
	}
	h = newSignatureHash()
	p.add(h)
	if parallel && size > blockSize {
		p.start()
	} else if size < blockSize {
		p.small = int(size) // a small file gets a small buffer
	}
	for off := int64(0); off < size; {
		b := p.slot()[:min(blockSize, size-off)]
		if err := readFullAt(src, b, off); err != nil {
			return nil, err
		}
		p.submit(b)
		off += int64(len(b))
	}
	p.wait()
	if got := signatureOf(h); !got.Equal(sig) {
		return nil, failSignature
	}
	return h, nil
}

func decrypt(dst io.Writer, src io.ReaderAt, size int64, key Key, sig Signature, parallel bool) error {
	var p pipe
	defer p.stop()
	h, err := firstPass(&p, src, size, sig, parallel)
	if err != nil {
		return err
	}
	// Second pass: decrypt, and hash again exactly the bytes decrypted. The
	// stage goroutine is idle (firstPass waited), so h may be reset here.
	h.Reset()
	io.WriteString(h, signatureSalt)
	ctr := newCTR(key)
	out := make([]byte, min(blockSize, size)) // a small file, a small buffer
	for off := int64(0); off < size; {
		b := p.slot()[:min(blockSize, size-off)]
		if err := readFullAt(src, b, off); err != nil {
			if err == failShort {
				err = failChanged
			}
			return err
		}
		p.submit(b)
		o := out[:len(b)]
		ctr.XORKeyStream(o, b)
		if n, err := dst.Write(o); err != nil || n < len(o) {
			if err == nil {
				err = io.ErrShortWrite
			}
			return fmt.Errorf("attachment: writing plaintext: %w", err)
		}
		off += int64(len(b))
	}
	p.wait()
	if got := signatureOf(h); !got.Equal(sig) {
		return failChanged
	}
	return nil
}

// readFullAt fills b from src at off. A source that ends early is a
// verification failure, not an I/O error.
func readFullAt(src io.ReaderAt, b []byte, off int64) error {
	n, err := src.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return failShort
	}
	return readError(err)
}

func readError(err error) error { return fmt.Errorf("attachment: reading ciphertext: %w", err) }

func decryptFile(finalPath string, src io.ReaderAt, size int64, key Key, sig Signature, parallel bool) (err error) {
	dir := filepath.Dir(finalPath)
	f, err := os.CreateTemp(dir, ".sealpost-attachment-*.partial") // mode 0600
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
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = decrypt(f, src, size, key, sig, parallel); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, finalPath); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the system supports syncing
// a directory; where it does not, there is nothing more to do.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
