package blobs

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/sealpost/sealpost/internal/directio"
)

// plainFile writes the plaintext of a download, sequentially, to its
// temporary file. Where the system has direct I/O (Linux), it gathers the
// plaintext in aligned buffers of 1 MiB that a goroutine of its own writes
// to the device in order while the caller decrypts the next ones: the file
// is synced before it is renamed anyway, and going through the page cache
// cost 1.5 to 2 CPU-seconds per GiB on the benchmark machine. Elsewhere,
// or if the file system refuses direct I/O, it writes through the page
// cache and starts the write-back as it goes (writeBehind), so that the
// final sync does not wait for the whole file.
//
// finish must be called before the file is read, synced or closed; after
// it, Write must not be called.
type plainFile struct {
	f      *os.File
	direct bool
	wb     writeBehind // when not direct

	cur  []byte      // buffer being filled (direct)
	free chan []byte // buffers the writer is done with; nil ones are allocated on first use
	full chan []byte // buffers to write, in order
	done chan struct{}

	mu  sync.Mutex
	err error // first write error (of the writer goroutine, or of finish)

	finished bool
}

const (
	directBufSize = 1 << 20 // a multiple of directio.Align
	directBuffers = 3
)

func newPlainFile(f *os.File) *plainFile {
	p := &plainFile{f: f, wb: writeBehind{f: f}}
	if !directio.Set(f, true) {
		return p
	}
	p.direct = true
	p.free = make(chan []byte, directBuffers)
	p.full = make(chan []byte, directBuffers)
	p.done = make(chan struct{})
	for range directBuffers {
		p.free <- nil
	}
	go p.writer()
	return p
}

func (p *plainFile) writer() {
	defer close(p.done)
	for b := range p.full {
		if p.failed() == nil {
			if err := p.writeOut(b); err != nil {
				p.fail(err)
			}
		}
		p.free <- b[:0]
	}
}

// writeOut writes b at the end of the file: direct if b's length allows,
// through the page cache otherwise (the end of the file) or if the device
// refuses (blocks larger than directio.Align: nothing is written then).
func (p *plainFile) writeOut(b []byte) error {
	if p.direct && len(b)%directio.Align != 0 {
		p.direct = directio.Set(p.f, false)
	}
	_, err := p.f.Write(b)
	if p.direct && errors.Is(err, syscall.EINVAL) {
		p.direct = directio.Set(p.f, false)
		_, err = p.f.Write(b)
	}
	return err
}

func (p *plainFile) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *plainFile) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *plainFile) Write(b []byte) (int, error) {
	if p.free == nil {
		return p.wb.Write(b)
	}
	if err := p.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = <-p.free
			if p.cur == nil {
				p.cur = directio.Alloc(directBufSize)[:0]
			}
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+k]
		n += k
		b = b[k:]
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = nil
		}
	}
	return n, nil
}

// finish writes what is still buffered, stops the writer goroutine and
// returns the first write error. It may be called more than once.
func (p *plainFile) finish() error {
	if p.free == nil || p.finished {
		return p.failed()
	}
	p.finished = true
	close(p.full)
	<-p.done // the writer owns p.direct until then
	if len(p.cur) > 0 && p.failed() == nil {
		if err := p.writeOut(p.cur); err != nil {
			p.fail(err)
		}
	}
	p.cur = nil
	return p.failed()
}
