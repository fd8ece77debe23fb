package envelope_test

import (
	"bytes"
	"compress/gzip"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"math/big"
	"runtime"
	"testing"
	"time"

	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/message"
	"github.com/sealpost/sealpost/pair"
)

func loadParties(t testing.TB) (alice, bob, mallory *identity.Keys) {
	t.Helper()
	keys, err := vectors.LoadKeys("../testdata/vectors/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	return keys["alice"].Keys, keys["bob"].Keys, keys["mallory"].Keys
}

func deviceOf(k *identity.Keys) envelope.Device {
	return envelope.Device{Identity: k.Public(), DeviceKey: k.DeviceKey(), Prekey: k.SignedPrekey().Prekey}
}

func testMessage(text string) *message.Message {
	return &message.Message{
		ID:           message.NewID(),
		Participants: []string{"mailto:alice@example.com", "mailto:bob@example.com"},
		Text:         text,
	}
}

func TestSealOpenBothSchemes(t *testing.T) {
	alice, bob, _ := loadParties(t)
	for _, scheme := range []string{envelope.SchemePair, envelope.SchemePairEC} {
		m := testMessage("hello over " + scheme)
		p, err := envelope.Seal(alice, deviceOf(bob), scheme, m, 7)
		if err != nil {
			t.Fatal(err)
		}
		got, err := envelope.Open(bob, deviceOf(alice), scheme, p)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if got.Message.ID != m.ID || got.Message.Text != m.Text {
			t.Errorf("%s: opened %+v, want %+v", scheme, got.Message, m)
		}
		if want := map[string]uint32{envelope.SchemePair: 0, envelope.SchemePairEC: 7}[scheme]; got.Counter != want {
			t.Errorf("%s: counter %d, want %d", scheme, got.Counter, want)
		}
		// The other scheme's opener must refuse it.
		other := envelope.SchemePair
		if scheme == other {
			other = envelope.SchemePairEC
		}
		if _, err := envelope.Open(bob, deviceOf(alice), other, p); !errors.Is(err, envelope.ErrCannotOpen) {
			t.Errorf("%s payload opened as %s: %v", scheme, other, err)
		}
	}
	if got := deviceOf(bob).Scheme(); got != envelope.SchemePairEC {
		t.Errorf("device with pair-ec keys: scheme %q", got)
	}
	if got := (envelope.Device{Identity: bob.Public()}).Scheme(); got != envelope.SchemePair {
		t.Errorf("device without pair-ec keys: scheme %q", got)
	}
}

// TestAuthenticateBeforeDecompress is E10: no decompressor or parser call
// happens for any payload that does not authenticate, and a decompression
// bomb inside an authentic payload is refused without expanding it.
func TestAuthenticateBeforeDecompress(t *testing.T) {
	alice, bob, mallory := loadParties(t)
	var corpus [][]byte
	var schemes []string
	for _, scheme := range []string{envelope.SchemePair, envelope.SchemePairEC} {
		for i := 0; i < 3; i++ {
			p, err := envelope.Seal(alice, deviceOf(bob), scheme, testMessage(string(bytes.Repeat([]byte("x"), 50*i+1))), 1)
			if err != nil {
				t.Fatal(err)
			}
			// Every single-bit flip in a spread of positions, every
			// truncation point in steps, and one byte appended.
			step := max(1, len(p)/150)
			for pos := 0; pos < len(p); pos += step {
				q := bytes.Clone(p)
				q[pos] ^= 1 << (pos % 8)
				corpus, schemes = append(corpus, q), append(schemes, scheme)
			}
			for n := 0; n < len(p); n += step {
				corpus, schemes = append(corpus, p[:n]), append(schemes, scheme)
			}
			corpus, schemes = append(corpus, append(bytes.Clone(p), 0)), append(schemes, scheme)
		}
	}
	before := message.DecodeCalls()
	for i, q := range corpus {
		// Present each tampered payload as from alice, and also as from
		// mallory (a server swapping the sender's keys).
		for _, from := range []*identity.Keys{alice, mallory} {
			if _, err := envelope.Open(bob, deviceOf(from), schemes[i], q); !errors.Is(err, envelope.ErrCannotOpen) {
				t.Fatalf("tampered payload %d opened: %v", i, err)
			}
		}
	}
	calls := message.DecodeCalls() - before
	t.Logf("E10: unauthenticated=%d decoder_calls=%d", 2*len(corpus), calls)
	if calls != 0 {
		t.Fatalf("the decoder ran %d times on unauthenticated input", calls)
	}

	// An authentic payload whose content is a 64 MiB gzip bomb.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	p, err := pair.Seal(alice, bob.Public(), bomb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	before = message.DecodeCalls()
	_, err = envelope.Open(bob, deviceOf(alice), envelope.SchemePair, p)
	runtime.ReadMemStats(&ms1)
	if r, _ := openerr.ReasonOf(err); r != openerr.ContentInvalid || err.Error() != envelope.ErrCannotOpen.Error() {
		t.Fatalf("bomb: err=%v reason=%q, want the opaque error with reason content_invalid", err, r)
	}
	alloc := ms1.TotalAlloc - ms0.TotalAlloc
	t.Logf("E10: bomb_ratio=%d bomb_alloc=%d decoder_calls=%d", (64<<20)/bomb.Len(), alloc, message.DecodeCalls()-before)
	if message.DecodeCalls()-before != 1 {
		t.Errorf("authentic payload: decoder calls %d, want 1", message.DecodeCalls()-before)
	}
	if alloc > 8<<20 {
		t.Errorf("bomb allocated %d bytes; the cap should stop it near 1 MiB", alloc)
	}
}

// malleate returns the payload with its ECDSA signature's s replaced by
// n − s: a different byte string that verifies just the same.
func malleate(t *testing.T, scheme string, p []byte) []byte {
	n := elliptic.P256().Params().N
	q := bytes.Clone(p)
	switch scheme {
	case envelope.SchemePair:
		bodyLen := int(q[1])<<8 | int(q[2])
		var sig struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(q[3+bodyLen+1:], &sig); err != nil {
			t.Fatal(err)
		}
		sig.S.Sub(n, sig.S)
		der, err := asn1.Marshal(sig)
		if err != nil {
			t.Fatal(err)
		}
		return append(append(q[:3+bodyLen], byte(len(der))), der...)
	default:
		// OuterMessage ends with the signature (64 bytes) and then the
		// validator field (9a 06 07 and 7 bytes).
		sig := q[len(q)-10-64 : len(q)-10]
		s := new(big.Int).SetBytes(sig[32:])
		s.Sub(n, s).FillBytes(sig[32:])
		return q
	}
}

// TestReplay is E11: captured envelopes re-injected, including
// signature-malleated copies, give no user-visible duplicate; envelopes
// older than the horizon are refused.
func TestReplay(t *testing.T) {
	alice, bob, _ := loadParties(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	r := envelope.NewReplay(0, func() time.Time { return clock })

	type captured struct {
		scheme  string
		payload []byte
		sent    time.Time
	}
	var caps []captured
	for i := 0; i < 100; i++ {
		scheme := envelope.SchemePairEC
		if i%10 == 0 {
			scheme = envelope.SchemePair
		}
		p, err := envelope.Seal(alice, deviceOf(bob), scheme, testMessage("msg"), uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, captured{scheme, p, now.Add(-time.Duration(i) * time.Hour)})
	}
	shown := map[message.ID]int{}
	deliver := func(c captured, payload []byte) {
		o, err := envelope.Open(bob, deviceOf(alice), c.scheme, payload)
		if err != nil {
			t.Fatalf("re-injected %s envelope did not open: %v", c.scheme, err)
		}
		if r.Check(o.Message.ID, c.sent) == nil {
			shown[o.Message.ID]++
		}
	}
	injected, malleated := 0, 0
	for round := 0; injected < 10000; round++ {
		for _, c := range caps {
			p := c.payload
			if round%2 == 1 {
				p = malleate(t, c.scheme, p)
				if bytes.Equal(p, c.payload) {
					t.Fatal("malleated copy equals the original")
				}
				malleated++
			}
			deliver(c, p)
			injected++
		}
	}
	dups := 0
	for _, n := range shown {
		dups += n - 1
	}
	if len(shown) != len(caps) || dups != 0 {
		t.Fatalf("distinct shown %d of %d, visible duplicates %d", len(shown), len(caps), dups)
	}

	// Past the horizon: an old capture is stale, whatever its ID.
	clock = now.Add(envelope.DefaultHorizon + 48*time.Hour)
	stale := 0
	for _, c := range caps {
		o, err := envelope.Open(bob, deviceOf(alice), c.scheme, c.payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Check(o.Message.ID, c.sent); errors.Is(err, envelope.ErrStale) {
			stale++
		} else {
			t.Errorf("capture sent %v accepted at %v: %v", c.sent, clock, err)
		}
	}
	t.Logf("E11: injected=%d malleated=%d visible_dups=%d stale_refused=%d/%d", injected, malleated, dups, stale, len(caps))

	// Entries survive a save and restore.
	saved := envelope.NewReplay(0, func() time.Time { return now })
	r2 := envelope.NewReplay(0, func() time.Time { return now })
	id := message.NewID()
	saved.Check(id, now)
	saved.Entries(r2.Add)
	if err := r2.Check(id, now); !errors.Is(err, envelope.ErrDuplicate) {
		t.Errorf("restored replay cache: %v, want ErrDuplicate", err)
	}
}
