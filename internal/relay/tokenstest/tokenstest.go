// Package tokenstest is the conformance suite of relay.TokenStore: every
// backend (the relay's token file, the NATS key-value registry) runs Run
// from its tests and so keeps the same contract.
package tokenstest

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Harness opens the backend under test.
type Harness struct {
	// Open returns a store named name, empty the first time; opening the
	// same name again (after Close) returns what was issued before. The
	// test closes what Open returns.
	Open func(t *testing.T, name string) relay.TokenStore
}

// Run runs every contract test.
func Run(t *testing.T, h Harness) {
	t.Run("IssueLookup", func(t *testing.T) { testIssueLookup(t, h) })
	t.Run("Limit", func(t *testing.T) { testLimit(t, h) })
	t.Run("ConcurrentLimit", func(t *testing.T) { testConcurrentLimit(t, h) })
	t.Run("Durable", func(t *testing.T) { testDurable(t, h) })
}

func key(t *testing.T) (k [32]byte) {
	t.Helper()
	rand.Read(k[:])
	return k
}

func mustLookup(t *testing.T, s relay.TokenStore, tok mailbox.Token) ([32]byte, bool) {
	t.Helper()
	k, ok, err := s.Lookup(context.Background(), tok)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	return k, ok
}

func testIssueLookup(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t, "issue")
	defer s.Close()
	a, b := key(t), key(t)
	seen := map[mailbox.Token]bool{}
	for i := range 6 {
		k := a
		if i%2 == 1 {
			k = b
		}
		tok, err := s.Issue(ctx, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] {
			t.Fatal("a token was issued twice")
		}
		seen[tok] = true
		if got, ok := mustLookup(t, s, tok); !ok || got != k {
			t.Fatalf("Lookup of a new token: %x %v, want %x", got, ok, k)
		}
	}
	var unknown mailbox.Token
	rand.Read(unknown[:])
	if _, ok := mustLookup(t, s, unknown); ok {
		t.Fatal("a token never issued was found")
	}
}

func testLimit(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t, "limit")
	defer s.Close()
	a, b := key(t), key(t)
	for range 3 {
		if _, err := s.Issue(ctx, a, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Issue(ctx, a, 3); !errors.Is(err, relay.ErrTooManyTokens) {
		t.Fatalf("fourth token of a key with limit 3: %v, want ErrTooManyTokens", err)
	}
	if _, err := s.Issue(ctx, b, 3); err != nil {
		t.Fatalf("another key is not limited by the first: %v", err)
	}
	if _, err := s.Issue(ctx, a, 0); err != nil {
		t.Fatalf("limit 0 means none: %v", err)
	}
}

func testConcurrentLimit(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t, "concurrent")
	defer s.Close()
	k := key(t)
	const limit, tries = 5, 20
	var mu sync.Mutex
	var wg sync.WaitGroup
	issued, refused := 0, 0
	for range tries {
		wg.Go(func() {
			_, err := s.Issue(ctx, k, limit)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				issued++
			case errors.Is(err, relay.ErrTooManyTokens):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if issued != limit || refused != tries-limit {
		t.Fatalf("%d concurrent issues with limit %d: %d issued, %d refused", tries, limit, issued, refused)
	}
}

func testDurable(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Open(t, "durable")
	k := key(t)
	var toks []mailbox.Token
	for range 3 {
		tok, err := s.Issue(ctx, k, 3)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = h.Open(t, "durable")
	defer s.Close()
	for _, tok := range toks {
		if got, ok := mustLookup(t, s, tok); !ok || got != k {
			t.Fatal("a token was lost across Close and Open")
		}
	}
	if _, err := s.Issue(ctx, k, 3); !errors.Is(err, relay.ErrTooManyTokens) {
		t.Fatalf("the limit forgot tokens issued before Close: %v", err)
	}
}
