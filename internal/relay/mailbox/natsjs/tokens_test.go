package natsjs

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/tokenstest"
)

// nodeTokens is a token registry with the Store it belongs to, closed
// together (one relay node).
type nodeTokens struct {
	*Tokens
	s *Store
}

func (n nodeTokens) Close() error { return errors.Join(n.Tokens.Close(), n.s.Close()) }

func openTokens(t *testing.T, url, stream, bucket string) nodeTokens {
	t.Helper()
	ctx := context.Background()
	opt := testOptions(url, stream)
	opt.TokenBucket = bucket
	s, err := Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := s.Tokens(ctx)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return nodeTokens{tk, s}
}

func TestTokensConformance(t *testing.T) {
	url := testURL(t)
	run := uniq()
	stream := "tok_" + run
	t.Cleanup(func() {
		dropStream(t, url, "T_"+stream)
		for _, name := range []string{"issue", "limit", "concurrent", "durable"} {
			dropStream(t, url, "KV_T_TOK_"+run+"_"+name)
		}
	})
	tokenstest.Run(t, tokenstest.Harness{
		Open: func(t *testing.T, name string) relay.TokenStore {
			return openTokens(t, url, stream, "T_TOK_"+run+"_"+name)
		},
	})
}

// Two nodes issue tokens to one push key at once: the limit holds across
// them, and each node finds the tokens the other issued.
func TestTokensTwoNodes(t *testing.T) {
	url := testURL(t)
	run := uniq()
	bucket := "T_TOK2_" + run
	t.Cleanup(func() {
		dropStream(t, url, "T_tok2_"+run)
		dropStream(t, url, "KV_"+bucket)
	})
	a := openTokens(t, url, "tok2_"+run, bucket)
	defer a.Close()
	b := openTokens(t, url, "tok2_"+run, bucket)
	defer b.Close()
	ctx := context.Background()
	var k [32]byte
	k[0] = 7
	const limit, tries = 6, 40
	var mu sync.Mutex
	var wg sync.WaitGroup
	var issued []nodeTokens
	var toks [][32]byte
	for i := range tries {
		n := a
		if i%2 == 1 {
			n = b
		}
		wg.Go(func() {
			tok, err := n.Issue(ctx, k, limit)
			if errors.Is(err, relay.ErrTooManyTokens) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			issued = append(issued, n)
			toks = append(toks, tok)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(toks) != limit {
		t.Fatalf("%d issues over two nodes with limit %d: %d issued", tries, limit, len(toks))
	}
	for i, tok := range toks {
		other := a
		if issued[i] == a {
			other = b
		}
		got, ok, err := other.Lookup(ctx, tok)
		if err != nil || !ok || got != k {
			t.Fatalf("a token issued on one node is unknown on the other: %v %v", ok, err)
		}
	}
}
