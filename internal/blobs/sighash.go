package blobs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
)

// In-order signature hashing.
//
// The signature is one SHA-1 over the whole blob, so it can only be
// computed in chunk order. A node hashes the chunks of the uploads it
// started as they arrive, in order, right after each has matched its
// checksum, while it is still in memory: complete then needs only to read
// back the chunks that could not be hashed in order (none, usually), not
// the whole blob. A chunk that arrives ahead of its predecessors (at most
// Config.Buffers-1 ahead) waits for them while they are being received on
// this node, and up to sigGrace for them to start arriving; otherwise
// (another node, a restart, a client that skips ahead) in-order hashing of
// that upload stops where it is, and complete reads the rest back from the
// store, as it would have without this. So an upload spread over several
// nodes costs its creating node one wait of sigGrace at most.
//
// Hashing chunks from memory checks the same bytes as reading them back:
// every stored chunk matched its checksum (SHA-256) before it was stored,
// so a chunk stored again has the same bytes.

const (
	// sigWait bounds how long a chunk waits for its predecessors to be
	// hashed while they are arriving on this node.
	sigWait = 10 * time.Second
	// sigGrace is how long a chunk waits for predecessors that are not
	// arriving yet: a client with several chunks in flight sends them in
	// order, but a sender that got its answer early sends its next chunk
	// before another sender has sent the chunk before it.
	sigGrace = 500 * time.Millisecond
	// sigStatesMax bounds the uploads hashed in order at once.
	sigStatesMax = 4096
)

// sigState is the in-order signature of one upload.
type sigState struct {
	mu        sync.Mutex
	h         *attachment.Hasher // the signature of chunks [0, next)
	next      int
	receiving map[int]int   // chunks being received on this node: index → requests
	moved     chan struct{} // closed and replaced when next moves or hashing stops
	stopped   bool          // in-order hashing gave up; complete reads from next on
	taken     bool          // complete has the hash
	created   time.Time
}

// startSig begins in-order hashing for a new upload, if there is room.
func (s *Service) startSig(id string) {
	now := s.now()
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if len(s.sigs) >= sigStatesMax {
		for k, st := range s.sigs { // uploads that were abandoned long ago
			if now.Sub(st.created) > s.uploadTTL {
				delete(s.sigs, k)
			}
		}
		if len(s.sigs) >= sigStatesMax {
			return
		}
	}
	s.sigs[id] = &sigState{
		h:         attachment.NewHasherOptions(attachment.Options{SkipChunkChecksums: true}),
		receiving: map[int]int{},
		moved:     make(chan struct{}),
		created:   now,
	}
}

func (s *Service) sig(id string) *sigState {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	return s.sigs[id]
}

// dropSig forgets the in-order hash of an upload that is gone.
func (s *Service) dropSig(id string) {
	s.sigMu.Lock()
	delete(s.sigs, id)
	s.sigMu.Unlock()
}

// receivingChunk notes that chunk index of upload id is arriving on this
// node, until the returned function is called.
func (s *Service) receivingChunk(id string, index int) func() {
	st := s.sig(id)
	if st == nil {
		return func() {}
	}
	st.mu.Lock()
	st.receiving[index]++
	st.wake() // a chunk waiting for this one may now wait longer
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		if st.receiving[index]--; st.receiving[index] == 0 {
			delete(st.receiving, index)
			st.wake() // a chunk waiting for this one looks again
		}
		st.mu.Unlock()
	}
}

// hashInOrder adds chunk index, which has matched its checksum, to the
// upload's in-order signature: at once if it is the next one, after
// waiting for its predecessors if they are arriving on this node (or start
// to, soon), or not at all (and in-order hashing stops) otherwise.
func (s *Service) hashInOrder(ctx context.Context, id string, index int, chunk []byte) {
	st := s.sig(id)
	if st == nil {
		return
	}
	start := time.Now()
	for {
		st.mu.Lock()
		if st.stopped || st.taken || index < st.next {
			st.mu.Unlock()
			return
		}
		if index == st.next {
			st.h.Write(chunk)
			st.next++
			st.wake()
			st.mu.Unlock()
			return
		}
		// Each waiting chunk holds a buffer: wait only within a window
		// that leaves one for the chunk they wait for.
		limit := time.Duration(0)
		if index-st.next < cap(s.bufs) {
			limit = s.sigGrace
			if st.predecessorsArriving(index) {
				limit = sigWait
			}
		}
		left := limit - time.Since(start)
		moved := st.moved
		next := st.next
		if left <= 0 {
			st.stop()
			st.mu.Unlock()
			s.log.Debug("blobs: in-order signature stopped: a chunk came before its predecessor", logID(id), "chunk", index, "next", next)
			return
		}
		st.mu.Unlock()
		t := time.NewTimer(left)
		select {
		case <-moved:
			t.Stop()
			continue
		case <-t.C:
			continue // stops above, unless the predecessors started arriving
		case <-ctx.Done():
			t.Stop()
		}
		st.mu.Lock()
		st.stop()
		st.mu.Unlock()
		s.log.Debug("blobs: in-order signature stopped: the request ended while waiting", logID(id), "chunk", index, "next", next)
		return
	}
}

// predecessorsArriving reports whether every chunk from next to index is
// being received on this node.
func (st *sigState) predecessorsArriving(index int) bool {
	for j := st.next; j < index; j++ {
		if st.receiving[j] == 0 {
			return false
		}
	}
	return true
}

func (st *sigState) wake() {
	close(st.moved)
	st.moved = make(chan struct{})
}

func (st *sigState) stop() {
	if !st.stopped {
		st.stopped = true
		st.wake()
	}
}

// takeSig ends in-order hashing of an upload and returns its hash and the
// number of chunks it covers, or a fresh hash and 0.
func (s *Service) takeSig(id string) (*attachment.Hasher, int) {
	s.sigMu.Lock()
	st := s.sigs[id]
	delete(s.sigs, id)
	s.sigMu.Unlock()
	if st == nil {
		return attachment.NewHasherOptions(attachment.Options{SkipChunkChecksums: true}), 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.taken = true
	st.wake()
	return st.h, st.next
}

// verifySignature checks a committed blob against its signature: the
// chunks this node hashed in order while they arrived, then the rest read
// back from the store. It returns attachment.ErrCannotOpen on a mismatch.
func (s *Service) verifySignature(ctx context.Context, r *record) (readBack int64, err error) {
	h, hashed := s.takeSig(r.ID)
	off := min(int64(hashed)*blobapi.ChunkSize, r.Size)
	if n := r.Size - off; n > 0 {
		rd, err := s.store.Open(ctx, r.ID, off, n)
		if err != nil {
			return 0, err
		}
		defer rd.Close()
		buf := make([]byte, readBackBuffer)
		got, err := io.CopyBuffer(h, io.LimitReader(rd, n), buf)
		if err != nil {
			return got, fmt.Errorf("reading the blob back: %w", err)
		}
		if got != n {
			return got, fmt.Errorf("reading the blob back: %d of %d bytes: %w", got, n, io.ErrUnexpectedEOF)
		}
		readBack = got
	}
	if sum := h.Sum(); sum.Size != r.Size || !sum.Signature.Equal(r.Signature) {
		return readBack, attachment.ErrCannotOpen
	}
	return readBack, nil
}

// readBackBuffer is the buffer complete reads a blob back through.
const readBackBuffer = 256 << 10
