package attachment

import (
	"crypto/cipher"
	"io"
	"runtime"
)

// Tuning constants (not part of the format).
const (
	// blockSize is the unit in which ciphertext is written to the caller's
	// writer, read from the caller's reader and handed to the hashes. It
	// divides ChunkSize and keeps a block in a core's L2 cache.
	blockSize = 256 << 10
	// ringSize is the number of blocks in flight when the hashes run on
	// helper goroutines. Memory per operation is at most
	// (ringSize+1)*blockSize.
	ringSize = 4
)

// newCTR returns AES-256-CTR under key with the all-zero initial counter
// block; cipher.NewCTR increments the whole 128-bit block big-endian.
func newCTR(key Key) cipher.Stream { return NewStreamAt(key, 0) }

// parallelOK reports whether hashing may run on helper goroutines: only when
// the process may run more than one goroutine at a time.
func parallelOK() bool { return runtime.GOMAXPROCS(0) > 1 }

// A pipe feeds blocks of ciphertext, in order, to one or two hashes
// ("stages"). Before start it hashes inline in submit, using a single
// buffer. After start every stage runs on its own goroutine: submit returns
// at once, and the block's buffer stays busy until every stage has
// acknowledged it, so at most ringSize blocks are in flight. The stages may
// be read only after wait (the channel operations order the accesses).
type pipe struct {
	stages   [2]io.Writer
	nstages  int
	ring     [][]byte // block buffers; one until start, ringSize after
	next     int      // ring index that slot hands out next
	inflight int      // submitted blocks not yet acknowledged by all stages
	w        *workers // nil when hashing inline
	small    int      // if > 0, the size of the single buffer; never started then
}

// workers holds the channels of the stage goroutines. It holds no reference
// to the pipe's owner, so an abandoned Encrypter can be collected and its
// cleanup can stop the goroutines.
type workers struct {
	n   int
	in  [2]chan []byte
	ack [2]chan struct{}
}

func (w *workers) close() {
	for i := range w.n {
		close(w.in[i])
	}
}

func stageLoop(h io.Writer, in <-chan []byte, ack chan<- struct{}) {
	for b := range in {
		h.Write(b)
		ack <- struct{}{} // never blocks: cap(ack) >= blocks in flight
	}
}

func (p *pipe) add(h io.Writer) {
	p.stages[p.nstages] = h
	p.nstages++
}

// start moves the stages to helper goroutines.
func (p *pipe) start() {
	if p.w != nil {
		return
	}
	for len(p.ring) < ringSize {
		p.ring = append(p.ring, make([]byte, blockSize))
	}
	w := &workers{n: p.nstages}
	for i := range p.nstages {
		w.in[i] = make(chan []byte, ringSize)
		w.ack[i] = make(chan struct{}, ringSize)
		go stageLoop(p.stages[i], w.in[i], w.ack[i])
	}
	p.w = w
	p.next = 0
}

// slot returns a free buffer for the next block: blockSize bytes, or the
// small size set by a caller that knows its stream is shorter.
func (p *pipe) slot() []byte {
	if len(p.ring) == 0 {
		n := blockSize
		if p.small > 0 {
			n = min(n, p.small)
		}
		p.ring = append(p.ring, make([]byte, n))
	}
	if p.w == nil {
		return p.ring[0]
	}
	if p.inflight == len(p.ring) {
		p.ackOldest()
	}
	return p.ring[p.next]
}

// submit hashes b, a prefix of the buffer slot returned last. After start it
// only queues b; b must then not be modified until it is acknowledged.
func (p *pipe) submit(b []byte) {
	if p.w == nil {
		for i := range p.nstages {
			p.stages[i].Write(b)
		}
		return
	}
	for i := range p.w.n {
		p.w.in[i] <- b // never blocks: cap(in) >= blocks in flight
	}
	p.next = (p.next + 1) % len(p.ring)
	p.inflight++
}

func (p *pipe) ackOldest() {
	for i := range p.w.n {
		<-p.w.ack[i]
	}
	p.inflight--
}

// wait returns once every submitted block has been hashed.
func (p *pipe) wait() {
	for p.inflight > 0 {
		p.ackOldest()
	}
}

// stop waits for the stages, ends the helper goroutines and drops the buffers.
func (p *pipe) stop() {
	if p.w != nil {
		p.wait()
		p.w.close()
		p.w = nil
	}
	p.ring = nil
}
