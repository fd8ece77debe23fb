package natsjs

import (
	"context"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

// Queue counts the deliveries waiting on every node and finds the oldest;
// acknowledged ones and dedup records do not count.
func TestQueue(t *testing.T) {
	c := mailboxtest.NewClock()
	_, nodes := openStores(t, "queue", c.Now, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()

	if n, oldest, err := a.Queue(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty stream: %d %v %v", n, oldest, err)
	}
	dev1, dev2 := mailboxtest.NewToken(), mailboxtest.NewToken()
	first := c.Now()
	d1 := mailboxtest.NewDelivery(dev1, first, 10)
	r1, err := a.Enqueue(ctx, []mailbox.Delivery{d1})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	second := c.Now()
	if _, err := b.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev2, second, 10)}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if _, err := a.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev1, c.Now(), 10)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		if n, oldest, err := s.Queue(ctx); err != nil || n != 3 || !oldest.Equal(first) {
			t.Fatalf("three queued: %d %v %v, want 3 %v", n, oldest, err, first)
		}
	}
	// The oldest is acknowledged: its dedup record stays, it no longer
	// counts, and the next oldest is the second delivery.
	if err := a.Ack(ctx, dev1, r1[0].Seq); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, oldest, err := b.Queue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 && oldest.Equal(second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the ack: %d %v, want 2 %v", n, oldest, second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
