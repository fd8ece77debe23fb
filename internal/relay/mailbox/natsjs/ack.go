package natsjs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

type ackReq struct {
	dev mailbox.Token
	seq uint64
}

// ackGiveUp is how long a worker retries one acknowledgement that fails
// (NATS unreachable) before dropping it, or until Close gives up waiting;
// the delivery then stays queued and is delivered again on the device's
// next connection.
const ackGiveUp = 30 * time.Second

// Ack deletes device's delivery seq. It returns at once: the delivery is
// no longer yielded by Pending in this process from then on, and a worker
// writes its dedup record and deletes it from the stream shortly after
// (Close waits for that).
func (s *Store) Ack(ctx context.Context, device mailbox.Token, seq uint64) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.ops.Done()
	s.queueAck(device, seq)
	return nil
}

// queueAck marks seq acknowledged in this process and hands it to the
// workers. The caller holds an operation (begin), so acks is open.
func (s *Store) queueAck(dev mailbox.Token, seq uint64) {
	s.mu.Lock()
	st := s.devLocked(dev)
	if st.acked == nil {
		st.acked = make(map[uint64]bool)
	}
	_, queued := st.acked[seq]
	if !queued {
		st.acked[seq] = false
	}
	s.mu.Unlock()
	if !queued {
		s.acks <- ackReq{dev, seq}
	}
}

func (s *Store) ackWorker() {
	for a := range s.acks {
		start := time.Now()
		for attempt := 1; ; attempt++ {
			err := s.applyAck(context.Background(), a.dev, a.seq)
			if err == nil {
				s.stats.acked.Add(1)
				break
			}
			giveUp := time.Since(start) > ackGiveUp
			if !giveUp {
				t := time.NewTimer(time.Duration(min(attempt, 20)) * 50 * time.Millisecond)
				select {
				case <-t.C:
				case <-s.stopped: // Close waited closeFlush already
					giveUp = true
				}
				t.Stop()
			}
			if giveUp {
				s.log.Error("natsjs: acknowledgement dropped; the delivery stays queued", "err", err, "attempts", attempt)
				s.stats.ackDropped.Add(1)
				break
			}
		}
		s.mu.Lock()
		if st := s.devs[a.dev]; st != nil {
			if st.readers == 0 {
				delete(st.acked, a.seq)
			} else {
				st.acked[a.seq] = true
			}
			delete(st.refs, a.seq)
		}
		s.mu.Unlock()
	}
}

// applyAck writes the dedup record of dev's delivery seq and then deletes
// the delivery. The dedup record is written first, so a crash in between
// leaves the delivery queued (delivered once more) and never forgets its
// key. The record carries the device's head, as every write does.
//
// Only the dedup record's write holds the device's lock: the delete, by
// stream sequence, changes no device's last record (the dedup record came
// after the delivery) and needs no condition.
func (s *Store) applyAck(ctx context.Context, dev mailbox.Token, seq uint64) error {
	stream, err := s.writeKept(ctx, dev, seq)
	if err != nil || stream == 0 {
		return err
	}
	return s.deleteSeq(ctx, stream)
}

// writeKept writes the dedup record of dev's delivery seq and returns the
// delivery's stream sequence (0: nothing to delete).
func (s *Store) writeKept(ctx context.Context, dev mailbox.Token, seq uint64) (uint64, error) {
	l := s.lock(dev)
	l.Lock()
	defer l.Unlock()
	subj := deviceSubjects(s.opt.Subject, dev)
	s.mu.Lock()
	var r ref
	var cached bool
	if st := s.devs[dev]; st != nil {
		r, cached = st.refs[seq]
	}
	s.mu.Unlock()
	if !cached {
		// Not read through this process: look for it.
		var ok bool
		var err error
		if r, ok, err = s.findQueued(ctx, subj, seq); err != nil || !ok {
			return 0, err // nothing queued with that seq: a no-op
		}
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt >= maxCASRetries {
				return 0, fmt.Errorf("natsjs: ack: %d conflicting writes in a row", attempt)
			}
			if err := backoff(ctx, attempt); err != nil {
				return 0, err
			}
		}
		// The head, and whether the delivery is still there (it may have
		// been acknowledged on another node, or expired and been replaced
		// by a new one), read at once when the head is not cached.
		lastSeq, head, cur, found, err := s.readHead(ctx, dev, subj, subj.queuedOf(r.uuid), s.cachedHead)
		if err != nil {
			return 0, err
		}
		if !found || cur.seq != r.stream {
			if !cached {
				return 0, nil
			}
			// The cached place is out of date: look again, once.
			cached = false
			var ok bool
			if r, ok, err = s.findQueued(ctx, subj, seq); err != nil || !ok {
				return 0, err
			}
			continue
		}
		if cur.seq > lastSeq {
			s.setHead(dev, 0, 0)
			continue
		}
		k := record{kind: kindKept, seq: seq, head: head, d: mailbox.Delivery{Device: dev, UUID: r.uuid, Expires: r.expires}}
		nseq, err := s.publish(ctx, subj.keptOf(r.uuid), k.marshal(make([]byte, 0, fixedK)), subj.all(), lastSeq)
		if errors.Is(err, errConflict) {
			s.conflicted(dev)
			continue
		}
		if err != nil {
			s.setHead(dev, 0, 0)
			return 0, err
		}
		s.setHead(dev, nseq, head)
		return r.stream, nil
	}
}

// findQueued scans dev's queue for the delivery with Seq seq.
func (s *Store) findQueued(ctx context.Context, subj subjects, seq uint64) (r ref, ok bool, err error) {
	err = s.scan(ctx, subj.queued(), 0, func(m stored) bool {
		if m.rec.seq == seq && m.rec.kind == kindQueued {
			r, ok = ref{stream: m.seq, uuid: m.rec.d.UUID, expires: m.rec.d.Expires}, true
		}
		return m.rec.seq < seq // Seqs increase along the queue
	})
	return r, ok, err
}
