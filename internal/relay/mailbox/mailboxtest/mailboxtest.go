// Package mailboxtest is the conformance suite every mailbox backend
// passes: it checks the contract written in package mailbox (durable on
// return, idempotent enqueue for the whole retention, oldest first, delete
// on ack and only for that device, expiry, wake-ups) through the interface
// alone.
//
// A backend's test calls Run with a Harness that opens the backend:
//
//	func TestConformance(t *testing.T) {
//		mailboxtest.Run(t, mailboxtest.Harness{
//			Open: func(t *testing.T, name string, now func() time.Time) mailbox.Mailbox { ... },
//		})
//	}
package mailboxtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Harness opens the backend under test.
type Harness struct {
	// Open opens the store called name, creating it if needed, with the
	// clock now. Opening the same name again (after Close) gives the same
	// data. Each subtest uses its own names.
	Open func(t *testing.T, name string, now func() time.Time) mailbox.Mailbox
	// Settle, if set, makes the backend apply expiry and reclaim space
	// now (the suite calls it after moving the clock).
	Settle func(t *testing.T, m mailbox.Mailbox)
}

// Clock is a settable clock for the suite and for backend tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Unix(1_800_000_000, 0).UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TTL is the retention the suite uses.
const TTL = 30 * 24 * time.Hour

// NewDelivery returns a delivery for device with a random UUID and
// payload, accepted at now and expiring after TTL.
func NewDelivery(device mailbox.Token, now time.Time, payloadSize int) mailbox.Delivery {
	d := mailbox.Delivery{Device: device, Time: now, Expires: now.Add(TTL), Sender: "mailto:alice@example.com", Scheme: "pair-ec"}
	rand.Read(d.UUID[:])
	rand.Read(d.Topic[:])
	rand.Read(d.SenderToken[:])
	d.Payload = make([]byte, payloadSize)
	rand.Read(d.Payload)
	return d
}

// NewToken returns a random device token.
func NewToken() mailbox.Token {
	var t mailbox.Token
	rand.Read(t[:])
	return t
}

// Collect reads all of device's pending deliveries after seq.
func Collect(t testing.TB, m mailbox.Mailbox, device mailbox.Token, after uint64) []mailbox.Delivery {
	t.Helper()
	var out []mailbox.Delivery
	for d, err := range m.Pending(context.Background(), device, after) {
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		out = append(out, d)
	}
	return out
}

func enqueue(t testing.TB, m mailbox.Mailbox, ds ...mailbox.Delivery) []mailbox.Result {
	t.Helper()
	res, err := m.Enqueue(context.Background(), ds)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if len(res) != len(ds) {
		t.Fatalf("Enqueue returned %d results for %d deliveries", len(res), len(ds))
	}
	return res
}

// Same reports whether two deliveries agree on everything the store keeps.
func Same(a, b mailbox.Delivery) error {
	switch {
	case a.Device != b.Device:
		return errors.New("device differs")
	case a.UUID != b.UUID:
		return errors.New("UUID differs")
	case a.Topic != b.Topic:
		return errors.New("topic differs")
	case !a.Time.Equal(b.Time):
		return fmt.Errorf("time %v != %v", a.Time, b.Time)
	case !a.Expires.Equal(b.Expires):
		return fmt.Errorf("expires %v != %v", a.Expires, b.Expires)
	case a.MessageExpiry != b.MessageExpiry:
		return errors.New("message-expiry flag differs")
	case a.Sender != b.Sender || a.Scheme != b.Scheme || a.SenderToken != b.SenderToken:
		return errors.New("sender metadata differs")
	case !bytes.Equal(a.Payload, b.Payload):
		return errors.New("payload differs")
	}
	return nil
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	open := func(t *testing.T, name string, c *Clock) mailbox.Mailbox {
		m := h.Open(t, name, c.Now)
		t.Cleanup(func() { m.Close() })
		return m
	}
	settle := func(t *testing.T, m mailbox.Mailbox) {
		if h.Settle != nil {
			h.Settle(t, m)
		}
	}

	t.Run("OldestFirst", func(t *testing.T) {
		c := NewClock()
		m := open(t, "oldest", c)
		dev := NewToken()
		var want []mailbox.Delivery
		for i := range 10 {
			d := NewDelivery(dev, c.Now(), i*100)
			d.MessageExpiry = i%2 == 0
			res := enqueue(t, m, d)
			if res[0].Duplicate {
				t.Fatal("fresh delivery reported duplicate")
			}
			if i > 0 && res[0].Seq <= want[i-1].Seq {
				t.Fatalf("seq %d after %d", res[0].Seq, want[i-1].Seq)
			}
			d.Seq = res[0].Seq
			want = append(want, d)
			c.Advance(time.Second)
		}
		// Several in one call keep slice order.
		batch := []mailbox.Delivery{NewDelivery(dev, c.Now(), 5), NewDelivery(dev, c.Now(), 6), NewDelivery(dev, c.Now(), 7)}
		res := enqueue(t, m, batch...)
		for i := range batch {
			batch[i].Seq = res[i].Seq
			if res[i].Seq <= want[len(want)-1].Seq {
				t.Fatal("batch seqs not increasing")
			}
			want = append(want, batch[i])
		}
		got := Collect(t, m, dev, 0)
		if len(got) != len(want) {
			t.Fatalf("%d pending, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i].Seq != want[i].Seq {
				t.Fatalf("position %d: seq %d, want %d", i, got[i].Seq, want[i].Seq)
			}
			if err := Same(got[i], want[i]); err != nil {
				t.Fatalf("position %d: %v", i, err)
			}
		}
		// After a cursor.
		if rest := Collect(t, m, dev, want[4].Seq); len(rest) != len(want)-5 || rest[0].Seq != want[5].Seq {
			t.Fatalf("after seq %d: %d deliveries", want[4].Seq, len(rest))
		}
		// Another device's queue is empty.
		if n := len(Collect(t, m, NewToken(), 0)); n != 0 {
			t.Fatalf("unknown device has %d", n)
		}
	})

	t.Run("IdempotentEnqueue", func(t *testing.T) {
		c := NewClock()
		m := open(t, "idem", c)
		dev, other := NewToken(), NewToken()
		d := NewDelivery(dev, c.Now(), 50)
		first := enqueue(t, m, d)[0]
		again := enqueue(t, m, d)[0]
		if !again.Duplicate || again.Seq != first.Seq {
			t.Fatalf("second enqueue: %+v, first %+v", again, first)
		}
		// Same UUID within one call: stored once.
		e := NewDelivery(dev, c.Now(), 10)
		res := enqueue(t, m, e, e)
		if res[0].Duplicate || !res[1].Duplicate || res[0].Seq != res[1].Seq {
			t.Fatalf("same UUID twice in a call: %+v", res)
		}
		// Same UUID for another device is another delivery.
		d2 := d
		d2.Device = other
		if r := enqueue(t, m, d2)[0]; r.Duplicate {
			t.Fatal("same UUID for another device reported duplicate")
		}
		if n := len(Collect(t, m, dev, 0)); n != 2 {
			t.Fatalf("device has %d deliveries, want 2", n)
		}
		// Concurrent enqueues of one delivery: exactly one stored.
		f := NewDelivery(dev, c.Now(), 10)
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh := 0
		seqs := map[uint64]bool{}
		for range 16 {
			wg.Go(func() {
				r, err := m.Enqueue(context.Background(), []mailbox.Delivery{f})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if !r[0].Duplicate {
					fresh++
				}
				seqs[r[0].Seq] = true
			})
		}
		wg.Wait()
		if fresh != 1 || len(seqs) != 1 {
			t.Fatalf("concurrent enqueue: %d fresh, %d distinct seqs", fresh, len(seqs))
		}
		if n := len(Collect(t, m, dev, 0)); n != 3 {
			t.Fatalf("device has %d deliveries, want 3", n)
		}
	})

	// R7: the dedup window is the retention. Retries after 1 minute, 1 day
	// and 29 days, of a delivery still queued and of one acknowledged.
	t.Run("DedupWindow", func(t *testing.T) {
		c := NewClock()
		m := open(t, "dedup", c)
		dev := NewToken()
		queued := NewDelivery(dev, c.Now(), 20)
		acked := NewDelivery(dev, c.Now(), 20)
		rq := enqueue(t, m, queued)[0]
		ra := enqueue(t, m, acked)[0]
		if err := m.Ack(context.Background(), dev, ra.Seq); err != nil {
			t.Fatal(err)
		}
		copies := 0
		for _, after := range []time.Duration{time.Minute, 24 * time.Hour, 29 * 24 * time.Hour} {
			c.Advance(after - (c.Now().Sub(queued.Time)))
			settle(t, m)
			for _, d := range []mailbox.Delivery{queued, acked} {
				r := enqueue(t, m, d)[0]
				if !r.Duplicate {
					copies++
				}
			}
		}
		got := Collect(t, m, dev, 0)
		if copies != 0 || len(got) != 1 || got[0].Seq != rq.Seq {
			t.Fatalf("R7: %d extra copies stored, %d pending", copies, len(got))
		}
		t.Logf("R7: retries_at=1m,1d,29d extra_copies=%d", copies)
	})

	t.Run("AckDeletesOnlyThatDevice", func(t *testing.T) {
		c := NewClock()
		m := open(t, "ack", c)
		a, b := NewToken(), NewToken()
		ra := enqueue(t, m, NewDelivery(a, c.Now(), 10), NewDelivery(a, c.Now(), 10))
		rb := enqueue(t, m, NewDelivery(b, c.Now(), 10))
		ctx := context.Background()
		// b acks a's seqs and its own seq+1000: nothing of a's changes.
		for _, r := range ra {
			if err := m.Ack(ctx, b, r.Seq); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Ack(ctx, a, ra[1].Seq+1000); err != nil {
			t.Fatal(err)
		}
		if n := len(Collect(t, m, a, 0)); n != 2 {
			t.Fatalf("foreign acks deleted: a has %d", n)
		}
		// b's own delivery is gone only if its seq was among those b acked.
		wantB := 1
		if rb[0].Seq == ra[0].Seq || rb[0].Seq == ra[1].Seq {
			wantB = 0
		}
		if n := len(Collect(t, m, b, 0)); n != wantB {
			t.Fatalf("b has %d, want %d", n, wantB)
		}
		if err := m.Ack(ctx, a, ra[0].Seq); err != nil {
			t.Fatal(err)
		}
		if err := m.Ack(ctx, a, ra[0].Seq); err != nil { // twice: no-op
			t.Fatal(err)
		}
		got := Collect(t, m, a, 0)
		if len(got) != 1 || got[0].Seq != ra[1].Seq {
			t.Fatalf("after ack: %d pending", len(got))
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		c := NewClock()
		m := open(t, "expiry", c)
		dev := NewToken()
		short := NewDelivery(dev, c.Now(), 10)
		short.Expires = c.Now().Add(time.Hour)
		short.MessageExpiry = true
		long := NewDelivery(dev, c.Now(), 10)
		enqueue(t, m, short, long)
		c.Advance(time.Hour - time.Second)
		if n := len(Collect(t, m, dev, 0)); n != 2 {
			t.Fatalf("before expiry: %d", n)
		}
		c.Advance(2 * time.Second)
		got := Collect(t, m, dev, 0)
		if len(got) != 1 || got[0].UUID != long.UUID {
			t.Fatalf("after the short expiry: %d pending", len(got))
		}
		settle(t, m)
		c.Advance(TTL)
		settle(t, m)
		if n := len(Collect(t, m, dev, 0)); n != 0 {
			t.Fatalf("after the TTL: %d pending", n)
		}
		// Expired keys are forgotten: the same UUID can be stored again.
		long.Time, long.Expires = c.Now(), c.Now().Add(TTL)
		if r := enqueue(t, m, long)[0]; r.Duplicate {
			t.Fatal("expired key still deduplicated")
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		c := NewClock()
		m := h.Open(t, "reopen", c.Now)
		dev := NewToken()
		var ds []mailbox.Delivery
		for range 20 {
			d := NewDelivery(dev, c.Now(), 300)
			d.Seq = enqueue(t, m, d)[0].Seq
			ds = append(ds, d)
		}
		ctx := context.Background()
		for i := 0; i < 20; i += 2 {
			if err := m.Ack(ctx, dev, ds[i].Seq); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Enqueue(ctx, []mailbox.Delivery{NewDelivery(dev, c.Now(), 1)}); !errors.Is(err, mailbox.ErrClosed) {
			t.Fatalf("Enqueue after Close: %v", err)
		}
		m = open(t, "reopen", c)
		got := Collect(t, m, dev, 0)
		if len(got) != 10 {
			t.Fatalf("after reopen: %d pending, want 10", len(got))
		}
		for i, g := range got {
			if err := Same(g, ds[2*i+1]); err != nil || g.Seq != ds[2*i+1].Seq {
				t.Fatalf("after reopen, %d: %v", i, err)
			}
		}
		// Dedup survives too, for queued and acknowledged ones.
		for _, d := range ds[:2] {
			if r := enqueue(t, m, d)[0]; !r.Duplicate {
				t.Fatal("dedup lost on reopen")
			}
		}
		// New seqs continue after the old ones.
		r := enqueue(t, m, NewDelivery(dev, c.Now(), 1))[0]
		if r.Seq <= ds[len(ds)-1].Seq {
			t.Fatalf("seq %d reused after reopen", r.Seq)
		}
	})

	t.Run("Watch", func(t *testing.T) {
		c := NewClock()
		m := open(t, "watch", c)
		dev, other := NewToken(), NewToken()
		woke := make(chan struct{}, 16)
		stop := m.Watch(dev, func() { woke <- struct{}{} })
		enqueue(t, m, NewDelivery(other, c.Now(), 1))
		enqueue(t, m, NewDelivery(dev, c.Now(), 1))
		select {
		case <-woke:
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up")
		}
		// Once the wake-up came, the delivery is readable.
		if n := len(Collect(t, m, dev, 0)); n != 1 {
			t.Fatalf("woken with %d pending", n)
		}
		stop()
		for len(woke) > 0 {
			<-woke
		}
		enqueue(t, m, NewDelivery(dev, c.Now(), 1))
		time.Sleep(50 * time.Millisecond)
		if len(woke) != 0 {
			t.Fatal("wake-up after stop")
		}
	})

	t.Run("Limits", func(t *testing.T) {
		c := NewClock()
		m := open(t, "limits", c)
		dev := NewToken()
		ok := NewDelivery(dev, c.Now(), mailbox.MaxPayload)
		enqueue(t, m, ok)
		big := NewDelivery(dev, c.Now(), mailbox.MaxPayload+1)
		good := NewDelivery(dev, c.Now(), 1)
		if _, err := m.Enqueue(context.Background(), []mailbox.Delivery{good, big}); !errors.Is(err, mailbox.ErrInvalid) {
			t.Fatalf("oversized payload: %v", err)
		}
		if n := len(Collect(t, m, dev, 0)); n != 1 {
			t.Fatalf("a refused call stored something: %d pending", n)
		}
		noExp := NewDelivery(dev, c.Now(), 1)
		noExp.Expires = time.Time{}
		if _, err := m.Enqueue(context.Background(), []mailbox.Delivery{noExp}); !errors.Is(err, mailbox.ErrInvalid) {
			t.Fatalf("no expiry: %v", err)
		}
	})

	t.Run("ConcurrentSendersAndReaders", func(t *testing.T) {
		c := NewClock()
		m := open(t, "concurrent", c)
		devs := make([]mailbox.Token, 8)
		for i := range devs {
			devs[i] = NewToken()
		}
		const perSender = 50
		var wg sync.WaitGroup
		for s := range 16 {
			wg.Go(func() {
				for i := range perSender {
					d := NewDelivery(devs[(s+i)%len(devs)], c.Now(), 64)
					if _, err := m.Enqueue(context.Background(), []mailbox.Delivery{d}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		// Readers ack what they see while senders run.
		acked := make([]int, len(devs))
		done := make(chan struct{})
		var rg sync.WaitGroup
		for i, dev := range devs {
			rg.Go(func() {
				var after uint64
				for {
					select {
					case <-done:
						return
					default:
					}
					for d, err := range m.Pending(context.Background(), dev, after) {
						if err != nil {
							t.Error(err)
							return
						}
						if d.Seq <= after {
							t.Errorf("seq %d after cursor %d", d.Seq, after)
						}
						after = d.Seq
						m.Ack(context.Background(), dev, d.Seq)
						acked[i]++
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		wg.Wait()
		close(done)
		rg.Wait()
		total := 0
		for i, dev := range devs {
			total += acked[i] + len(Collect(t, m, dev, 0))
		}
		if total != 16*perSender {
			t.Fatalf("acked + pending = %d, want %d", total, 16*perSender)
		}
	})
}
