package natsjs

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

// ownServer starts a nats-server process for one test, which may kill it.
func ownServer(t *testing.T) *serverProc {
	t.Helper()
	bin := serverBinary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: no nats-server binary (SEALPOST_TEST_NATS_SERVER); .ci/setup.d/nats.sh installs one")
		}
		t.Skip("no nats-server binary: set SEALPOST_TEST_NATS_SERVER (.ci/setup.d/nats.sh installs one)")
	}
	p, err := startServer(bin, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

// The NATS server is killed with SIGKILL, and restarted, while senders
// enqueue and a device acknowledges. Senders retry every unacknowledged
// send with the same UUID, as the relay's clients do. Afterwards every
// acknowledged enqueue is there (queued, or deduplicated if the device
// acknowledged it), exactly once, in Seq order.
func TestCrashServerKill(t *testing.T) {
	p := ownServer(t)
	opt := testOptions(p.url(), "crash")
	opt.Timeout = 2 * time.Second
	opt.NATSOptions = []nats.Option{nats.ReconnectWait(20 * time.Millisecond), nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond)}
	ctx := context.Background()
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()

	const (
		senders = 8
		perSend = 100
		kills   = 5
	)
	devs := make([]mailbox.Token, 16)
	for i := range devs {
		devs[i] = mailboxtest.NewToken()
	}
	type sent struct {
		d   mailbox.Delivery
		seq uint64
	}
	var (
		mu      sync.Mutex
		acked   []sent
		retries atomic.Int64
		done    atomic.Bool
	)
	// The device side: acknowledges about a third of what it reads.
	devAcked := make(map[mailbox.UUID]bool)
	var devWG sync.WaitGroup
	devWG.Go(func() {
		for !done.Load() {
			for _, dev := range devs {
				for d, err := range s.Pending(ctx, dev, 0) {
					if err != nil {
						break // the server is down; later
					}
					if d.UUID[0]%3 == 0 && !devAcked[d.UUID] {
						if s.Ack(ctx, dev, d.Seq) == nil {
							mu.Lock()
							devAcked[d.UUID] = true
							mu.Unlock()
						}
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := range perSend {
				d := mailboxtest.NewDelivery(devs[(w*7+i)%len(devs)], time.Now(), 100+i)
				for {
					r, err := s.Enqueue(ctx, []mailbox.Delivery{d})
					if err == nil {
						mu.Lock()
						acked = append(acked, sent{d, r[0].Seq})
						mu.Unlock()
						break
					}
					retries.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	// The killer.
	var recov []time.Duration
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	prev := 0
	for k := range kills {
		// Kill mid-traffic: once the senders have made progress since the
		// last restart, at a random moment.
		for deadline := time.Now().Add(20 * time.Second); ackedNow() < prev+100 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		n := ackedNow()
		prev = n
		p.kill()
		start := time.Now()
		if err := p.restart(); err != nil {
			t.Fatalf("restart %d: %v", k, err)
		}
		recov = append(recov, time.Since(start))
		t.Logf("kill %d after %d acked enqueues; server back in %v", k+1, n, recov[len(recov)-1].Round(time.Millisecond))
	}
	wg.Wait()
	done.Store(true)
	devWG.Wait()
	// Close applies the acknowledgements still queued; then look with a
	// fresh store.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	byDev := map[mailbox.Token]map[mailbox.UUID]mailbox.Delivery{}
	stored := 0
	for _, dev := range devs {
		got := mailboxtest.Collect(t, s, dev, 0)
		m := map[mailbox.UUID]mailbox.Delivery{}
		for i, d := range got {
			if _, dup := m[d.UUID]; dup {
				t.Errorf("UUID stored twice for one device")
			}
			if i > 0 && d.Seq <= got[i-1].Seq {
				t.Errorf("seq %d after %d", d.Seq, got[i-1].Seq)
			}
			m[d.UUID] = d
		}
		byDev[dev] = m
		stored += len(got)
	}
	lost, wrongSeq, undeleted := 0, 0, 0
	for _, a := range acked {
		got, ok := byDev[a.d.Device][a.d.UUID]
		if devAcked[a.d.UUID] {
			if ok {
				undeleted++
			}
			// Still deduplicated, with its Seq.
			r, err := s.Enqueue(ctx, []mailbox.Delivery{a.d})
			if err != nil || !r[0].Duplicate || r[0].Seq != a.seq {
				lost++
			}
			continue
		}
		if !ok {
			lost++
			continue
		}
		if got.Seq != a.seq || mailboxtest.Same(got, a.d) != nil {
			wrongSeq++
		}
	}
	t.Logf("crash: kills=%d acked_enqueues=%d acked_lost=%d stored_dups=0 wrong=%d device_acks=%d undeleted_after_ack=%d enqueue_retries=%d restart_max=%v",
		kills, len(acked), lost, wrongSeq, len(devAcked), undeleted, retries.Load(), maxDur(recov).Round(time.Millisecond))
	if len(acked) != senders*perSend {
		t.Fatalf("%d acked enqueues, want %d", len(acked), senders*perSend)
	}
	if lost != 0 || wrongSeq != 0 || undeleted != 0 {
		t.Fatalf("lost %d, wrong %d, undeleted %d", lost, wrongSeq, undeleted)
	}
	if stored != len(acked)-len(devAcked) {
		t.Fatalf("%d stored, want %d", stored, len(acked)-len(devAcked))
	}
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
