package reqsign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	clock := now
	v := NewVerifier(0, func() time.Time { return clock })
	keys := func(id string) (*ecdsa.PublicKey, error) {
		switch id {
		case "dev":
			return &key.PublicKey, nil
		case "other":
			return &other.PublicKey, nil
		}
		return nil, ErrUnknown
	}
	body := []byte(`{"uris":["mailto:a@example.com"]}`)
	signed := func() *httptestRequest {
		r := httptest.NewRequest("POST", "/v1/lookup?x=1", nil)
		if err := Sign(r, body, key, "dev", now); err != nil {
			t.Fatal(err)
		}
		return &httptestRequest{r}
	}

	r := signed()
	if id, err := v.Verify(r.Request, body, keys); err != nil || id != "dev" {
		t.Fatalf("valid request: id=%q err=%v", id, err)
	}
	if _, err := v.Verify(r.Request, body, keys); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: err=%v, want ErrReplayed", err)
	}

	cases := []struct {
		name   string
		mutate func(r *httptestRequest, body *[]byte)
		want   error
	}{
		{"body changed", func(r *httptestRequest, b *[]byte) { *b = append([]byte{}, "{}"...) }, ErrBadSig},
		{"path changed", func(r *httptestRequest, b *[]byte) { r.URL.Path = "/v1/devices" }, ErrBadSig},
		{"query changed", func(r *httptestRequest, b *[]byte) { r.URL.RawQuery = "x=2" }, ErrBadSig},
		{"method changed", func(r *httptestRequest, b *[]byte) { r.Method = "PUT" }, ErrBadSig},
		{"key id changed", func(r *httptestRequest, b *[]byte) { r.Header.Set(HeaderKey, "other") }, ErrBadSig},
		{"unknown key", func(r *httptestRequest, b *[]byte) { r.Header.Set(HeaderKey, "nobody") }, ErrUnknown},
		{"no signature", func(r *httptestRequest, b *[]byte) { r.Header.Del(HeaderSignature) }, ErrMissing},
		{"nonce not hex", func(r *httptestRequest, b *[]byte) { r.Header.Set(HeaderNonce, "zz"+r.Header.Get(HeaderNonce)[2:]) }, ErrMalformed},
		{"nonce short", func(r *httptestRequest, b *[]byte) { r.Header.Set(HeaderNonce, r.Header.Get(HeaderNonce)[2:]) }, ErrMalformed},
		{"signature not base64", func(r *httptestRequest, b *[]byte) { r.Header.Set(HeaderSignature, "!!!") }, ErrMalformed},
	}
	for _, c := range cases {
		r := signed()
		b := body
		c.mutate(r, &b)
		if _, err := v.Verify(r.Request, b, keys); !errors.Is(err, c.want) {
			t.Errorf("%s: err=%v, want %v", c.name, err, c.want)
		}
	}

	// A rejected signature must not consume the nonce: the genuine request
	// still goes through afterwards.
	r = signed()
	if _, err := v.Verify(r.Request, []byte("forged"), keys); !errors.Is(err, ErrBadSig) {
		t.Fatal(err)
	}
	if _, err := v.Verify(r.Request, body, keys); err != nil {
		t.Fatalf("genuine request after a forged one: %v", err)
	}

	// Outside the window, in either direction.
	for _, d := range []time.Duration{DefaultWindow + time.Second, -DefaultWindow - time.Second} {
		clock = now.Add(d)
		if _, err := v.Verify(signed().Request, body, keys); !errors.Is(err, ErrStale) {
			t.Errorf("clock %v: err=%v, want ErrStale", d, err)
		}
	}

	// Old buckets are dropped once the window has passed.
	clock = now.Add(3 * DefaultWindow)
	v.remember([nonceSize]byte{1}, clock, clock)
	if len(v.seen) != 1 {
		t.Errorf("buckets after the window: %d, want 1", len(v.seen))
	}
}

type httptestRequest struct{ *http.Request }
