package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

type key struct {
	dev  mailbox.Token
	uuid mailbox.UUID
}

// r2Run runs one workload on fs until it ends or the simulated power goes
// out, and returns the deliveries whose Enqueue succeeded and the ones the
// devices acknowledged.
func r2Run(fs *CrashFS, clock *mailboxtest.Clock, unsafe bool, seed uint64) (acked map[key][]byte, devAcked map[key]bool) {
	acked, devAcked = map[key][]byte{}, map[key]bool{}
	s, err := Open("mb", Options{FS: fs, Now: clock.Now, SegmentSize: 8 << 10, CacheBytes: 4 << 10,
		CompactEvery: time.Millisecond, UnsafeAckBeforeSync: unsafe})
	if err != nil {
		return
	}
	defer s.Close()
	devs := make([]mailbox.Token, 4)
	for i := range devs {
		devs[i] = mailbox.Token{byte(i + 1)}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx := context.Background()
	for w := range 8 {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)))
			for range 40 {
				d := mailboxtest.NewDelivery(devs[rng.IntN(len(devs))], clock.Now(), 50+rng.IntN(400))
				batch := []mailbox.Delivery{d}
				if rng.IntN(4) == 0 {
					batch = append(batch, mailboxtest.NewDelivery(devs[rng.IntN(len(devs))], clock.Now(), 100))
				}
				if _, err := s.Enqueue(ctx, batch); err != nil {
					return
				}
				mu.Lock()
				for _, d := range batch {
					acked[key{d.Device, d.UUID}] = d.Payload
				}
				mu.Unlock()
			}
		})
	}
	// A device acks about half of what it reads; compaction runs meanwhile.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		rng := mrand.New(mrand.NewPCG(seed, 99))
		for {
			select {
			case <-stop:
				return
			default:
			}
			dev := devs[rng.IntN(len(devs))]
			for d, err := range s.Pending(ctx, dev, 0) {
				if err != nil {
					return
				}
				if rng.IntN(2) == 0 {
					mu.Lock()
					devAcked[key{d.Device, d.UUID}] = true
					mu.Unlock()
					s.Ack(ctx, dev, d.Seq)
				}
			}
			if rng.IntN(8) == 0 {
				s.Compact(ctx)
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	return
}

// r2 runs the power-loss harness at points crash points and returns the
// acknowledged deliveries lost.
func r2(t *testing.T, points int, unsafe bool) (lost, ackedTotal, redelivered int) {
	clock := mailboxtest.NewClock()
	// A dry run measures how many file operations the workload makes.
	dry := NewCrashFS(0)
	r2Run(dry, clock, unsafe, 0)
	budget := dry.Ops()
	rng := mrand.New(mrand.NewPCG(1, 2))
	for p := range points {
		fs := NewCrashFS(uint64(p))
		at := 1 + rng.Int64N(budget)
		fs.CrashAt(at)
		acked, devAcked := r2Run(fs, clock, unsafe, uint64(p))
		img := fs.Image(uint64(p))
		s, err := Open("mb", Options{FS: img, Now: clock.Now})
		if err != nil {
			t.Fatalf("crash point %d (op %d): reopen: %v", p, at, err)
		}
		found := map[key][]byte{}
		for _, dev := range []mailbox.Token{{1}, {2}, {3}, {4}} {
			var last uint64
			for d, err := range s.Pending(context.Background(), dev, 0) {
				if err != nil {
					t.Fatalf("crash point %d: %v", p, err)
				}
				k := key{d.Device, d.UUID}
				if _, dup := found[k]; dup {
					t.Fatalf("crash point %d: delivery twice in the queue", p)
				}
				if d.Seq <= last {
					t.Fatalf("crash point %d: seq order broken", p)
				}
				last = d.Seq
				found[k] = d.Payload
			}
		}
		for k, payload := range acked {
			ackedTotal++
			got, ok := found[k]
			switch {
			case ok && !bytes.Equal(got, payload):
				t.Fatalf("crash point %d: payload changed", p)
			case ok && devAcked[k]:
				redelivered++
			case !ok && !devAcked[k]:
				lost++
			}
		}
		// What was acknowledged can be retried and is not stored twice.
		for k, payload := range acked {
			d := mailboxtest.NewDelivery(k.dev, clock.Now(), 0)
			d.UUID, d.Payload = k.uuid, payload
			res, err := s.Enqueue(context.Background(), []mailbox.Delivery{d})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := found[k]; ok && !res[0].Duplicate {
				t.Fatalf("crash point %d: retry stored a second copy", p)
			}
		}
		s.Close()
	}
	return
}

// R2: simulated power loss at random points; nothing acknowledged is lost.
func TestR2PowerLoss(t *testing.T) {
	points := 250
	if testing.Short() {
		points = 60
	}
	lost, acked, redelivered := r2(t, points, false)
	t.Logf("R2: crash_points=%d acked=%d acked_lost=%d redelivered_after_ack=%d", points, acked, lost, redelivered)
	fmt.Printf("R2: crash_points=%d acked=%d acked_lost=%d redelivered_after_ack=%d\n", points, acked, lost, redelivered)
	if lost != 0 {
		t.Fatalf("R2: %d acknowledged deliveries lost", lost)
	}
	if acked == 0 {
		t.Fatal("R2: the harness acknowledged nothing")
	}
}

// The harness can fail: with acknowledgement before sync it must see
// losses.
func TestR2SelfCheck(t *testing.T) {
	points := 100
	lost, acked, _ := r2(t, points, true)
	fmt.Printf("R2 self-check (ack before fsync): crash_points=%d acked=%d acked_lost=%d\n", points, acked, lost)
	if lost == 0 {
		t.Fatal("R2 harness is blind: acknowledging before fsync lost nothing")
	}
}

// R4: a device offline 29 d 23 h gets everything, in order; one offline
// 30 d + 1 s gets nothing; storage returns to its baseline.
func TestR4Expiry(t *testing.T) {
	clock := mailboxtest.NewClock()
	dir := t.TempDir()
	s, err := Open(dir, Options{Now: clock.Now, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	baseline := dirBytes(t, dir)
	early, late := mailboxtest.NewToken(), mailboxtest.NewToken()
	var want []mailbox.UUID
	for i := range 200 {
		a := mailboxtest.NewDelivery(early, clock.Now(), 500)
		b := mailboxtest.NewDelivery(late, clock.Now(), 500)
		if _, err := s.Enqueue(ctx, []mailbox.Delivery{a, b}); err != nil {
			t.Fatal(err)
		}
		want = append(want, a.UUID)
		if i%50 == 0 {
			clock.Advance(time.Second)
		}
	}
	peak := dirBytes(t, dir)
	// Everything was enqueued within the first 4 s; the first device comes
	// back at 29 d 23 h.
	clock.Advance(29*24*time.Hour + 23*time.Hour - 4*time.Second)
	s.Sweep()
	got := mailboxtest.Collect(t, s, early, 0)
	inOrder := len(got) == len(want)
	for i := range got {
		if !inOrder || got[i].UUID != want[i] {
			inOrder = false
			break
		}
		s.Ack(ctx, early, got[i].Seq)
	}
	// The second device comes back at 30 d + 1 s.
	clock.Advance(time.Hour + time.Second + 4*time.Second)
	lateGot := len(mailboxtest.Collect(t, s, late, 0))
	s.Sweep()
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := dirBytes(t, dir)
	st := s.Stats()
	fmt.Printf("R4: delivered_at_29d23h=%d/%d in_order=%v delivered_at_30d1s=%d expired=%d bytes_baseline=%d peak=%d after=%d\n",
		len(got), len(want), inOrder, lateGot, st.Expired, baseline, peak, after)
	if !inOrder || lateGot != 0 || st.Expired != int64(len(want)) {
		t.Fatal("R4 failed")
	}
	if after > baseline+peak/100 {
		t.Fatalf("R4: storage %d bytes after expiry, baseline %d", after, baseline)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// R5: after ack and compaction, no trace of the ciphertext in the data
// folder; a crash between ack and delete redelivers at most, never keeps
// it past the TTL.
func TestR5DeleteOnDelivery(t *testing.T) {
	clock := mailboxtest.NewClock()
	dir := t.TempDir()
	s, err := Open(dir, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dev := mailboxtest.NewToken()
	var canaries [][]byte
	for range 20 {
		d := mailboxtest.NewDelivery(dev, clock.Now(), 0)
		d.Payload = []byte("CANARY-" + rand.Text())
		canaries = append(canaries, d.Payload)
		// Unrelated traffic around it, part of it still queued.
		keep := mailboxtest.NewDelivery(mailboxtest.NewToken(), clock.Now(), 300)
		if _, err := s.Enqueue(ctx, []mailbox.Delivery{d, keep}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range mailboxtest.Collect(t, s, dev, 0) {
		s.Ack(ctx, dev, d.Seq)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	hits := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, c := range canaries {
			hits += bytes.Count(b, c)
		}
		return nil
	})
	s.Close()

	// Crash between ack and delete: the ack record is lost with the power.
	fs := NewCrashFS(5)
	s, err = Open("mb", Options{FS: fs, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	d := mailboxtest.NewDelivery(dev, clock.Now(), 0)
	d.Payload = []byte("CANARY-" + rand.Text())
	if _, err := s.Enqueue(ctx, []mailbox.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	fs.CrashAt(1) // the next write (the ack record) never happens
	got := mailboxtest.Collect(t, s, dev, 0)
	s.Ack(ctx, dev, got[0].Seq)
	time.Sleep(10 * time.Millisecond)
	s.Close()
	img := fs.Image(5)
	s, err = Open("mb", Options{FS: img, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	redelivered := len(mailboxtest.Collect(t, s, dev, 0))
	for _, d := range mailboxtest.Collect(t, s, dev, 0) {
		s.Ack(ctx, dev, d.Seq)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	crashHits := 0
	for _, b := range img.Bytes() {
		crashHits += bytes.Count(b, d.Payload)
	}
	// And past the TTL nothing is delivered, acked or not.
	e := mailboxtest.NewDelivery(dev, clock.Now(), 10)
	s.Enqueue(ctx, []mailbox.Delivery{e})
	clock.Advance(mailboxtest.TTL + time.Second)
	afterTTL := len(mailboxtest.Collect(t, s, dev, 0))
	s.Close()
	fmt.Printf("R5: canaries=%d canary_hits_after_compaction=%d crash_between_ack_and_delete: redelivered=%d hits_after=%d deliveries_after_ttl=%d\n",
		len(canaries), hits, redelivered, crashHits, afterTTL)
	if hits != 0 || crashHits != 0 || afterTTL != 0 || redelivered > 1 {
		t.Fatal("R5 failed")
	}
}
