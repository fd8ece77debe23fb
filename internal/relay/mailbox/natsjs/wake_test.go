package natsjs

import (
	"context"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

func TestWakeBody(t *testing.T) {
	seq, head, ok := parseWake(wakeBody(123456789, 42))
	if !ok || seq != 123456789 || head != 42 {
		t.Fatalf("round trip: %d %d %v", seq, head, ok)
	}
	for _, b := range [][]byte{nil, {}, {'H', 1, 2}, append([]byte{'X'}, make([]byte, 16)...), make([]byte, wakeLen)} {
		if _, _, ok := parseWake(b); ok {
			t.Fatalf("parseWake(%x) accepted", b)
		}
	}
}

// A node watching a device learns the head from the other node's wake-ups,
// so that its own next write to the device (an ack) is not refused; a node
// that does not watch the device reads the head afresh once it has seen
// another node write to it.
func TestWakeCarriesHead(t *testing.T) {
	_, nodes := openStores(t, "wakehead", nil, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()

	dev := mailboxtest.NewToken()
	watchWakes(t, b, dev) // b watches the device, so it takes heads from wake-ups
	now := time.Now()
	// b writes first, so that its cache holds a head a's writes make stale.
	if _, err := b.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev, now, 10)}); err != nil {
		t.Fatal(err)
	}
	var last mailbox.Result
	for i := range 5 {
		r, err := a.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev, now, 20+i)})
		if err != nil {
			t.Fatal(err)
		}
		last = r[0]
	}
	aSeq, aHead, ok := a.cachedHead(dev)
	if !ok || aHead != last.Seq {
		t.Fatalf("a's head %d %v, want %d", aHead, ok, last.Seq)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if seq, head, ok := b.cachedHead(dev); ok && seq == aSeq && head == aHead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b did not learn the head from a's wake-ups")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// b acknowledges everything: no refused write on b.
	for _, d := range mailboxtest.Collect(t, b, dev, 0) {
		if err := b.Ack(ctx, dev, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Conflicts != 0 || st.Acked != 6 {
		t.Fatalf("b: %+v", st)
	}
	// a's cached head is stale now (b wrote the K records). One refused
	// write teaches a that others write to the device; the next enqueue
	// reads the head afresh and is not refused.
	for i := range 2 {
		if _, err := a.Enqueue(ctx, []mailbox.Delivery{mailboxtest.NewDelivery(dev, now, 30+i)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.Stats(); st.Conflicts != 1 {
		t.Fatalf("a: %d refused writes, want 1", st.Conflicts)
	}
}
