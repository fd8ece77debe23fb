package embedded

import (
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// copyRec is a record of a segment being compacted, offered to the writer
// to be carried forward if it is still needed.
type copyRec struct {
	typ     byte
	dev     mailbox.Token
	seq     uint64
	uuid    mailbox.UUID
	expires int64
	seg     *segment
	off     int64
	raw     []byte // the whole E record
}

type added struct {
	dv *device
	e  *entry
}

type moved struct {
	dv   *device
	e    *entry // E carried forward; nil for a D record
	uuid mailbox.UUID
	seq  uint64
	from *segment
	off  int64
}

func (s *Store) runWriter() {
	defer s.wg.Done()
	for range s.kick {
		for {
			s.qmu.Lock()
			ops, acks := s.queue, s.acks
			s.queue, s.acks = nil, nil
			closing, failed := s.closing, s.failed
			s.qmu.Unlock()
			if len(ops) == 0 && len(acks) == 0 {
				if closing {
					return
				}
				break
			}
			if failed == nil {
				failed = s.commit(ops, acks)
				if failed != nil {
					s.qmu.Lock()
					if s.failed == nil {
						s.failed = failed
					}
					s.qmu.Unlock()
					s.log.Error("mailbox: write failed; the store refuses further writes", "err", failed)
				}
			}
			if failed != nil {
				for _, o := range ops {
					select {
					case <-o.done:
					default:
						o.err = failed
						close(o.done)
					}
				}
			}
		}
	}
}

// commit writes one group: the buffered acknowledgements, the new
// deliveries of every queued Enqueue, and records carried forward by
// compaction; syncs once; then makes the new deliveries visible and
// answers the callers.
func (s *Store) commit(ops []*op, acks []ackRec) error {
	if s.active.size >= s.opt.SegmentSize {
		if err := s.roll(); err != nil {
			return err
		}
	}
	// A roll asked for (Compact) happens after this group is written, so
	// that what was queued before it lands in the segment being sealed.
	rollAfter := false
	for _, o := range ops {
		if o.kind == opRoll {
			rollAfter = true
		}
	}
	now := s.now().UnixNano()
	base := s.active.size
	buf := s.wbuf[:0]
	for i := range acks {
		buf = appendAck(buf, &acks[i].dev, acks[i].seq)
	}
	var adds []added
	var moves []moved
	var woken []mailbox.Token
	s.mu.Lock()
	for _, o := range ops {
		switch o.kind {
		case opEnqueue:
			for i := range o.ds {
				d := &o.ds[i]
				dv := s.device(d.Device)
				if v, ok := dv.dedup[d.UUID]; ok && v.expires > now {
					o.res[i] = mailbox.Result{Seq: v.seq, Duplicate: true}
					s.stats.Duplicates++
					continue
				}
				e := &entry{d: *d, seg: s.active}
				e.d.Seq = dv.next
				dv.next++
				e.off = base + int64(len(buf))
				buf = appendEnq(buf, &e.d)
				e.size = int32(base + int64(len(buf)) - e.off)
				if dv.dedup == nil {
					dv.dedup = make(map[mailbox.UUID]dedupVal)
				}
				// Reserved now, so a duplicate later in this group is
				// answered; visible to readers only after the sync.
				dv.dedup[d.UUID] = dedupVal{expires: d.Expires.UnixNano(), seq: e.d.Seq}
				adds = append(adds, added{dv, e})
				o.res[i] = mailbox.Result{Seq: e.d.Seq}
				if len(woken) == 0 || woken[len(woken)-1] != d.Device {
					woken = append(woken, d.Device)
				}
			}
		case opCopy:
			for i := range o.copies {
				c := &o.copies[i]
				dv := s.devs[c.dev]
				if dv == nil {
					continue
				}
				if c.typ == recEnq {
					if e := s.find(c.dev, c.seq); e != nil && e.seg == c.seg && e.off == c.off {
						off := base + int64(len(buf))
						buf = append(buf, c.raw...)
						moves = append(moves, moved{dv: dv, e: e, uuid: c.uuid, seq: c.seq, from: c.seg, off: off})
						continue
					}
				}
				// An acknowledged delivery, or a D record: keep its dedup key
				// while it lasts, if its evidence is in this segment.
				if v, ok := dv.dedup[c.uuid]; ok && v.seq == c.seq && v.seg == c.seg && v.expires > now {
					off := base + int64(len(buf))
					buf = appendDedup(buf, &c.dev, c.seq, &c.uuid, v.expires)
					moves = append(moves, moved{dv: dv, uuid: c.uuid, seq: c.seq, from: c.seg, off: off})
				}
			}
		}
	}
	s.mu.Unlock()

	seg := s.active
	if len(buf) > 0 {
		if _, err := seg.f.Write(buf); err != nil {
			return err
		}
	}
	if s.opt.UnsafeAckBeforeSync {
		s.apply(seg, adds, moves, int64(len(buf)))
		s.answer(ops, false)
		s.wake(woken)
	}
	var took time.Duration
	if len(buf) > 0 {
		t0 := time.Now()
		if err := seg.f.Sync(); err != nil {
			return err
		}
		took = time.Since(t0)
	}
	if len(buf) > 0 {
		s.mu.Lock()
		if took > 0 {
			s.syncs[s.stats.Syncs%syncTimes] = took
		}
		s.observeSync(took)
		s.mu.Unlock()
	}
	if !s.opt.UnsafeAckBeforeSync {
		s.apply(seg, adds, moves, int64(len(buf)))
		s.answer(ops, false)
		s.wake(woken)
	}
	if rollAfter {
		if seg.size > 0 {
			if err := s.roll(); err != nil {
				return err
			}
		}
		s.answer(ops, true)
	}
	if cap(buf) <= 4<<20 {
		s.wbuf = buf[:0]
	} else {
		s.wbuf = nil
	}
	return nil
}

// answer wakes the callers of ops: the roll requests or all the others.
func (s *Store) answer(ops []*op, rolls bool) {
	for _, o := range ops {
		if (o.kind == opRoll) == rolls {
			close(o.done)
		}
	}
}

// apply makes a written group visible: new entries join their queues,
// carried-forward records get their new place.
func (s *Store) apply(act *segment, adds []added, moves []moved, written int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	act.size += written
	for _, a := range adds {
		a.dv.pending = append(a.dv.pending, a.e)
		act.pendingBytes += int64(a.e.size)
		if s.cached+int64(len(a.e.d.Payload)) <= s.opt.CacheBytes {
			s.cached += int64(len(a.e.d.Payload))
		} else {
			a.e.d.Payload = nil
		}
	}
	s.stats.Enqueued += int64(len(adds))
	for _, m := range moves {
		if m.e != nil && s.find(m.e.d.Device, m.seq) == m.e {
			// Still queued: it lives in the active segment now.
			m.from.pendingBytes -= int64(m.e.size)
			act.pendingBytes += int64(m.e.size)
			m.e.seg, m.e.off = act, m.off
			continue
		}
		// Acknowledged (before or since the copy): its dedup key's
		// evidence is now here.
		if v, ok := m.dv.dedup[m.uuid]; ok && v.seq == m.seq && v.seg == m.from {
			m.from.dedupCount--
			act.dedupCount++
			v.seg = act
			m.dv.dedup[m.uuid] = v
		}
	}
	s.stats.Batches++
	if written > 0 {
		s.stats.Syncs++
	}
}

func (s *Store) device(t mailbox.Token) *device {
	dv := s.devs[t]
	if dv == nil {
		dv = &device{next: 1}
		s.devs[t] = dv
	}
	return dv
}

// roll starts a new active segment. The previous one was synced by the
// last group that wrote to it.
func (s *Store) roll() error {
	id := s.nextID
	f, err := s.fs.Create(s.segPath(id))
	if err != nil {
		return err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.nextID++
	sg := &segment{id: id, f: f}
	s.mu.Lock()
	s.segs = append(s.segs, sg)
	s.mu.Unlock()
	s.active = sg
	select {
	case s.compactKick <- struct{}{}:
	default:
	}
	return nil
}
