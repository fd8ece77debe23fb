package natsjs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// DefaultTokenBucket is the key-value bucket of the token registry.
const DefaultTokenBucket = "SEALPOST_TOKENS"

// maxIssueConflicts bounds Issue's retries when other nodes issue tokens
// to the same push key at the same moment.
const maxIssueConflicts = 32

// Tokens is the relay's device-token registry (relay.TokenStore) in a
// JetStream key-value bucket, so that every relay node on the NATS server
// knows every token: a device that got its token from one node connects
// to any other with it. Two keys per push key:
//
//	k.<hex SHA-256 of the push key>  the key's tokens, 32 bytes each, concatenated
//	t.<hex token>                    the push key's SHA-256 (32 bytes)
//
// Issue first adds the new token to the k record with a conditional
// update on its last revision, so the per-key limit holds across nodes,
// then creates the t record; a token is handed out only after both writes
// are acknowledged by JetStream (stored, and synced with sync_interval:
// always). A crash between the two writes leaves a reserved token that no
// device holds: it counts against the key's limit and is never valid.
// Tokens are bound for life, so Lookup keeps the answers it found in
// memory and asks the bucket only about tokens it has not seen.
type Tokens struct {
	kv      jetstream.KeyValue
	timeout time.Duration

	mu    sync.RWMutex
	known map[mailbox.Token][32]byte
}

var _ relay.TokenStore = (*Tokens)(nil)

// Tokens opens the token registry in the bucket Options.TokenBucket on
// the Store's connection, creating the bucket (file storage, one value per
// key) if needed. Close the Tokens before the Store.
func (s *Store) Tokens(ctx context.Context) (*Tokens, error) {
	bucket := s.opt.TokenBucket
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "Sealpost relay device tokens",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.opt.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: token bucket %s: %w", bucket, err)
	}
	return &Tokens{kv: kv, timeout: s.opt.Timeout, known: map[mailbox.Token][32]byte{}}, nil
}

// Issue implements relay.TokenStore.
func (t *Tokens) Issue(ctx context.Context, keyHash [32]byte, limit int) (mailbox.Token, error) {
	var tok mailbox.Token
	rand.Read(tok[:])
	kk := "k." + hex.EncodeToString(keyHash[:])
	for range maxIssueConflicts {
		var list []byte
		var rev uint64
		e, err := t.kv.Get(ctx, kk)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return tok, fmt.Errorf("natsjs: tokens: %w", err)
		default:
			list, rev = e.Value(), e.Revision()
		}
		if len(list)%len(tok) != 0 {
			return tok, fmt.Errorf("natsjs: tokens: record %s has %d bytes", kk, len(list))
		}
		if limit > 0 && len(list)/len(tok) >= limit {
			return tok, relay.ErrTooManyTokens
		}
		next := append(append(make([]byte, 0, len(list)+len(tok)), list...), tok[:]...)
		if rev == 0 {
			_, err = t.kv.Create(ctx, kk, next)
		} else {
			_, err = t.kv.Update(ctx, kk, next, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another node issued to this key meanwhile
		}
		if err != nil {
			return tok, fmt.Errorf("natsjs: tokens: %w", err)
		}
		if _, err := t.kv.Create(ctx, "t."+hex.EncodeToString(tok[:]), keyHash[:]); err != nil {
			return tok, fmt.Errorf("natsjs: tokens: %w", err)
		}
		t.mu.Lock()
		t.known[tok] = keyHash
		t.mu.Unlock()
		return tok, nil
	}
	return tok, fmt.Errorf("natsjs: tokens: %d conflicting updates of one push key's tokens", maxIssueConflicts)
}

// Lookup implements relay.TokenStore. A token this node has not seen
// costs one read of the bucket, bounded by Options.Timeout.
func (t *Tokens) Lookup(ctx context.Context, tok mailbox.Token) ([32]byte, bool, error) {
	t.mu.RLock()
	k, ok := t.known[tok]
	t.mu.RUnlock()
	if ok {
		return k, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	e, err := t.kv.Get(ctx, "t."+hex.EncodeToString(tok[:]))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("natsjs: tokens: %w", err)
	}
	if len(e.Value()) != len(k) {
		return k, false, fmt.Errorf("natsjs: tokens: record of a token has %d bytes", len(e.Value()))
	}
	copy(k[:], e.Value())
	t.mu.Lock()
	t.known[tok] = k
	t.mu.Unlock()
	return k, true, nil
}

// Close implements relay.TokenStore; the connection belongs to the Store.
func (t *Tokens) Close() error { return nil }
