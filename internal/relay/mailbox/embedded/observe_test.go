package embedded

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Queue counts what is queued and finds the oldest head; the sync
// histogram accounts for every sync; Err reports a stopped store.
func TestQueueSyncHistogramErr(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, oldest := s.Queue(); n != 0 || !oldest.IsZero() {
		t.Fatalf("empty store: Queue = %d, %v", n, oldest)
	}
	base := time.Now().Truncate(time.Second)
	mk := func(dev byte, uuid byte, at time.Duration) mailbox.Delivery {
		return mailbox.Delivery{Device: mailbox.Token{dev}, UUID: mailbox.UUID{uuid}, Time: base.Add(at),
			Expires: base.Add(time.Hour), Payload: []byte{uuid}}
	}
	// Device 1 gets the oldest delivery, device 2 two newer ones, in two
	// groups.
	if _, err := s.Enqueue(ctx, []mailbox.Delivery{mk(2, 1, 2*time.Second), mk(1, 2, time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []mailbox.Delivery{mk(2, 3, 3*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if n, oldest := s.Queue(); n != 3 || !oldest.Equal(base.Add(time.Second)) {
		t.Fatalf("Queue = %d, %v; want 3, %v", n, oldest, base.Add(time.Second))
	}
	if err := s.Ack(ctx, mailbox.Token{1}, 1); err != nil {
		t.Fatal(err)
	}
	if n, oldest := s.Queue(); n != 2 || !oldest.Equal(base.Add(2*time.Second)) {
		t.Fatalf("after an ack: Queue = %d, %v; want 2, %v", n, oldest, base.Add(2*time.Second))
	}

	st := s.Stats()
	h := st.SyncHistogram
	if st.Syncs < 2 || h.Count != st.Syncs {
		t.Fatalf("histogram count %d, syncs %d (want equal, at least 2)", h.Count, st.Syncs)
	}
	for i := 1; i < len(h.Buckets); i++ {
		if h.Buckets[i] < h.Buckets[i-1] {
			t.Fatalf("buckets not cumulative: %v", h.Buckets)
		}
	}
	if h.Buckets[len(h.Buckets)-1] > h.Count || h.Sum <= 0 {
		t.Fatalf("histogram %+v", h)
	}

	if err := s.Err(); err != nil {
		t.Fatalf("Err of a working store: %v", err)
	}
	s.Close()
	if err := s.Err(); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Err after Close: %v", err)
	}
}

// A failed write stops the store, and Err says so.
func TestErrAfterFailedWrite(t *testing.T) {
	fs := NewCrashFS(7)
	s, err := Open("mbx", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs.CrashAt(1)
	d := mailbox.Delivery{Device: mailbox.Token{1}, UUID: mailbox.UUID{1}, Time: time.Now(), Expires: time.Now().Add(time.Hour)}
	if _, err := s.Enqueue(context.Background(), []mailbox.Delivery{d}); err == nil {
		t.Fatal("enqueue on a crashed file layer succeeded")
	}
	if err := s.Err(); err == nil || errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Err after a failed write: %v", err)
	}
}

// The histogram's buckets follow SyncBounds.
func TestObserveSync(t *testing.T) {
	s := &Store{}
	for _, d := range []time.Duration{0, SyncBounds[0], SyncBounds[0] + 1, SyncBounds[3], 2 * time.Second} {
		s.observeSync(d)
	}
	h := s.syncHistogram()
	if h.Count != 5 || h.Buckets[0] != 2 || h.Buckets[1] != 3 || h.Buckets[3] != 4 || h.Buckets[len(h.Buckets)-1] != 4 {
		t.Fatalf("histogram %+v", h)
	}
	if h.Sum != SyncBounds[0]+SyncBounds[0]+1+SyncBounds[3]+2*time.Second {
		t.Fatalf("sum %v", h.Sum)
	}
}
