package client

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/testrig"
	"github.com/sealpost/sealpost/message"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mkDevice(t *testing.T, rig *testrig.Rig, name, handle string, opt Options) *Device {
	t.Helper()
	key, err := testrig.NextPushKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Init(testCtx(t), filepath.Join(t.TempDir(), name), InitOptions{Server: rig.URL, CA: rig.CAPEM, DeviceName: name, PushKey: key, Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	h, err := d.Register(testCtx(t), handle)
	if err != nil {
		t.Fatal(err)
	}
	code, err := rig.Code(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(testCtx(t), h, code); err != nil {
		t.Fatal(err)
	}
	return d
}

func collect(t *testing.T, d *Device) (msgs []*Message, rcpts []*Receipt) {
	t.Helper()
	err := d.Receive(testCtx(t), ReceiveOptions{}, func(ev Event) error {
		if ev.Message != nil {
			msgs = append(msgs, ev.Message)
		}
		if ev.Receipt != nil {
			rcpts = append(rcpts, ev.Receipt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs, rcpts
}

// A forged message (sealed by someone else's keys, claiming alice as the
// sender) and a tampered one are dropped: no event, no receipt, acked so
// the relay does not push them again, and logged without their content.
func TestForgedMessageDropped(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	var bobLog syncBuffer
	alice := mkDevice(t, rig, "alice", "alice@example.org", Options{})
	mallory := mkDevice(t, rig, "mallory", "mallory@example.org", Options{})
	bob := mkDevice(t, rig, "bob", "bob@example.org", Options{Logger: slog.New(slog.NewTextHandler(&bobLog, nil))})

	devs, err := mallory.cache.devices(testCtx(t), []string{"mailto:bob@example.org"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	bd := devs["mailto:bob@example.org"][0]
	const secret = "transfer the money"
	forge := func(scheme string, tamper bool) {
		m := &message.Message{ID: message.NewID(), Participants: []string{"mailto:alice@example.org", "mailto:bob@example.org"}, Text: secret}
		p, err := envelope.Seal(mallory.keys, bd.Keys, scheme, m, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			p[len(p)/2] ^= 1
		}
		// Mallory's relay connection, claiming alice's handle as sP.
		o := ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, UUID: m.ID, Sender: "mailto:alice@example.org", Scheme: scheme,
			Destinations: []ids.Destination{{URI: bd.Handle, Token: bd.PushToken, SessionToken: bd.SessionToken, Payload: p}}}
		l, err := mallory.getLink(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.send(testCtx(t), func(id uint32) []byte { o.ID = id; return o.Marshal() })
		if err != nil || len(res.acks) != 1 || res.acks[0].Status != ids.StatusAccepted {
			t.Fatalf("forged send: %v %+v", err, res)
		}
	}
	forge(envelope.SchemePairEC, false)
	forge(envelope.SchemePair, false)
	// Claiming mallory's own handle but tampered in transit.
	forge(envelope.SchemePairEC, true)

	msgs, _ := collect(t, bob)
	if len(msgs) != 0 {
		t.Fatalf("bob accepted %d forged messages", len(msgs))
	}
	if n := strings.Count(bobLog.String(), "dropped a message"); n != 3 {
		t.Fatalf("%d drops logged:\n%s", n, bobLog.String())
	}
	if strings.Contains(bobLog.String(), secret) {
		t.Fatal("the log holds plaintext")
	}
	// Acked: nothing left for bob; no receipt for anyone.
	if q, _ := rig.Queued(bob.PushToken()); len(q) != 0 {
		t.Fatalf("%d deliveries left in bob's queue", len(q))
	}
	for _, d := range []*Device{alice, mallory} {
		if _, rc := collect(t, d); len(rc) != 0 {
			t.Fatalf("%s got %d receipts", d.Name(), len(rc))
		}
	}
	// A genuine message from alice still goes through.
	if _, err := alice.Send(testCtx(t), Draft{To: []string{"bob@example.org"}, Text: "genuine"}); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := collect(t, bob); len(msgs) != 1 || msgs[0].Text != "genuine" {
		t.Fatalf("genuine message: %+v", msgs)
	}
}

// A message the device stored but did not acknowledge (the process
// stopped) is pushed again on the next run, and not shown twice: the
// dedup set survives a restart.
func TestDedupAcrossRestart(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := mkDevice(t, rig, "alice", "alice@example.org", Options{})
	bob := mkDevice(t, rig, "bob", "bob@example.org", Options{})
	home := bob.Home()
	for _, text := range []string{"one", "two"} {
		if _, err := alice.Send(testCtx(t), Draft{To: []string{"bob@example.org"}, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	stop := errAbort
	var first []string
	err := bob.Receive(testCtx(t), ReceiveOptions{}, func(ev Event) error {
		if ev.Message != nil {
			first = append(first, ev.Message.Text)
			return stop // stored, shown, never acknowledged
		}
		return nil
	})
	if err != stop || len(first) != 1 {
		t.Fatalf("first run: %v %q", err, first)
	}
	bob.Close()
	bob2, err := Open(home, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	msgs, _ := collect(t, bob2)
	if len(msgs) != 1 || msgs[0].Text != "two" {
		t.Fatalf("after restart: %+v", msgs)
	}
	if q, _ := rig.Queued(bob2.PushToken()); len(q) != 0 {
		t.Fatalf("%d left queued", len(q))
	}
}

var errAbort = &hinted{err: os.ErrClosed, hint: "test"}

// The lookup cache: a positive answer is used for a day, a negative one
// for an hour (protocol.md §5), with an injected clock.
func TestLookupCacheLifetimes(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	alice := mkDevice(t, rig, "alice", "alice@example.org", Options{Now: clock})
	mkDevice(t, rig, "bob", "bob@example.org", Options{})
	c := alice.cache
	fetchedAt := func(h string) time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.entries[h].Fetched
	}
	bob, nobody := "mailto:bob@example.org", "mailto:nobody@example.org"
	look := func() {
		if _, err := c.devices(testCtx(t), []string{bob, nobody}, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	look()
	t0b, t0n := fetchedAt(bob), fetchedAt(nobody)
	advance(59 * time.Minute)
	look()
	if fetchedAt(bob) != t0b || fetchedAt(nobody) != t0n {
		t.Fatal("looked up again within the hour")
	}
	advance(2 * time.Minute) // 61 minutes: the negative answer is stale
	look()
	if fetchedAt(bob) != t0b || fetchedAt(nobody) == t0n {
		t.Fatal("after an hour: want only the negative answer looked up again")
	}
	// Session tokens last 24 hours: the positive answer is refreshed a
	// little before a day, when its tokens are about to expire.
	advance(23*time.Hour + 50*time.Minute)
	look()
	if fetchedAt(bob) == t0b {
		t.Fatal("a day later the positive answer is still used")
	}
	// The cache survives reopening the device.
	home := alice.Home()
	alice.Close()
	a2, err := Open(home, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if a2.cache.entries[bob].Fetched.IsZero() {
		t.Fatal("cache not persisted")
	}
	// A send to a handle cached as unknown asks the directory again.
	mkDevice(t, rig, "nobody", "nobody@example.org", Options{})
	if _, err := a2.Send(testCtx(t), Draft{To: []string{"nobody@example.org"}, Text: "hi"}); err != nil {
		t.Fatalf("send after registration, negative answer cached: %v", err)
	}
}

// Keys are owner-only on disk, and a key file others can read is refused.
func TestKeyFiles(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	d := mkDevice(t, rig, "alice", "alice@example.org", Options{})
	home := d.Home()
	d.Close()
	for _, f := range []string{fileKeys, filePushKey, fileConfig, fileContacts, fileCache, fileSeen, fileHistory} {
		st, err := os.Stat(filepath.Join(home, f))
		if os.IsNotExist(err) && f != fileKeys && f != filePushKey && f != fileConfig {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", f, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(home); st.Mode().Perm() != 0o700 {
		t.Errorf("home has mode %v", st.Mode().Perm())
	}
	for _, f := range []string{fileKeys, filePushKey} {
		os.Chmod(filepath.Join(home, f), 0o640)
		_, err := Open(home, Options{})
		if err == nil || !strings.Contains(err.Error(), "readable by others") {
			t.Errorf("%s readable by the group: %v", f, err)
		}
		os.Chmod(filepath.Join(home, f), 0o600)
	}
	d2, err := Open(home, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d2.Close()
	// The keys on disk are the device's.
	k, err := identity.Load(filepath.Join(home, fileKeys))
	if err != nil || dirapi.DeviceID(k) != d2.ID() {
		t.Fatalf("keys: %v", err)
	}
}

// Delivery receipts always; read receipts only when turned on.
func TestReceipts(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := mkDevice(t, rig, "alice", "alice@example.org", Options{})
	bob := mkDevice(t, rig, "bob", "bob@example.org", Options{})
	kinds := func() []string {
		_, rc := collect(t, alice)
		var k []string
		for _, r := range rc {
			k = append(k, r.Kind+" "+r.From)
		}
		return k
	}
	if _, err := alice.Send(testCtx(t), Draft{To: []string{"bob@example.org"}, Text: "one"}); err != nil {
		t.Fatal(err)
	}
	collect(t, bob)
	if k := kinds(); len(k) != 1 || k[0] != "delivered mailto:bob@example.org" {
		t.Fatalf("receipts %q", k)
	}
	if err := bob.SetReadReceipts(true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(testCtx(t), Draft{To: []string{"bob@example.org"}, Text: "two"}); err != nil {
		t.Fatal(err)
	}
	collect(t, bob)
	k := kinds()
	slices.Sort(k)
	if len(k) != 2 || k[0] != "delivered mailto:bob@example.org" || k[1] != "read mailto:bob@example.org" {
		t.Fatalf("receipts %q", k)
	}
}
