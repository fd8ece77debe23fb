package blobs

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Defaults of Config.
const (
	DefaultMaxSize   = 2 << 30  // bytes per blob
	DefaultQuota     = 20 << 30 // bytes per account, stored and pending
	DefaultTTL       = 30 * 24 * time.Hour
	DefaultUploadTTL = 24 * time.Hour   // an unfinished upload is discarded after this
	DefaultSweep     = 10 * time.Minute // how often expired blobs are reclaimed
	DefaultBuffers   = 5                // chunks received, checked and stored at once (5 MiB each)
	presignTTL       = 10 * time.Minute // lifetime of a presigned download URL
	uploadCacheTTL   = 5 * time.Second  // how long a node trusts its copy of an upload's record
	uploadCacheMax   = 1024             // records cached at most
	storeTimeout     = 2 * time.Minute  // for storing a checked chunk
	maxMissingListed = 1000             // chunk indexes listed in a chunks_missing error
	createBodySlack  = 1024             // bytes of a create body besides the checksums
	checksumJSONSize = 2*attachment.ChunkChecksumSize + 3
)

// Limits are the blob store's rate limits, each a token bucket per key
// (internal/ratelimit); the zero Limit means unlimited.
type Limits struct {
	// Create limits POST /v1/blobs and DELETE /v1/blobs/{id} per device.
	Create ratelimit.Limit
	// CreateAddr limits the same per client address.
	CreateAddr ratelimit.Limit
	// Addr limits every other request (chunks, status, complete,
	// downloads) per client address.
	Addr ratelimit.Limit
}

// DefaultLimits are the limits sealpostd starts with: an upload of the
// largest blob (410 chunks) fits in the address bucket's burst.
var DefaultLimits = Limits{
	Create:     ratelimit.Limit{Rate: 1, Burst: 60},
	CreateAddr: ratelimit.Limit{Rate: 5, Burst: 300},
	Addr:       ratelimit.Limit{Rate: 100, Burst: 2000},
}

// Devices is what the blob store needs from the directory: who signed a
// request, and which account the device belongs to (quotas are per
// account).
type Devices interface {
	// SigningKey resolves a key id (the hex identity hash of a registered
	// device) to its signing key, or reqsign.ErrUnknown; it is a
	// reqsign.KeyFunc.
	SigningKey(keyID string) (*ecdsa.PublicKey, error)
	// Account returns the account of the registered device keyID, or
	// reqsign.ErrUnknown.
	Account(ctx context.Context, keyID string) (string, error)
}

// Config is what a Service needs. Store and Devices are required; every
// other field has a default.
type Config struct {
	Store   storage.Store
	Devices Devices
	// BaseURL is this node's public URL ("https://blobs.example.org");
	// blob URIs are BaseURL/v1/blobs/<id>. Empty: "https://" and the Host
	// of the request that created the upload.
	BaseURL string
	// MaxSize is the largest blob, in bytes (default DefaultMaxSize).
	MaxSize int64
	// Quota is the most bytes an account may have stored or pending at
	// once (default DefaultQuota; negative: no quota).
	Quota int64
	// TTL is how long a complete blob is kept (default DefaultTTL).
	TTL time.Duration
	// UploadTTL is how long an unfinished upload is kept (default
	// DefaultUploadTTL).
	UploadTTL time.Duration
	// SweepEvery is how often expired blobs and uploads are reclaimed in
	// the background (default DefaultSweep; negative: never, call Sweep).
	SweepEvery time.Duration
	// Buffers is how many chunks may be received and checked at once;
	// each takes a 5 MiB buffer (default DefaultBuffers).
	Buffers int
	// Limits are the rate limits (nil: DefaultLimits).
	Limits *Limits
	// Presign makes downloads answer with a redirect to a presigned URL
	// of the storage, when the store can make one (S3).
	Presign bool
	// Now is the clock (default time.Now); Logger receives logs (default
	// none). Logs name blobs by id and never contain blob bytes.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the blob store. Create it with New, register its routes with
// Register, Close it at shutdown.
type Service struct {
	store     storage.Store
	devices   Devices
	baseURL   string
	maxSize   int64
	quota     int64
	ttl       time.Duration
	uploadTTL time.Duration
	presign   storage.Presigner
	now       func() time.Time
	log       *slog.Logger
	verifier  *reqsign.Verifier

	createLim, createAddrLim, addrLim *ratelimit.Limiter

	// bufs holds the chunk buffers; a request takes one for as long as it
	// receives and stores a chunk, so at most cap(bufs) are in use.
	bufs chan []byte

	// uploads caches the records of unfinished uploads by token hash, so
	// that a chunk does not cost two record reads and the decoding of the
	// whole checksum list; entries live uploadCacheTTL, and this node's
	// completions and removals drop them at once.
	cacheMu sync.Mutex
	uploads map[string]cachedUpload

	// sigs holds the in-order signature hashes of this node's uploads
	// (sighash.go).
	sigMu    sync.Mutex
	sigs     map[string]*sigState
	sigGrace time.Duration // sigGrace; tests lengthen it

	// locks serialise, per account, quota checks with the creations they
	// admit, and per blob, completions and removals.
	seed  maphash.Seed
	locks [64]sync.Mutex

	stop, done chan struct{}
}

// New checks cfg and returns a Service. It starts the background sweep
// unless cfg.SweepEvery is negative.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Devices == nil {
		return nil, errors.New("blobs: Config.Store and Config.Devices are required")
	}
	s := &Service{
		store: cfg.Store, devices: cfg.Devices, baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		maxSize: cfg.MaxSize, quota: cfg.Quota, ttl: cfg.TTL, uploadTTL: cfg.UploadTTL,
		now: cfg.Now, log: cfg.Logger, seed: maphash.MakeSeed(), uploads: map[string]cachedUpload{}, sigs: map[string]*sigState{}, sigGrace: sigGrace,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.maxSize == 0 {
		s.maxSize = DefaultMaxSize
	}
	if s.maxSize < 0 {
		return nil, errors.New("blobs: negative MaxSize")
	}
	if s.quota == 0 {
		s.quota = DefaultQuota
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.uploadTTL <= 0 {
		s.uploadTTL = DefaultUploadTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.baseURL != "" && !strings.HasPrefix(s.baseURL, "https://") && !strings.HasPrefix(s.baseURL, "http://") {
		return nil, fmt.Errorf("blobs: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Presign {
		p, ok := cfg.Store.(storage.Presigner)
		if !ok {
			return nil, errors.New("blobs: Presign is set but the store cannot presign URLs")
		}
		s.presign = p
	}
	lim := DefaultLimits
	if cfg.Limits != nil {
		lim = *cfg.Limits
	}
	s.createLim = ratelimit.New(lim.Create, s.now)
	s.createAddrLim = ratelimit.New(lim.CreateAddr, s.now)
	s.addrLim = ratelimit.New(lim.Addr, s.now)
	s.verifier = reqsign.NewVerifier(0, s.now)
	n := cfg.Buffers
	if n <= 0 {
		n = DefaultBuffers
	}
	s.bufs = make(chan []byte, n)
	for range n {
		s.bufs <- nil // allocated on first use
	}
	every := cfg.SweepEvery
	if every == 0 {
		every = DefaultSweep
	}
	if every > 0 {
		go s.sweepLoop(every)
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the background sweep. It does not close the store.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return nil
}

// MaxSize returns the largest blob the service accepts.
func (s *Service) MaxSize() int64 { return s.maxSize }

func (s *Service) lock(key string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, key)%uint64(len(s.locks))]
}

// record is a blob's metadata, stored under "b/<id>". While State is
// uploading, Expires is when the upload is discarded; once complete, when
// the blob is.
type record struct {
	ID        string                     `json:"id"`
	Account   string                     `json:"account"` // accountKey of the owner
	Device    string                     `json:"device"`  // key id of the uploading device
	Size      int64                      `json:"size"`
	Signature attachment.Signature       `json:"signature"`
	Chunks    []attachment.ChunkChecksum `json:"chunks"`
	Handle    string                     `json:"handle,omitempty"`
	Token     string                     `json:"token"` // hex SHA-256 of the upload token
	BaseURL   string                     `json:"base_url"`
	State     string                     `json:"state"`
	Created   time.Time                  `json:"created"`
	Expires   time.Time                  `json:"expires"`
}

// marker is the value of an expiry marker "x/<hour>/<id>": enough to
// reclaim everything of the blob even if its record is gone.
type marker struct {
	Account string `json:"account"`
	Token   string `json:"token"`
	Handle  string `json:"handle,omitempty"`
	Size    int64  `json:"size"`
}

// Record keys. Every key segment is [a-z0-9_] (storage.ValidKey).
func blobKey(id string) string       { return "b/" + id }
func tokenKey(th string) string      { return "u/" + th }
func usagePrefix(acct string) string { return "a/" + acct + "/" }
func usageKey(acct, id string, size int64) string {
	return usagePrefix(acct) + id + "_" + strconv.FormatInt(size, 10)
}
func expiryKey(t time.Time, id string) string { return "x/" + expiryBucket(t) + "/" + id }

// expiryBucket is the hour of t, UTC, as yyyymmddhh: fixed width, so byte
// order is time order.
func expiryBucket(t time.Time) string { return t.UTC().Format("2006010215") }

// accountKey turns a directory account id into a record-key segment.
func accountKey(account string) string {
	h := sha256.Sum256([]byte("sealpost blob account\x00" + account))
	return hex.EncodeToString(h[:16])
}

func tokenHash(token []byte) string {
	h := sha256.Sum256(token)
	return hex.EncodeToString(h[:])
}

func (s *Service) getRecord(ctx context.Context, id string) (*record, error) {
	b, err := s.store.GetRecord(ctx, blobKey(id))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("blob record %s: %w", id, err)
	}
	return &r, nil
}

func (s *Service) putRecord(ctx context.Context, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.store.PutRecord(ctx, blobKey(r.ID), b)
}

func (s *Service) putMarker(ctx context.Context, r *record) error {
	b, _ := json.Marshal(marker{Account: r.Account, Token: r.Token, Handle: r.Handle, Size: r.Size})
	return s.store.PutRecord(ctx, expiryKey(r.Expires, r.ID), b)
}

// usage returns the bytes stored and pending for an account.
func (s *Service) usage(ctx context.Context, acct string) (int64, error) {
	var total int64
	err := s.store.ListRecords(ctx, usagePrefix(acct), func(key string) error {
		_, size, ok := strings.Cut(key[strings.LastIndexByte(key, '/')+1:], "_")
		if n, err := strconv.ParseInt(size, 10, 64); ok && err == nil {
			total += n
		}
		return nil
	})
	return total, err
}

// errQuota is returned by create when the account is full.
type errQuota struct{ used, size, quota int64 }

func (e errQuota) Error() string {
	return fmt.Sprintf("the account stores or is uploading %d bytes; %d more would pass its quota of %d bytes", e.used, e.size, e.quota)
}

// create starts an upload: it checks the quota and writes the records, in
// an order that lets the sweep reclaim everything if a crash interrupts
// it: expiry marker, usage, token, then the blob record.
func (s *Service) create(ctx context.Context, device, account, baseURL string, req *blobapi.CreateRequest) (*record, []byte, error) {
	var raw [blobapi.IDSize]byte
	rand.Read(raw[:])
	token := make([]byte, blobapi.TokenSize)
	rand.Read(token)
	now := s.now()
	r := &record{
		ID: blobapi.NewID(raw[:]), Account: accountKey(account), Device: device,
		Size: req.Size, Signature: req.Signature, Chunks: req.Chunks,
		Token: tokenHash(token), BaseURL: baseURL, State: blobapi.StateUploading,
		Created: now.UTC(), Expires: now.Add(s.uploadTTL).UTC(),
	}
	mu := s.lock("a/" + r.Account)
	mu.Lock()
	defer mu.Unlock()
	if s.quota > 0 {
		used, err := s.usage(ctx, r.Account)
		if err != nil {
			return nil, nil, err
		}
		if used+req.Size > s.quota {
			return nil, nil, errQuota{used, req.Size, s.quota}
		}
	}
	h, err := s.store.BeginUpload(ctx, r.ID, r.Size)
	if err != nil {
		return nil, nil, err
	}
	r.Handle = h
	if err := s.putMarker(ctx, r); err != nil {
		return nil, nil, err
	}
	if err := s.store.PutRecord(ctx, usageKey(r.Account, r.ID, r.Size), nil); err != nil {
		return nil, nil, err
	}
	if err := s.store.PutRecord(ctx, tokenKey(r.Token), []byte(r.ID)); err != nil {
		return nil, nil, err
	}
	if err := s.putRecord(ctx, r); err != nil {
		return nil, nil, err
	}
	s.startSig(r.ID)
	s.log.Info("blobs: upload started", logID(r.ID), "size", r.Size, "device", device)
	return r, token, nil
}

type cachedUpload struct {
	r     *record
	until time.Time
}

// forget drops the cached record of an upload.
func (s *Service) forget(th string) {
	s.cacheMu.Lock()
	delete(s.uploads, th)
	s.cacheMu.Unlock()
}

// upload finds the blob record of an upload token. The record is shared:
// callers must not change it.
func (s *Service) upload(ctx context.Context, token []byte) (*record, error) {
	th := tokenHash(token)
	now := s.now()
	s.cacheMu.Lock()
	c, ok := s.uploads[th]
	s.cacheMu.Unlock()
	if ok && now.Before(c.until) && now.Before(c.r.Expires) {
		return c.r, nil
	}
	r, err := s.loadUpload(ctx, th)
	if err == nil && r.State == blobapi.StateUploading {
		s.cacheMu.Lock()
		if len(s.uploads) >= uploadCacheMax {
			clear(s.uploads)
		}
		s.uploads[th] = cachedUpload{r: r, until: now.Add(uploadCacheTTL)}
		s.cacheMu.Unlock()
	}
	return r, err
}

// loadUpload reads the blob record of an upload token from the store.
func (s *Service) loadUpload(ctx context.Context, th string) (*record, error) {
	id, err := s.store.GetRecord(ctx, tokenKey(th))
	if err != nil {
		return nil, err
	}
	if _, e := blobapi.ParseID(string(id)); e != nil {
		return nil, fmt.Errorf("token record holds %q: %w", id, storage.ErrNotFound)
	}
	r, err := s.getRecord(ctx, string(id))
	if err != nil {
		return nil, err
	}
	if r.State == blobapi.StateUploading && !s.now().Before(r.Expires) {
		return nil, fmt.Errorf("upload %s expired: %w", r.ID, storage.ErrNotFound)
	}
	return r, nil
}

// received returns the chunk indexes the store holds for an upload.
func (s *Service) received(ctx context.Context, r *record) ([]int, error) {
	if r.State != blobapi.StateUploading {
		all := make([]int, len(r.Chunks))
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	return s.store.Chunks(ctx, r.ID, r.Handle)
}

func missing(r *record, have []int) []int {
	var out []int
	j := 0
	for i := range len(r.Chunks) {
		for j < len(have) && have[j] < i {
			j++
		}
		if j < len(have) && have[j] == i {
			continue
		}
		out = append(out, i)
	}
	return out
}

// errSignature is returned by complete when the blob does not match its
// signature; the upload has then been discarded.
var errSignature = errors.New("the blob does not match its signature")

// errMissing is returned by complete when chunks are missing.
type errMissing struct{ missing []int }

func (e errMissing) Error() string { return fmt.Sprintf("%d chunks are missing", len(e.missing)) }

// complete commits an upload whose chunks have all arrived, checks the
// whole blob against its signature, and only then marks it complete (the
// state downloads look at). On a signature mismatch the upload is
// discarded. Completing a complete upload returns its record.
func (s *Service) complete(ctx context.Context, r *record) (*record, error) {
	mu := s.lock("b/" + r.ID)
	mu.Lock()
	defer mu.Unlock()
	s.forget(r.Token)
	r, err := s.getRecord(ctx, r.ID) // again, under the lock
	if err != nil {
		return nil, err
	}
	if r.State == blobapi.StateComplete {
		return r, nil
	}
	have, err := s.store.Chunks(ctx, r.ID, r.Handle)
	if err != nil {
		return nil, err
	}
	if m := missing(r, have); len(m) > 0 {
		return nil, errMissing{m}
	}
	if err := s.store.Commit(ctx, r.ID, r.Handle, r.Size); err != nil {
		if errors.Is(err, storage.ErrIncomplete) {
			have, _ := s.store.Chunks(ctx, r.ID, r.Handle)
			return nil, errMissing{missing(r, have)}
		}
		return nil, err
	}
	start := s.now()
	readBack, err := s.verifySignature(ctx, r)
	if errors.Is(err, attachment.ErrCannotOpen) {
		s.log.Info("blobs: upload refused: signature mismatch", logID(r.ID), "size", r.Size)
		if err := s.reclaim(ctx, r.ID, marker{Account: r.Account, Token: r.Token, Handle: r.Handle, Size: r.Size}, r.Expires); err != nil {
			s.log.Error("blobs: discarding a refused upload", logID(r.ID), "err", err)
		}
		return nil, errSignature
	}
	if err != nil {
		return nil, err
	}
	old := r.Expires
	r.State = blobapi.StateComplete
	r.Expires = s.now().Add(s.ttl).UTC()
	if err := s.putMarker(ctx, r); err != nil {
		return nil, err
	}
	if err := s.putRecord(ctx, r); err != nil {
		return nil, err
	}
	if expiryKey(old, r.ID) != expiryKey(r.Expires, r.ID) {
		if err := s.store.DeleteRecord(ctx, expiryKey(old, r.ID)); err != nil {
			s.log.Warn("blobs: removing a stale expiry marker", logID(r.ID), "err", err)
		}
	}
	s.log.Info("blobs: blob complete", logID(r.ID), "size", r.Size, "verify", s.now().Sub(start).String(), "read_back", readBack)
	return r, nil
}

// reclaim removes everything of blob id: first its record (so it is no
// longer served and its upload no longer accepts chunks), then its bytes,
// its token, its usage (freeing quota) and last its expiry marker, so an
// interrupted reclaim is finished by the next sweep.
func (s *Service) reclaim(ctx context.Context, id string, m marker, expires time.Time) error {
	s.forget(m.Token)
	s.dropSig(id)
	if err := s.store.DeleteRecord(ctx, blobKey(id)); err != nil {
		return err
	}
	if err := s.store.AbortUpload(ctx, id, m.Handle); err != nil {
		return err
	}
	if err := s.store.Delete(ctx, id); err != nil {
		return err
	}
	if m.Token != "" {
		if err := s.store.DeleteRecord(ctx, tokenKey(m.Token)); err != nil {
			return err
		}
	}
	if m.Account != "" {
		if err := s.store.DeleteRecord(ctx, usageKey(m.Account, id, m.Size)); err != nil {
			return err
		}
	}
	return s.store.DeleteRecord(ctx, expiryKey(expires, id))
}

// remove deletes a blob or upload at its owner's request.
func (s *Service) remove(ctx context.Context, r *record) error {
	mu := s.lock("b/" + r.ID)
	mu.Lock()
	defer mu.Unlock()
	err := s.reclaim(ctx, r.ID, marker{Account: r.Account, Token: r.Token, Handle: r.Handle, Size: r.Size}, r.Expires)
	if err == nil {
		s.log.Info("blobs: removed", logID(r.ID))
	}
	return err
}

// Sweep reclaims every blob and upload whose time is up, and reports how
// many it reclaimed and how many bytes that freed. The background sweep
// calls it every Config.SweepEvery; tests call it with a moved clock.
func (s *Service) Sweep(ctx context.Context) (n int, freed int64, err error) {
	now := s.now()
	cur := expiryBucket(now)
	type item struct {
		key  string
		id   string
		hour string
	}
	var due []item
	err = s.store.ListRecords(ctx, "x/", func(key string) error {
		parts := strings.Split(key, "/")
		if len(parts) != 3 {
			return nil
		}
		if parts[1] > cur {
			return storage.ErrStop // byte order is time order
		}
		due = append(due, item{key, parts[2], parts[1]})
		if len(due) >= 10000 {
			return storage.ErrStop // the rest next time
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for _, it := range due {
		if err := ctx.Err(); err != nil {
			return n, freed, err
		}
		mu := s.lock("b/" + it.id)
		mu.Lock()
		done, size, err := s.sweepOne(ctx, it.key, it.id, it.hour, now)
		mu.Unlock()
		if err != nil {
			s.log.Error("blobs: sweep", logID(it.id), "err", err)
			continue
		}
		if done {
			n++
			freed += size
		}
	}
	return n, freed, nil
}

func (s *Service) sweepOne(ctx context.Context, key, id, hour string, now time.Time) (bool, int64, error) {
	b, err := s.store.GetRecord(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return false, 0, fmt.Errorf("expiry marker %s: %w", key, err)
	}
	r, err := s.getRecord(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// An interrupted create or reclaim: finish it from the marker.
	case err != nil:
		return false, 0, err
	case expiryBucket(r.Expires) != hour:
		// A marker left behind when the upload completed.
		return false, 0, s.store.DeleteRecord(ctx, key)
	case now.Before(r.Expires):
		return false, 0, nil // due later this hour
	default:
		m = marker{Account: r.Account, Token: r.Token, Handle: r.Handle, Size: r.Size}
	}
	t, _ := time.Parse("2006010215", hour)
	if err := s.reclaim(ctx, id, m, t); err != nil {
		return false, 0, err
	}
	s.log.Info("blobs: expired", logID(id), "size", m.Size)
	return true, m.Size, nil
}

func (s *Service) sweepLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, freed, err := s.Sweep(context.Background()); err != nil {
			s.log.Error("blobs: sweep", "err", err)
		} else if n > 0 {
			s.log.Info("blobs: sweep reclaimed expired blobs", "blobs", n, "bytes", freed)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// logID is how a blob appears in logs: a blob's ID is the capability to
// download it, so logs carry a tag derived from it instead (the first 8
// bytes of SHA-256("sealpost blob log tag" ‖ ID), in hex), enough to
// follow one blob through the log and to find a known blob's lines.
func logID(id string) slog.Attr {
	h := sha256.Sum256([]byte("sealpost blob log tag" + id))
	return slog.String("blob", hex.EncodeToString(h[:8]))
}
