package embedded

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// scanSegment reads the records of f from offset 0 to size in order and
// calls fn with each (raw aliases a buffer reused between calls). It
// returns the offset after the last whole, intact record; a record that is
// cut short or fails its checksum ends the scan there.
func scanSegment(f File, size int64, fn func(r record, off int64, raw []byte) error) (int64, error) {
	const block = 1 << 20
	buf := make([]byte, 0, block)
	var bufOff int64 // file offset of buf[0]
	var off int64    // file offset of the next record
	for off < size {
		// Make sure the header, then the whole record, is in buf.
		need := func(n int) (bool, error) {
			have := bufOff + int64(len(buf)) - off
			if have >= int64(n) {
				return true, nil
			}
			if off+int64(n) > size {
				return false, nil
			}
			// Refill from off.
			want := max(n, block)
			if int64(want) > size-off {
				want = int(size - off)
			}
			if cap(buf) < want {
				buf = make([]byte, want)
			}
			buf = buf[:want]
			if _, err := f.ReadAt(buf, off); err != nil {
				return false, err
			}
			bufOff = off
			return true, nil
		}
		ok, err := need(recHeader)
		if err != nil || !ok {
			return off, err
		}
		start := int(off - bufOff)
		n, err := recordLen(buf[start : start+recHeader])
		if err != nil {
			return off, nil
		}
		if ok, err = need(n); err != nil || !ok {
			return off, err
		}
		start = int(off - bufOff)
		raw := buf[start : start+n]
		r, err := decode(raw)
		if err != nil {
			return off, nil
		}
		if err := fn(r, off, raw); err != nil {
			return off, err
		}
		off += int64(n)
	}
	return off, nil
}

func (s *Store) runSweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops expired deliveries and dedup keys now. It runs on its own
// every SweepEvery; tests call it after moving the clock.
func (s *Store) Sweep() {
	now := s.now().UnixNano()
	s.mu.Lock()
	for _, dv := range s.devs {
		if len(dv.pending) > 0 {
			kept := dv.pending[:0]
			for _, e := range dv.pending {
				if e.d.Expires.UnixNano() > now {
					kept = append(kept, e)
					continue
				}
				e.seg.pendingBytes -= int64(e.size)
				if e.d.Payload != nil {
					s.cached -= int64(len(e.d.Payload))
				}
				s.stats.Expired++
			}
			clear(dv.pending[len(kept):])
			dv.pending = kept
			if len(kept) == 0 {
				dv.pending = nil
			}
		}
		for u, v := range dv.dedup {
			if v.expires <= now {
				if v.seg != nil {
					v.seg.dedupCount--
				}
				delete(dv.dedup, u)
			}
		}
		if len(dv.dedup) == 0 {
			dv.dedup = nil // the device keeps only its next seq
		}
	}
	s.mu.Unlock()
	select {
	case s.compactKick <- struct{}{}:
	default:
	}
}

func (s *Store) runCompactor() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		case <-s.compactKick:
		}
		for {
			head := s.pickHead(false)
			if head == nil {
				break
			}
			if err := s.compactSegment(head); err != nil {
				if !errors.Is(err, errStopping) {
					s.log.Error("mailbox: compaction failed", "segment", head.id, "err", err)
				}
				break
			}
		}
	}
}

// pickHead returns the oldest segment if it is worth rewriting: less than
// half of it is still needed, or the sealed segments hold more than twice
// what is needed (plus one segment).
func (s *Store) pickHead(force bool) *segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) < 2 {
		return nil
	}
	head := s.segs[0]
	if force {
		return head
	}
	live := func(sg *segment) int64 { return sg.pendingBytes + sg.dedupCount*dedupSize }
	if 2*live(head) <= head.size {
		return head
	}
	var total, needed int64
	for _, sg := range s.segs[:len(s.segs)-1] {
		total += sg.size
		needed += live(sg)
	}
	if total > 2*needed+s.opt.SegmentSize {
		return head
	}
	return nil
}

var errStopping = errors.New("embedded: store is closing")

// compactSegment carries what is still needed in a sealed segment forward
// to the active one (queued deliveries whole, the dedup keys of
// acknowledged ones as D records), waits until that is durable, then
// removes the segment file.
func (s *Store) compactSegment(sg *segment) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.Lock()
	size := sg.size
	gone := !slices.Contains(s.segs, sg)
	s.mu.Unlock()
	if gone {
		return nil // compacted meanwhile
	}
	var batch []copyRec
	var batchBytes int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		o := &op{kind: opCopy, copies: batch, done: make(chan struct{})}
		if err := s.submit(o); err != nil {
			if errors.Is(err, mailbox.ErrClosed) {
				return errStopping
			}
			return err
		}
		<-o.done
		batch, batchBytes = nil, 0
		return o.err
	}
	end, err := scanSegment(sg.f, size, func(r record, off int64, raw []byte) error {
		c := copyRec{typ: r.typ, dev: r.d.Device, seq: r.d.Seq, uuid: r.d.UUID, expires: r.expires, seg: sg, off: off}
		switch r.typ {
		case recEnq:
			c.raw = slices.Clone(raw)
		case recDedup:
		default:
			return nil // acknowledgements refer to this segment or older ones
		}
		batch = append(batch, c)
		batchBytes += len(c.raw) + 64
		if batchBytes >= 1<<20 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if end != size {
		return fmt.Errorf("segment %d is damaged at offset %d", sg.id, end)
	}
	if err := flush(); err != nil {
		return err
	}
	s.mu.Lock()
	if i := slices.Index(s.segs, sg); i >= 0 {
		s.segs = slices.Delete(s.segs, i, i+1)
	}
	s.stats.Compactions++
	s.mu.Unlock()
	s.segMu.Lock()
	sg.removed = true
	cerr := sg.f.Close()
	s.segMu.Unlock()
	if err := s.fs.Remove(s.segPath(sg.id)); err != nil {
		return err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return err
	}
	return cerr
}

// Compact rewrites every sealed segment now, after sealing the active one,
// so that the data folder holds only what is still needed: queued
// deliveries and the dedup keys of acknowledged ones. Tests use it (R4,
// R5); the store compacts on its own otherwise.
func (s *Store) Compact(ctx context.Context) error {
	o := &op{kind: opRoll, done: make(chan struct{})}
	if err := s.submit(o); err != nil {
		return err
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if o.err != nil {
		return o.err
	}
	s.mu.Lock()
	sealed := slices.Clone(s.segs[:len(s.segs)-1])
	s.mu.Unlock()
	for _, sg := range sealed {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.compactSegment(sg); err != nil {
			return err
		}
	}
	return nil
}
