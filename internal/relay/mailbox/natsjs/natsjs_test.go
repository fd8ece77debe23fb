package natsjs

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

func TestConformance(t *testing.T) {
	url := testURL(t)
	run := uniq()
	var streams []string
	t.Cleanup(func() {
		for _, s := range streams {
			dropStream(t, url, s)
		}
	})
	mailboxtest.Run(t, mailboxtest.Harness{
		Open: func(t *testing.T, name string, now func() time.Time) mailbox.Mailbox {
			opt := testOptions(url, run+"_"+name)
			opt.Now = now
			s, err := Open(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			streams = append(streams, opt.Stream)
			return s
		},
	})
}

// Two stores on one stream, as two relay nodes: a delivery enqueued on one
// wakes a watcher on the other, Seqs interleave without repeating, dedup
// and acks hold across them.
func TestTwoNodes(t *testing.T) {
	c := mailboxtest.NewClock()
	opt, nodes := openStores(t, "two", c.Now, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()

	dev := mailboxtest.NewToken()
	woke := watchWakes(t, b, dev)
	// Alternate the nodes; each keeps a head cache that the other makes stale.
	var want []mailbox.Delivery
	for i := range 20 {
		n := a
		if i%3 == 0 {
			n = b
		}
		d := mailboxtest.NewDelivery(dev, c.Now(), 10+i)
		r, err := n.Enqueue(ctx, []mailbox.Delivery{d})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) > 0 && r[0].Seq <= want[len(want)-1].Seq {
			t.Fatalf("seq %d after %d", r[0].Seq, want[len(want)-1].Seq)
		}
		d.Seq = r[0].Seq
		want = append(want, d)
		// The other node sees it as a duplicate.
		other := b
		if n == b {
			other = a
		}
		if r2, err := other.Enqueue(ctx, []mailbox.Delivery{d}); err != nil || !r2[0].Duplicate || r2[0].Seq != d.Seq {
			t.Fatalf("retry on the other node: %+v %v", r2, err)
		}
	}
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("no cross-node wake-up")
	}
	for _, n := range []*Store{a, b} {
		got := mailboxtest.Collect(t, n, dev, 0)
		if len(got) != len(want) {
			t.Fatalf("%d pending, want %d", len(got), len(want))
		}
		for i := range got {
			if err := mailboxtest.Same(got[i], want[i]); err != nil || got[i].Seq != want[i].Seq {
				t.Fatalf("position %d: %v", i, err)
			}
		}
	}
	// Acks on a, for deliveries b read; b stops seeing them once a's
	// workers are done (Close flushes them).
	for _, d := range want[:10] {
		if err := a.Ack(ctx, dev, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got := mailboxtest.Collect(t, b, dev, 0)
	if len(got) != 10 || got[0].Seq != want[10].Seq {
		t.Fatalf("after acks on the other node: %d pending", len(got))
	}
	// Acknowledged deliveries stay deduplicated, and new Seqs continue.
	for _, d := range want[:10] {
		if r, err := b.Enqueue(ctx, []mailbox.Delivery{d}); err != nil || !r[0].Duplicate || r[0].Seq != d.Seq {
			t.Fatalf("acked delivery retried: %+v %v", r, err)
		}
	}
	r, err := b.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev, c.Now(), 1)})
	if err != nil || r[0].Seq <= want[len(want)-1].Seq {
		t.Fatalf("new seq %d after %d: %v", r[0].Seq, want[len(want)-1].Seq, err)
	}
	// A node that never read the queue acknowledges (it finds the
	// delivery by a scan), and an unknown Seq is a no-op there too.
	n3, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{want[12].Seq, want[12].Seq + 1000} {
		if err := n3.Ack(ctx, dev, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := n3.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range mailboxtest.Collect(t, b, dev, 0) {
		if d.Seq == want[12].Seq {
			t.Fatal("ack from a node that never read the queue not applied")
		}
	}
	if st := n3.Stats(); st.Acked != 2 || st.AckDropped != 0 {
		t.Fatalf("third node: %+v", st)
	}
}

// Concurrent enqueuers on two nodes for a handful of devices: no Seq is
// given twice for one device, no delivery is stored twice.
func TestTwoNodesContention(t *testing.T) {
	url := testURL(t)
	opt := testOptions(url, "contend_"+uniq())
	defer dropStream(t, url, opt.Stream)
	ctx := context.Background()
	var nodes []*Store
	for range 2 {
		n, err := Open(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	devs := []mailbox.Token{mailboxtest.NewToken(), mailboxtest.NewToken(), mailboxtest.NewToken()}
	now := time.Now()
	const senders, each = 8, 25
	ds := make([][]mailbox.Delivery, senders)
	errc := make(chan error, senders)
	for s := range senders {
		for i := range each {
			ds[s] = append(ds[s], mailboxtest.NewDelivery(devs[(s+i)%len(devs)], now, 32))
		}
		go func() {
			n := nodes[s%2]
			for i, d := range ds[s] {
				// Every delivery is sent twice, the second time on the other node.
				if _, err := n.Enqueue(ctx, []mailbox.Delivery{d}); err != nil {
					errc <- err
					return
				}
				if i%2 == 0 {
					if r, err := nodes[(s+1)%2].Enqueue(ctx, []mailbox.Delivery{d}); err != nil || !r[0].Duplicate {
						errc <- errors.Join(err, errors.New("second send not a duplicate"))
						return
					}
				}
			}
			errc <- nil
		}()
	}
	for range senders {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, dev := range devs {
		got := mailboxtest.Collect(t, nodes[0], dev, 0)
		seen := map[mailbox.UUID]bool{}
		for i, d := range got {
			if seen[d.UUID] {
				t.Fatal("a delivery stored twice")
			}
			seen[d.UUID] = true
			if i > 0 && d.Seq <= got[i-1].Seq {
				t.Fatalf("seq %d after %d", d.Seq, got[i-1].Seq)
			}
		}
		total += len(got)
	}
	if total != senders*each {
		t.Fatalf("%d stored, want %d", total, senders*each)
	}
	t.Logf("contention: nodes=2 senders=%d deliveries=%d stored=%d dups=0", senders, senders*each, total)
}

func TestOptionsFromURL(t *testing.T) {
	o, err := OptionsFromURL("nats://u:p@127.0.0.1:4222,127.0.0.1:4223?stream=S&subject=a.b&wake=c")
	if err != nil || o.URL != "nats://u:p@127.0.0.1:4222,127.0.0.1:4223" || o.Stream != "S" || o.Subject != "a.b" || o.WakeSubject != "c" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range []string{"http://x", "nats://x?ttl=1h", "nats://x?%zz"} {
		if _, err := OptionsFromURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Deleting a message that is already gone (acknowledged on another node
// meanwhile) is not an error.
func TestDeleteGone(t *testing.T) {
	_, nodes := openStores(t, "del", nil, 1)
	s := nodes[0]
	ctx := context.Background()
	d := mailboxtest.NewDelivery(mailboxtest.NewToken(), time.Now(), 1)
	if _, err := s.Enqueue(ctx, []mailbox.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	seq, _, _ := s.cachedHead(d.Device)
	for i := range 2 {
		if err := s.deleteSeq(ctx, seq); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if err := s.deleteSeq(ctx, seq+1000); err != nil {
		t.Fatalf("delete of a sequence never used: %v", err)
	}
}

// Watching many devices costs no goroutine per device, and a fan-out
// enqueued on another node wakes each of its devices' watchers here.
func TestWatchManyDevices(t *testing.T) {
	_, nodes := openStores(t, "watch", nil, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	const n = 2000
	devs := make([]mailbox.Token, n)
	woke := make([]atomic.Int32, n)
	before := runtime.NumGoroutine()
	var stops []func()
	for i := range devs {
		devs[i] = mailboxtest.NewToken()
		stops = append(stops, b.Watch(devs[i], func() { woke[i].Add(1) }))
	}
	grew := runtime.NumGoroutine() - before
	if grew > 20 {
		t.Fatalf("watching %d devices started %d goroutines", n, grew)
	}
	if err := b.nc.Flush(); err != nil { // subscriptions registered
		t.Fatal(err)
	}
	var ds []mailbox.Delivery
	for i := 0; i < n; i += 10 {
		ds = append(ds, mailboxtest.NewDelivery(devs[i], time.Now(), 16))
	}
	if _, err := a.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < n; i++ {
		want := int32(0)
		if i%10 == 0 {
			want = 1
		}
		for want == 1 && woke[i].Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := woke[i].Load(); (got > 0) != (want > 0) {
			t.Fatalf("device %d woken %d times, want %d", i, got, want)
		}
	}
	for _, stop := range stops {
		stop()
	}
	t.Logf("watch: devices=%d goroutines_added=%d fanout=%d all_woken", n, grew, len(ds))
}
