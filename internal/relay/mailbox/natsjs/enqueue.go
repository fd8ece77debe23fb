package natsjs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Enqueue stores ds and returns once every new delivery is acknowledged by
// JetStream (stored and synced by the server). Deliveries for different
// devices are written concurrently; those for one device one after the
// other, in slice order.
func (s *Store) Enqueue(ctx context.Context, ds []mailbox.Delivery) ([]mailbox.Result, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	now := s.now()
	for i := range ds {
		if err := ds[i].Check(); err != nil {
			return nil, err
		}
		if ds[i].Expires.Sub(now) > s.maxAge {
			return nil, errors.Join(mailbox.ErrInvalid,
				fmt.Errorf("expires in %v, after the stream's maximum age %v", ds[i].Expires.Sub(now), s.maxAge))
		}
	}
	res := make([]mailbox.Result, len(ds))
	// Group by device, keeping slice order inside a group.
	var order []mailbox.Token
	groups := make(map[mailbox.Token][]int)
	for i := range ds {
		dev := ds[i].Device
		if _, ok := groups[dev]; !ok {
			order = append(order, dev)
		}
		groups[dev] = append(groups[dev], i)
	}
	run := func(dev mailbox.Token) error {
		l := s.lock(dev)
		l.Lock()
		defer l.Unlock()
		defer s.wake(dev) // also after an error: a delivery may be stored all the same
		for _, i := range groups[dev] {
			r, err := s.enqueueOne(ctx, &ds[i])
			if err != nil {
				return err
			}
			res[i] = r
		}
		return nil
	}
	if len(order) == 1 {
		if err := run(order[0]); err != nil {
			return nil, err
		}
		return res, nil
	}
	var (
		wg    sync.WaitGroup
		emu   sync.Mutex
		first error
		sem   = make(chan struct{}, maxInflight)
	)
	for _, dev := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := run(dev); err != nil {
				emu.Lock()
				if first == nil {
					first = err
				}
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return res, nil
}

// enqueueOne stores one delivery. The device's lock is held.
//
// The device's records all live under <prefix>.<device>.>, and every write
// to them is conditional on the last of them being the one this process
// read (Nats-Expected-Last-Subject-Sequence with a subject filter). So
// between reading the dedup record and the head and writing the delivery
// nothing of the device can change, on any node: the check-then-write is
// atomic, and one message is the whole write (no crash window).
func (s *Store) enqueueOne(ctx context.Context, d *mailbox.Delivery) (mailbox.Result, error) {
	subj := deviceSubjects(s.opt.Subject, d.Device)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if attempt >= maxCASRetries {
				return mailbox.Result{}, fmt.Errorf("natsjs: enqueue: %d conflicting writes in a row", attempt)
			}
			if err := backoff(ctx, attempt); err != nil {
				return mailbox.Result{}, err
			}
		}
		// The head (cached, or read at once with the dedup record) and
		// the dedup record.
		lastSeq, head, dup, found, err := s.readHead(ctx, d.Device, subj, subj.anyOf(d.UUID), s.enqueueHead)
		if err != nil {
			return mailbox.Result{}, err
		}
		if found && dup.rec.d.UUID == d.UUID && dup.rec.d.Device == d.Device && dup.rec.d.Expires.After(s.now()) {
			s.stats.duplicates.Add(1)
			return mailbox.Result{Seq: dup.rec.seq, Duplicate: true}, nil
		}
		if found && dup.seq > lastSeq {
			// The dedup read saw a record newer than the cached head.
			s.setHead(d.Device, 0, 0)
			continue
		}
		r := record{kind: kindQueued, seq: head + 1, head: head + 1, d: *d}
		body := r.marshal(make([]byte, 0, fixedQ+len(d.Scheme)+len(d.Sender)+len(d.Payload)))
		seq, err := s.publish(ctx, subj.queuedOf(d.UUID), body, subj.all(), lastSeq)
		if errors.Is(err, errConflict) {
			s.conflicted(d.Device)
			continue
		}
		if err != nil {
			// The write may have happened all the same (a lost PubAck):
			// forget the head, and let the caller retry.
			s.setHead(d.Device, 0, 0)
			return mailbox.Result{}, err
		}
		s.setHead(d.Device, seq, r.seq)
		s.stats.enqueued.Add(1)
		return mailbox.Result{Seq: r.seq}, nil
	}
}

// backoff sleeps a little, more after more attempts, with jitter.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(attempt, 20)) * 200 * time.Microsecond
	d += time.Duration(rand.Int64N(int64(d) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
