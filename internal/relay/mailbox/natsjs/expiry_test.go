package natsjs

import (
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

// streamState returns the stream's message and byte counts.
func streamState(t *testing.T, url, stream string) (msgs, bytes uint64) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs, info.State.Bytes
}

// waitEmpty waits until the stream holds nothing, and returns how long
// that took.
func waitEmpty(t *testing.T, url, stream string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msgs, b := streamState(t, url, stream)
		if msgs == 0 && b == 0 {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("stream still holds %d messages, %d bytes after %v", msgs, b, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Real time, short retention (3 s): retries within the retention are
// duplicates whether the delivery is queued or acknowledged (R7 on the
// server's clock); a delivery is not yielded after its Expires; at MaxAge
// the server removes every record and its space (R4), and the keys are
// forgotten.
func TestRealTTL(t *testing.T) {
	t.Parallel() // mostly waiting for the clock
	url := testURL(t)
	opt := testOptions(url, "ttl_"+uniq())
	opt.TTL, opt.Slack = 3*time.Second, -1
	defer dropStream(t, url, opt.Stream)
	ctx := context.Background()
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev := mailboxtest.NewToken()
	now := time.Now()
	mk := func(exp time.Duration) mailbox.Delivery {
		d := mailboxtest.NewDelivery(dev, now, 200)
		d.Expires = now.Add(exp)
		return d
	}
	queued, acked, short := mk(opt.TTL), mk(opt.TTL), mk(time.Second)
	short.MessageExpiry = true
	res, err := s.Enqueue(ctx, []mailbox.Delivery{queued, acked, short})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, dev, res[1].Seq); err != nil {
		t.Fatal(err)
	}
	// Too long a life is refused.
	if _, err := s.Enqueue(ctx, []mailbox.Delivery{mk(opt.TTL + time.Minute)}); err == nil {
		t.Fatal("a delivery outliving the stream's MaxAge was accepted")
	}
	time.Sleep(time.Until(now.Add(1500 * time.Millisecond)))
	extra := 0
	for i, d := range []mailbox.Delivery{queued, acked} {
		r, err := s.Enqueue(ctx, []mailbox.Delivery{d})
		if err != nil {
			t.Fatal(err)
		}
		if !r[0].Duplicate || r[0].Seq != res[i].Seq {
			extra++
		}
	}
	// short expired at 1 s: not yielded although still in the stream.
	got := mailboxtest.Collect(t, s, dev, 0)
	if len(got) != 1 || got[0].UUID != queued.UUID {
		t.Fatalf("at 1.5 s: %d pending", len(got))
	}
	took := waitEmpty(t, url, opt.Stream, 15*time.Second)
	if n := len(mailboxtest.Collect(t, s, dev, 0)); n != 0 {
		t.Fatalf("after MaxAge: %d pending", n)
	}
	fresh := 0
	for _, d := range []mailbox.Delivery{queued, acked} {
		d.Time, d.Expires = time.Now(), time.Now().Add(opt.TTL)
		r, err := s.Enqueue(ctx, []mailbox.Delivery{d})
		if err != nil {
			t.Fatal(err)
		}
		if !r[0].Duplicate {
			fresh++
		}
	}
	t.Logf("R7/R4 (real clock, TTL 3s): retries_at=1.5s extra_copies=%d; stream empty %v after t=1.5s; stored again after MaxAge: %d of 2",
		extra, took.Round(100*time.Millisecond), fresh)
	if extra != 0 || fresh != 2 {
		t.Fatalf("extra copies %d, fresh after expiry %d", extra, fresh)
	}
}

// A device watched on this node keeps its head while idle for longer than
// MaxAge (the keeper rewrites it), so its next Seq is above the last one a
// connection may hold as its cursor; an unwatched idle device starts again.
func TestHeadKeptForWatchedDevices(t *testing.T) {
	t.Parallel() // mostly waiting for the clock
	url := testURL(t)
	opt := testOptions(url, "keep_"+uniq())
	opt.TTL, opt.Slack, opt.KeepEvery = 2*time.Second, -1, 100*time.Millisecond
	defer dropStream(t, url, opt.Stream)
	ctx := context.Background()
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	watched, idle := mailboxtest.NewToken(), mailboxtest.NewToken()
	stop := s.Watch(watched, func() {})
	defer stop()
	var last [2]uint64
	for round := range 2 {
		for i, dev := range []mailbox.Token{watched, idle} {
			d := mailboxtest.NewDelivery(dev, time.Now(), 10)
			d.Expires = time.Now().Add(opt.TTL)
			r, err := s.Enqueue(ctx, []mailbox.Delivery{d})
			if err != nil {
				t.Fatal(err)
			}
			if round == 1 {
				switch {
				case i == 0 && r[0].Seq <= last[0]:
					t.Fatalf("watched device: seq %d after %d", r[0].Seq, last[0])
				case i == 1 && r[0].Seq != 1:
					t.Fatalf("idle device: seq %d after MaxAge, want 1", r[0].Seq)
				}
			}
			last[i] = r[0].Seq
			if err := s.Ack(ctx, dev, r[0].Seq); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			time.Sleep(2 * opt.TTL)
		}
	}
	t.Logf("head: watched device seq after 2×MaxAge idle = %d, unwatched = %d", last[0], last[1])
}

// R5 on NATS: canary payloads are acknowledged; nats-server keeps deleted
// bytes in a block until it compacts or removes the block, at the latest
// MaxAge after the block's newest write. The test counts the canaries left
// in the store directory right after the acks (reported, not a bar) and
// once the stream is empty (must be 0).
func TestPayloadLeavesDisk(t *testing.T) {
	t.Parallel() // mostly waiting for the clock
	p := ownServer(t)
	url := p.url()
	opt := testOptions(url, "canary")
	opt.TTL, opt.Slack = 4*time.Second, -1
	ctx := context.Background()
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	dev := mailboxtest.NewToken()
	const n = 200
	canaries := make([][]byte, n)
	var ds []mailbox.Delivery
	for i := range canaries {
		canaries[i] = make([]byte, 32)
		rand.Read(canaries[i])
		d := mailboxtest.NewDelivery(dev, time.Now(), 0)
		d.Expires = time.Now().Add(opt.TTL)
		d.Payload = bytes.Repeat(canaries[i], 1024) // 32 KiB
		ds = append(ds, d)
	}
	res, err := s.Enqueue(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if err := s.Ack(ctx, dev, r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	count := func() (hits int) {
		var files [][]byte
		filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if b, err := os.ReadFile(path); err == nil {
					files = append(files, b)
				}
			}
			return nil
		})
		for _, c := range canaries {
			for _, b := range files {
				if bytes.Contains(b, c) {
					hits++
					break
				}
			}
		}
		return hits
	}
	afterAck := count()
	took := waitEmpty(t, url, opt.Stream, 20*time.Second)
	// The server removes blocks right after it updates its state.
	var left int
	for deadline := time.Now().Add(5 * time.Second); ; {
		if left = count(); left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("R5 (nats): canaries=%d on_disk_after_ack=%d on_disk_after_maxage=%d (stream empty %v after the acks)",
		n, afterAck, left, took.Round(100*time.Millisecond))
	if left != 0 {
		t.Fatalf("%d canary payloads still on disk after MaxAge", left)
	}
}
