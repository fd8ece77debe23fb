package natsjs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Queue returns how many deliveries wait in the stream for their devices
// (all nodes' together) and when the oldest of them was enqueued (zero if
// none), for metrics. It costs two requests to the server: a short-lived
// consumer on <prefix>.*.q.*, whose pending count the server computes from
// its subject index, and a read of the first message on those subjects.
// Deliveries expired but not yet removed by MaxAge are counted.
func (s *Store) Queue(ctx context.Context) (n int64, oldest time.Time, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opt.Timeout)
		defer cancel()
	}
	filter := s.opt.Subject + ".*." + tokQueued + ".*"
	st, err := s.js.Stream(ctx, s.opt.Stream)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("natsjs: queue: %w", err)
	}
	c, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     filter,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // removed by the server if the delete below is lost
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("natsjs: queue: %w", err)
	}
	info := c.CachedInfo()
	st.DeleteConsumer(ctx, info.Name)
	if info.NumPending == 0 {
		return 0, time.Time{}, nil
	}
	m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return int64(info.NumPending), time.Time{}, nil // acknowledged meanwhile
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("natsjs: queue: %w", err)
	}
	r, err := parseRecord(m.Data)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("natsjs: queue: %s: %w", m.Subject, err)
	}
	return int64(info.NumPending), r.d.Time, nil
}
