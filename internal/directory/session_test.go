package directory

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

func TestSessionToken(t *testing.T) {
	k := sessionKey{key: bytes.Repeat([]byte{1}, 32)}
	a, b := storage.DeviceID{1}, storage.DeviceID{2}
	now := time.Unix(1_800_000_000, 0)
	tok := k.mint(a, b, now.Add(time.Hour))
	if len(tok) != sessionTokenSize {
		t.Fatalf("token is %d bytes", len(tok))
	}
	if err := k.check(tok, a, b, now); err != nil {
		t.Fatal(err)
	}
	// Frozen known answer: the format must not drift silently.
	const want = "01000000006b49e010" // version 1, expiry 1800003600
	if got := bytesHex(tok[:9]); got != want {
		t.Fatalf("token header %s, want %s", got, want)
	}
	for _, c := range []struct {
		name string
		tok  []byte
		s, r storage.DeviceID
		now  time.Time
		want error
	}{
		{"swapped sender and recipient", tok, b, a, now, ErrSessionTokenInvalid},
		{"other recipient", tok, a, storage.DeviceID{3}, now, ErrSessionTokenInvalid},
		{"at expiry", tok, a, b, now.Add(time.Hour), ErrSessionTokenExpired},
		{"short", tok[:24], a, b, now, ErrSessionTokenInvalid},
		{"long", append(bytes.Clone(tok), 0), a, b, now, ErrSessionTokenInvalid},
		{"empty", nil, a, b, now, ErrSessionTokenInvalid},
		{"other key", sessionKey{key: bytes.Repeat([]byte{2}, 32)}.mint(a, b, now.Add(time.Hour)), a, b, now, ErrSessionTokenInvalid},
	} {
		if err := k.check(c.tok, c.s, c.r, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Every single-bit change is refused (including extending the expiry).
	for i := 0; i < len(tok)*8; i++ {
		bad := bytes.Clone(tok)
		bad[i/8] ^= 1 << (i % 8)
		if err := k.check(bad, a, b, now); err == nil {
			t.Fatalf("bit %d flipped: accepted", i)
		}
	}
}

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
