package natsjs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

// Durable enqueues per second into JetStream (file storage, sync_interval:
// always on the server SEALPOST_TEST_NATS points at), with 1 and 64
// concurrent enqueuers, each enqueueing one 1 KiB delivery per call to one
// of 1,000 devices; and one enqueuer with calls of 64 deliveries (a
// fan-out, written concurrently). Beside them, the primitives of the same
// run: fdatasync of 1 KiB appends in the benchmark's temporary directory,
// and a bare JetStream publish (no dedup read, no condition) on a stream
// of the same configuration.
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/relay/mailbox/natsjs/
func BenchmarkEnqueue(b *testing.B) {
	url := testURL(b)
	devs := make([]mailbox.Token, 1000)
	for i := range devs {
		devs[i] = mailboxtest.NewToken()
	}
	for _, c := range []struct {
		name           string
		enqueuers, per int
	}{{"enqueuers=1", 1, 1}, {"enqueuers=64", 64, 1}, {"enqueuers=1/batch=64", 1, 64}} {
		b.Run(c.name, func(b *testing.B) {
			opt := testOptions(url, "bench_"+uniq())
			defer dropStream(b, url, opt.Stream)
			s, err := Open(context.Background(), opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			payload := make([]byte, 1024)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range c.enqueuers {
				wg.Go(func() {
					for {
						n := next.Add(int64(c.per))
						if n > int64(b.N) {
							return
						}
						ds := make([]mailbox.Delivery, c.per)
						for i := range ds {
							ds[i] = mailboxtest.NewDelivery(devs[(int(n)+i)%len(devs)], time.Now(), 0)
							ds[i].Payload = payload
						}
						if _, err := s.Enqueue(context.Background(), ds); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "enqueues/s")
			b.ReportMetric(float64(s.Stats().Conflicts), "conflicts")
		})
	}
}

// The primitive: one writer appending 1 KiB and calling fdatasync.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		f.Write(buf)
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
}

// The primitive: bare JetStream publishes of 1 KiB, each waiting for its
// PubAck, from 1 and 64 publishers.
func BenchmarkJetStreamPublish(b *testing.B) {
	url := testURL(b)
	for _, pubs := range []int{1, 64} {
		b.Run(fmt.Sprintf("publishers=%d", pubs), func(b *testing.B) {
			opt := testOptions(url, "benchraw_"+uniq())
			defer dropStream(b, url, opt.Stream)
			s, err := Open(context.Background(), opt) // creates the stream
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			nc, err := nats.Connect(url)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			payload := make([]byte, 1024)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range pubs {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						if _, err := js.Publish(context.Background(), fmt.Sprintf("%s.raw.%d", opt.Subject, n), payload); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "publishes/s")
		})
	}
}
