package natsjs

import (
	"context"
	"fmt"
	"iter"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Pending yields device's queued, unexpired deliveries with Seq greater
// than after, oldest first. It reads <prefix>.<device>.q.* with batched
// direct gets, starting where this process last saw Seq after when it
// knows that place, else at the device's first queued delivery.
// Deliveries acknowledged in this process are left out even before their
// deletion is done; expired ones are left out, and handed to the
// acknowledgement workers for deletion.
func (s *Store) Pending(ctx context.Context, device mailbox.Token, after uint64) iter.Seq2[mailbox.Delivery, error] {
	return func(yield func(mailbox.Delivery, error) bool) {
		if err := s.begin(); err != nil {
			yield(mailbox.Delivery{}, err)
			return
		}
		defer s.ops.Done()
		s.mu.Lock()
		st := s.devLocked(device)
		st.readers++
		var from uint64
		if st.lastStream != 0 && st.lastSeq <= after {
			from = st.lastStream
		}
		s.mu.Unlock()
		defer s.readerDone(device)

		subj := deviceSubjects(s.opt.Subject, device)
		var expired []uint64
		var ferr error
		err := s.scan(ctx, subj.queued(), from, func(m stored) bool {
			r := &m.rec
			if r.kind != kindQueued || r.d.Device != device || m.subject != subj.queuedOf(r.d.UUID) {
				ferr = fmt.Errorf("natsjs: unexpected record at stream sequence %d (%s)", m.seq, m.subject)
				return false
			}
			s.mu.Lock()
			if st.refs == nil {
				st.refs = make(map[uint64]ref)
			}
			st.refs[r.seq] = ref{stream: m.seq, uuid: r.d.UUID, expires: r.d.Expires}
			if r.seq >= st.lastSeq {
				st.lastSeq, st.lastStream = r.seq, m.seq
			}
			_, acked := st.acked[r.seq]
			s.mu.Unlock()
			if r.seq <= after || acked {
				return true
			}
			if !r.d.Expires.After(s.now()) {
				expired = append(expired, r.seq)
				return true
			}
			d := r.d
			d.Seq = r.seq
			return yield(d, nil)
		})
		if err == nil {
			err = ferr
		}
		for _, seq := range expired {
			s.queueAck(device, seq)
		}
		if err != nil {
			yield(mailbox.Delivery{}, err)
		}
	}
}

// readerDone ends a Pending of dev and drops the acked entries whose
// deletion is done, if no other Pending of dev runs.
func (s *Store) readerDone(dev mailbox.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.devs[dev]
	if st == nil {
		return
	}
	st.readers--
	if st.readers == 0 {
		for seq, deleted := range st.acked {
			if deleted {
				delete(st.acked, seq)
			}
		}
	}
}
