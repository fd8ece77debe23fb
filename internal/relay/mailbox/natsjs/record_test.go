package natsjs

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

func sampleRecords() []record {
	dev := mailboxtest.NewToken()
	now := time.Unix(1_800_000_000, 123).UTC()
	d := mailboxtest.NewDelivery(dev, now, 100)
	d.MessageExpiry = true
	empty := mailbox.Delivery{Device: dev, Time: now, Expires: now.Add(time.Hour)}
	big := mailboxtest.NewDelivery(dev, now, mailbox.MaxPayload)
	big.Sender = string(bytes.Repeat([]byte("s"), mailbox.MaxSender))
	big.Scheme = string(bytes.Repeat([]byte("x"), mailbox.MaxScheme))
	return []record{
		{kind: kindQueued, seq: 7, head: 7, d: d},
		{kind: kindQueued, seq: 1, head: 1, d: empty},
		{kind: kindQueued, seq: 1 << 40, head: 1 << 40, d: big},
		{kind: kindKept, seq: 7, head: 9, d: mailbox.Delivery{Device: dev, UUID: d.UUID, Expires: d.Expires}},
		{kind: kindHead, head: 9, d: mailbox.Delivery{Device: dev}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for i, r := range sampleRecords() {
		b := r.marshal(nil)
		got, err := parseRecord(b)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if got.kind != r.kind || got.seq != r.seq || got.head != r.head || got.d.Device != r.d.Device {
			t.Fatalf("%d: header differs", i)
		}
		switch r.kind {
		case kindQueued:
			if err := mailboxtest.Same(got.d, r.d); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		case kindKept:
			if got.d.UUID != r.d.UUID || !got.d.Expires.Equal(r.d.Expires) {
				t.Fatalf("%d: K fields differ", i)
			}
		}
		if b2 := got.marshal(nil); !bytes.Equal(b, b2) {
			t.Fatalf("%d: marshal(parse(b)) != b", i)
		}
		// Every truncation and every extension by a byte is refused,
		// except a Q record's payload, which is the rest.
		for n := range len(b) {
			if r.kind == kindQueued && n >= len(b)-len(r.d.Payload) {
				break
			}
			if _, err := parseRecord(b[:n]); err == nil {
				t.Fatalf("%d: truncation to %d accepted", i, n)
			}
		}
		if r.kind != kindQueued {
			if _, err := parseRecord(append(b, 0)); err == nil {
				t.Fatalf("%d: extension accepted", i)
			}
		}
	}
}

// A known answer, frozen: the K record layout.
func TestRecordKnownAnswer(t *testing.T) {
	var dev mailbox.Token
	var u mailbox.UUID
	for i := range dev {
		dev[i] = byte(i)
	}
	for i := range u {
		u[i] = 0xa0 + byte(i)
	}
	r := record{kind: kindKept, seq: 5, head: 6, d: mailbox.Delivery{Device: dev, UUID: u, Expires: time.Unix(0, 0x0102030405060708)}}
	want := "4b" + "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
		"0000000000000005" + "0000000000000006" + "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" + "0102030405060708"
	if got := hex.EncodeToString(r.marshal(nil)); got != want {
		t.Fatalf("K record\n got %s\nwant %s", got, want)
	}
	s := deviceSubjects("p.x", dev)
	if s.keptOf(u) != "p.x.000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f.k.a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" ||
		s.all() != "p.x.000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f.>" {
		t.Fatalf("subjects: %s %s", s.keptOf(u), s.all())
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		b := r.marshal(nil)
		if len(b) > 4096 {
			b = b[:4096]
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			return
		}
		// Whatever parses marshals back to the same bytes.
		if b2 := r.marshal(nil); !bytes.Equal(b, b2) {
			t.Fatalf("parse → marshal changed the bytes")
		}
	})
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"2.12.0", true}, {"2.15.2", true}, {"v2.12.1", true}, {"3.0.0", true}, {"2.12.0-RC.1", true},
		{"2.11.9", false}, {"2.9.10", false}, {"1.99.99", false}, {"", false}, {"x.y", false},
	} {
		if got := versionAtLeast(c.v, MinServerVersion); got != c.want {
			t.Errorf("%q: %v", c.v, got)
		}
	}
}
