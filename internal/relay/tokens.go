package relay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// TokenStore issues device tokens and remembers which push key each one is
// bound to. Tokens are 32 random bytes; a token is bound for life to the
// SHA-256 of the public key (SubjectPublicKeyInfo) of the certificate that
// first connected with it.
type TokenStore interface {
	// Issue makes a new token bound to keyHash, durably, unless keyHash
	// already has limit tokens (ErrTooManyTokens).
	Issue(ctx context.Context, keyHash [32]byte, limit int) (mailbox.Token, error)
	// Lookup returns the key hash a token is bound to; ok is false for a
	// token never issued. An error means the store could not tell (a
	// shared store out of reach): the relay then refuses the connection
	// or send for now rather than treat a known token as unknown.
	Lookup(ctx context.Context, t mailbox.Token) (keyHash [32]byte, ok bool, err error)
	Close() error
}

// ErrTooManyTokens is returned by Issue when a key has its limit.
var ErrTooManyTokens = errors.New("relay: this push key has been issued its limit of tokens")

// FileTokens is the embedded TokenStore: an append-only file of records
//
//	u32 BE body length (73) ‖ u32 BE CRC-32C(body) ‖ 'T' ‖ token 32 ‖ key hash 32 ‖ created i64 Unix ns
//
// kept in memory, synced before a token is handed out (concurrent issues
// share a sync).
type FileTokens struct {
	path string
	mu   sync.Mutex // guards the maps, f's end and written
	f    *os.File
	tok  map[mailbox.Token][32]byte
	per  map[[32]byte]int
	// written counts records appended; synced the ones known durable.
	written int64
	syncMu  sync.Mutex // held during a sync; lock order: syncMu before mu
	synced  int64
	failed  error
}

const tokenRecBody = 1 + 32 + 32 + 8

// OpenTokens opens (or creates) the token file.
func OpenTokens(path string) (*FileTokens, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	ft := &FileTokens{path: path, f: f, tok: map[mailbox.Token][32]byte{}, per: map[[32]byte]int{}}
	data, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	good := 0
	for off := 0; off+8+tokenRecBody <= len(data); off += 8 + tokenRecBody {
		rec := data[off : off+8+tokenRecBody]
		body := rec[8:]
		if binary.BigEndian.Uint32(rec[0:4]) != tokenRecBody || binary.BigEndian.Uint32(rec[4:8]) != crc32.Checksum(body, castagnoli) || body[0] != 'T' {
			break
		}
		var t mailbox.Token
		var k [32]byte
		copy(t[:], body[1:33])
		copy(k[:], body[33:65])
		if _, dup := ft.tok[t]; !dup {
			ft.tok[t] = k
			ft.per[k]++
		}
		good = off + 8 + tokenRecBody
	}
	if good < len(data) {
		// A torn last record (crash during an issue that was never
		// answered): cut it.
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(int64(good), 0); err != nil {
		f.Close()
		return nil, err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return ft, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Issue implements TokenStore.
func (ft *FileTokens) Issue(ctx context.Context, keyHash [32]byte, limit int) (mailbox.Token, error) {
	var t mailbox.Token
	rand.Read(t[:])
	ft.mu.Lock()
	if ft.failed != nil {
		ft.mu.Unlock()
		return t, ft.failed
	}
	if limit > 0 && ft.per[keyHash] >= limit {
		ft.mu.Unlock()
		return t, ErrTooManyTokens
	}
	rec := make([]byte, 8, 8+tokenRecBody)
	rec = append(rec, 'T')
	rec = append(rec, t[:]...)
	rec = append(rec, keyHash[:]...)
	rec = binary.BigEndian.AppendUint64(rec, uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(rec[0:4], tokenRecBody)
	binary.BigEndian.PutUint32(rec[4:8], crc32.Checksum(rec[8:], castagnoli))
	if _, err := ft.f.Write(rec); err != nil {
		ft.failed = err
		ft.mu.Unlock()
		return t, err
	}
	ft.written++
	mine := ft.written
	ft.tok[t] = keyHash
	ft.per[keyHash]++
	ft.mu.Unlock()
	if err := ft.syncTo(mine); err != nil {
		return t, err
	}
	return t, nil
}

// syncTo returns once record n is durable; one sync covers every record
// written before it started.
func (ft *FileTokens) syncTo(n int64) error {
	ft.syncMu.Lock()
	defer ft.syncMu.Unlock()
	if ft.synced >= n {
		return nil
	}
	ft.mu.Lock()
	target := ft.written
	failed := ft.failed
	ft.mu.Unlock()
	if failed != nil {
		return failed
	}
	if err := ft.f.Sync(); err != nil {
		ft.mu.Lock()
		ft.failed = err
		ft.mu.Unlock()
		return err
	}
	ft.synced = target
	return nil
}

// Lookup implements TokenStore. A token is visible here as soon as it is
// written; Issue returns it only once it is durable.
func (ft *FileTokens) Lookup(_ context.Context, t mailbox.Token) ([32]byte, bool, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	k, ok := ft.tok[t]
	return k, ok, nil
}

// Len returns the number of tokens.
func (ft *FileTokens) Len() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return len(ft.tok)
}

// Close implements TokenStore.
func (ft *FileTokens) Close() error { return ft.f.Close() }
