package message

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// isGzip reports whether b starts with the gzip magic 1f 8b.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

var gzipReaders sync.Pool // *gzip.Reader

// gunzip decompresses the single gzip member b. It reads at most
// MaxDecompressedSize+1 bytes of output: one more means ErrTooLarge, so a
// decompression bomb costs at most that much memory and the time to inflate
// it. The CRC-32 and length in the trailer are checked, and nothing may
// follow the member.
func gunzip(b []byte) ([]byte, error) {
	br := bytes.NewReader(b)
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: gzip header: %v", ErrMalformed, err)
	}
	defer gzipReaders.Put(zr)
	zr.Multistream(false)
	out, err := readAtMost(zr, MaxDecompressedSize+1, sizeHint(b))
	switch {
	case len(out) > MaxDecompressedSize:
		return nil, fmt.Errorf("%w: decompresses to more than MaxDecompressedSize (%d) bytes", ErrTooLarge, MaxDecompressedSize)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: gzip stream truncated", ErrMalformed)
	case err != nil:
		return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
	case br.Len() != 0:
		return nil, fmt.Errorf("%w: %d bytes after the gzip member", ErrMalformed, br.Len())
	}
	return out, nil
}

// sizeHint returns the capacity to start the output with: the length the
// gzip trailer declares (ISIZE, untrusted) plus one, so that an honest
// message is read with one allocation and no copy, capped so that a lying
// trailer costs at most MaxDecompressedSize+1 bytes.
func sizeHint(b []byte) int {
	const minGzip = 18 // header and trailer
	if len(b) < minGzip {
		return 512
	}
	return min(int(binary.LittleEndian.Uint32(b[len(b)-4:])), MaxDecompressedSize) + 1
}

// readAtMost reads r to EOF, but no more than limit bytes (through an
// io.LimitReader), into a buffer of capacity hint. When that is too small
// the hint lied, and the buffer grows once, to limit: all it allocates is at
// most hint + limit bytes.
func readAtMost(r io.Reader, limit int, hint int) ([]byte, error) {
	lr := io.LimitReader(r, int64(limit))
	out := make([]byte, 0, min(hint, limit))
	for {
		if len(out) == limit {
			return out, nil
		}
		if len(out) == cap(out) {
			out = append(make([]byte, 0, limit), out...)
		}
		n, err := lr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return w
}}

// gzipBytes compresses b as one gzip member with an empty header: no name,
// modification time 0, as the other iMessage implementations write it.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b) // writes to a bytes.Buffer cannot fail
	zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
	return buf.Bytes()
}
