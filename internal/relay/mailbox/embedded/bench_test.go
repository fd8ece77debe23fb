package embedded

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

// BenchmarkEnqueueDurable (R10) measures durable enqueues per second on
// the real disk: each Enqueue returns only after its group's fdatasync.
// senders is the number of concurrent callers, per the number of
// deliveries per call (a fan-out to that many devices). 1 KiB payloads.
func BenchmarkEnqueueDurable(b *testing.B) {
	for _, c := range []struct{ senders, per int }{{1, 1}, {64, 1}, {64, 10}, {256, 10}} {
		b.Run(fmt.Sprintf("senders=%d/per=%d", c.senders, c.per), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			devs := make([]mailbox.Token, 1000)
			for i := range devs {
				devs[i] = mailboxtest.NewToken()
			}
			now := time.Now()
			// Deliveries are made before the clock starts.
			calls := (b.N + c.per - 1) / c.per
			batches := make([][]mailbox.Delivery, calls)
			for i := range batches {
				for j := range c.per {
					batches[i] = append(batches[i], mailboxtest.NewDelivery(devs[(i*c.per+j)%len(devs)], now, 1024))
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range c.senders {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(calls) {
							return
						}
						if _, err := s.Enqueue(context.Background(), batches[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			st := s.Stats()
			n := float64(calls * c.per)
			b.ReportMetric(n/el.Seconds(), "enq/s")
			b.ReportMetric(float64(st.Syncs)/el.Seconds(), "syncs/s")
			b.ReportMetric(n/float64(max(st.Syncs, 1)), "enq/sync")
			b.ReportMetric(float64(st.SyncP99.Microseconds()), "sync-p99-µs")
		})
	}
}
