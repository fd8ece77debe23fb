package natsjs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Defaults.
const (
	DefaultStream      = "SEALPOST_MAILBOX"
	DefaultSubject     = "sealpost.mbx"
	DefaultWakeSubject = "sealpost.wake"
	DefaultTTL         = 30 * 24 * time.Hour
	DefaultSlack       = time.Hour
	DefaultTimeout     = 10 * time.Second
	DefaultReadConns   = 4
)

// Tuning.
const (
	lockStripes   = 16384   // per-device locks, by hash of the token (128 KiB; few devices share one)
	maxInflight   = 256     // device groups of one Enqueue in flight at once
	ackWorkers    = 16      // goroutines applying acknowledgements
	ackQueue      = 4096    // acknowledgements waiting for a worker
	wakeQueue     = 1 << 16 // wake-up messages waiting for the dispatcher
	readBatch     = 256     // messages per direct-get batch
	readMaxBytes  = 4 << 20 // bytes per direct-get batch
	maxCASRetries = 1000    // attempts of one write against concurrent writers
	cacheDevices  = 100_000 // per-device cache entries kept before a reset
	closeFlush    = 10 * time.Second
)

// Options configure a Store. Only one of URL and Conn is needed.
type Options struct {
	// URL of the NATS server(s), comma-separated (nats://host:4222). The
	// Store connects with unlimited reconnects and closes the connection
	// on Close.
	URL string
	// NATSOptions are added to the Store's own when it connects to URL
	// (credentials, TLS, ...).
	NATSOptions []nats.Option
	// Conn is an existing connection to use instead of URL; the caller
	// closes it after the Store. The Store cannot then wake its watchers
	// after a reconnection (wake-ups sent meanwhile are lost), nor use
	// connections of its own for reads.
	Conn *nats.Conn
	// ReadConns is how many more connections to URL carry reads
	// (DefaultReadConns; ignored with Conn). nats-server answers a direct
	// get in the reading loop of the asking connection, and waits for the
	// stream's store lock to do it, which a synced write holds: reads on
	// the publishing connection would hold up its publishes.
	ReadConns int

	// Stream is the JetStream stream's name (DefaultStream). It is created,
	// or its configuration updated, at Open.
	Stream string
	// Subject is the prefix of the stream's subjects (DefaultSubject); the
	// stream owns <Subject>.>.
	Subject string
	// WakeSubject is the prefix of the core NATS subjects of wake-ups
	// (DefaultWakeSubject); it must not overlap Subject.
	WakeSubject string
	// TokenBucket is the key-value bucket of the device-token registry
	// that Store.Tokens opens (DefaultTokenBucket).
	TokenBucket string
	// TTL is the longest a delivery may be kept (DefaultTTL): the relay's
	// queue TTL. The stream's MaxAge is TTL+Slack; a delivery whose
	// Expires is further away than that is refused.
	TTL time.Duration
	// Slack is added to TTL for the stream's MaxAge (DefaultSlack; a
	// negative value means none), so that clock differences between relay
	// nodes and the NATS server never cut a delivery's life short.
	Slack time.Duration
	// Replicas of the stream (1 by default). With 1, durability rests on
	// the server's sync_interval: always. Reads are direct gets, which a
	// replicated stream may answer from a lagging follower: only 1 is
	// supported for now.
	Replicas int
	// Timeout for one request to NATS when the caller's context has no
	// deadline (DefaultTimeout).
	Timeout time.Duration
	// KeepEvery is how often heads of watched, idle devices are refreshed
	// (see the package documentation); 0 means MaxAge/8, negative never.
	KeepEvery time.Duration
	// Now is the clock (time.Now); expiry is decided with it.
	Now func() time.Time
	// Logger receives errors of background work (slog.Default()).
	Logger *slog.Logger
}

// OptionsFromURL parses a --mailbox value: nats://[user:pass@]host:port
// [,host:port...][?stream=NAME&subject=PREFIX&wake=PREFIX&tokens=BUCKET]. The query
// parameters are removed from the URL given to NATS.
func OptionsFromURL(spec string) (Options, error) {
	var o Options
	base, query, _ := strings.Cut(spec, "?")
	if !strings.HasPrefix(base, "nats://") && !strings.HasPrefix(base, "tls://") {
		return o, fmt.Errorf("natsjs: %q: want nats://host:port", spec)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return o, fmt.Errorf("natsjs: %q: %w", spec, err)
	}
	for k := range q {
		switch k {
		case "stream", "subject", "wake", "tokens":
		default:
			return o, fmt.Errorf("natsjs: %q: unknown parameter %q (want stream, subject, wake, tokens)", spec, k)
		}
	}
	o.URL = base
	o.Stream = q.Get("stream")
	o.Subject = q.Get("subject")
	o.WakeSubject = q.Get("wake")
	o.TokenBucket = q.Get("tokens")
	return o, nil
}

// Store is the NATS JetStream mailbox. See the package documentation.
type Store struct {
	opt    Options
	nc     *nats.Conn   // publishes, deletes, wake-ups
	rnc    []*nats.Conn // direct gets (nc when Conn was given)
	rnext  atomic.Uint32
	ownNC  bool
	js     jetstream.JetStream
	maxAge time.Duration
	now    func() time.Time
	log    *slog.Logger

	apiGet string // $JS.API.DIRECT.GET.<stream>
	apiDel string // $JS.API.STREAM.MSG.DELETE.<stream>

	locks [lockStripes]sync.Mutex // per device (striped), held across a read-modify-write
	seed  maphash.Seed

	mu      sync.Mutex // guards the fields below; a leaf lock
	closed  bool
	ops     sync.WaitGroup
	devs    map[mailbox.Token]*devState
	watches map[mailbox.Token]*watchSet

	stats stats
	// shared: some conditional write was refused, so other nodes write to
	// the stream. Enqueues then read the head of devices not watched here
	// afresh, together with the dedup record (see enqueueHead).
	shared atomic.Bool

	wakes   chan *nats.Msg // wake-up messages of every watched device
	acks    chan ackReq
	ackWG   sync.WaitGroup
	keepWG  sync.WaitGroup
	stopped chan struct{}
}

// Stats are counters since Open, for metrics and tests.
type Stats struct {
	Enqueued   uint64 // deliveries stored
	Duplicates uint64 // deliveries found already stored
	Conflicts  uint64 // conditional writes refused because another write to the device came first (retried)
	Acked      uint64 // acknowledgements applied (dedup record written, delivery deleted)
	AckDropped uint64 // acknowledgements given up after ackGiveUp of failures
}

type stats struct {
	enqueued, duplicates, conflicts, acked, ackDropped atomic.Uint64
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Enqueued:   s.stats.enqueued.Load(),
		Duplicates: s.stats.duplicates.Load(),
		Conflicts:  s.stats.conflicts.Load(),
		Acked:      s.stats.acked.Load(),
		AckDropped: s.stats.ackDropped.Load(),
	}
}

// devState is what this process knows of a device. Everything in it is a
// cache except acked, which keeps deliveries acknowledged in this process
// from being yielded again before their deletion is done.
type devState struct {
	// headSeq/head: stream sequence and head of the device's last record,
	// when known (headSeq 0: unknown). This process's own writes set it,
	// and so do wake-ups from other nodes while the device is watched
	// here (learnHead).
	headSeq, head uint64
	// refs: where queued deliveries are, by Seq, as Pending found them
	// (for Ack; missing entries are found by a scan).
	refs map[uint64]ref
	// Cursor hint for Pending: the delivery Seq lastSeq is at stream
	// sequence lastStream, and no queued delivery with a larger Seq is
	// before it. refs and the hint are dropped when the device's last
	// watcher stops.
	lastSeq, lastStream uint64
	// acked: Seq → deleted. Entries go once deleted and no Pending of
	// this device is running (readers == 0).
	acked   map[uint64]bool
	readers int
}

type ref struct {
	stream  uint64
	uuid    mailbox.UUID
	expires time.Time
}

// compile-time check
var _ mailbox.Mailbox = (*Store)(nil)

// Open connects (unless opt.Conn is given), creates or updates the stream
// and starts the background workers.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Stream == "" {
		opt.Stream = DefaultStream
	}
	if opt.Subject == "" {
		opt.Subject = DefaultSubject
	}
	if opt.WakeSubject == "" {
		opt.WakeSubject = DefaultWakeSubject
	}
	if opt.TokenBucket == "" {
		opt.TokenBucket = DefaultTokenBucket
	}
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.Slack == 0 {
		opt.Slack = DefaultSlack
	} else if opt.Slack < 0 {
		opt.Slack = 0
	}
	if opt.Replicas == 0 {
		opt.Replicas = 1
	}
	if opt.Replicas != 1 {
		return nil, errors.New("natsjs: only Replicas 1 is supported (reads are direct gets)")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if subjectOverlap(opt.Subject, opt.WakeSubject) {
		return nil, fmt.Errorf("natsjs: wake subject %q overlaps the stream's %q", opt.WakeSubject, opt.Subject)
	}
	s := &Store{
		opt:     opt,
		maxAge:  opt.TTL + opt.Slack,
		now:     opt.Now,
		log:     opt.Logger,
		apiGet:  "$JS.API.DIRECT.GET." + opt.Stream,
		apiDel:  "$JS.API.STREAM.MSG.DELETE." + opt.Stream,
		seed:    maphash.MakeSeed(),
		devs:    make(map[mailbox.Token]*devState),
		watches: make(map[mailbox.Token]*watchSet),
		acks:    make(chan ackReq, ackQueue),
		wakes:   make(chan *nats.Msg, wakeQueue),
		stopped: make(chan struct{}),
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = DefaultReadConns
	}
	if opt.Conn != nil {
		s.nc = opt.Conn
		s.rnc = []*nats.Conn{opt.Conn}
	} else {
		if opt.URL == "" {
			return nil, errors.New("natsjs: no URL and no connection")
		}
		nopts := append([]nats.Option{
			nats.Name("sealpost-mailbox"),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250 * time.Millisecond),
			nats.ReconnectJitter(100*time.Millisecond, time.Second),
			nats.ReconnectHandler(func(*nats.Conn) { s.wakeAll() }),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					s.log.Warn("natsjs: disconnected", "err", err)
				}
			}),
			// A wake-up dropped (the dispatcher fell behind): wake everyone.
			nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrSlowConsumer) {
					go s.wakeAll()
				} else {
					s.log.Warn("natsjs: NATS error", "err", err)
				}
			}),
		}, opt.NATSOptions...)
		nc, err := nats.Connect(opt.URL, nopts...)
		if err != nil {
			return nil, fmt.Errorf("natsjs: connect: %w", err)
		}
		s.nc, s.ownNC = nc, true
		for range opt.ReadConns {
			rnc, err := nats.Connect(opt.URL, append([]nats.Option{
				nats.Name("sealpost-mailbox-reads"),
				nats.MaxReconnects(-1),
				nats.ReconnectWait(250 * time.Millisecond),
				nats.ReconnectJitter(100*time.Millisecond, time.Second),
			}, opt.NATSOptions...)...)
			if err != nil {
				s.closeConns()
				return nil, fmt.Errorf("natsjs: connect: %w", err)
			}
			s.rnc = append(s.rnc, rnc)
		}
	}
	js, err := jetstream.New(s.nc, jetstream.WithDefaultTimeout(opt.Timeout))
	if err == nil {
		s.js = js
		err = s.ensureStream(ctx)
	}
	if err == nil {
		err = checkServerVersion(s.nc)
	}
	if err != nil {
		s.closeConns()
		return nil, err
	}
	for range ackWorkers {
		s.ackWG.Go(s.ackWorker)
	}
	s.keepWG.Go(s.dispatch)
	if keep := s.keepEvery(); keep > 0 {
		s.keepWG.Go(func() { s.keeper(keep) })
	}
	return s, nil
}

// StreamConfig is the configuration Open gives the stream.
func (s *Store) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        s.opt.Stream,
		Description: "Sealpost relay mailbox (internal/relay/mailbox/natsjs)",
		Subjects:    []string{s.opt.Subject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    s.opt.Replicas,
		// Every delivery and every dedup record lives on a subject of its
		// own; a newer record on the same subject replaces the old one.
		MaxMsgsPerSubject: 1,
		MaxAge:            s.maxAge,
		Discard:           jetstream.DiscardOld,
		MaxMsgSize:        int32(fixedQ + mailbox.MaxScheme + mailbox.MaxSender + mailbox.MaxPayload),
		// No Nats-Msg-Id is used: idempotency is the subject layout's.
		Duplicates:  time.Second,
		AllowDirect: true,
		DenyPurge:   true,
		// Writes are flushed (and, with sync_interval: always, synced)
		// before the PubAck; never the async mode.
		PersistMode: jetstream.DefaultPersistMode,
	}
}

func (s *Store) ensureStream(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cfg := s.StreamConfig()
	st, err := s.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("natsjs: stream %s: %w", cfg.Name, err)
	}
	got := st.CachedInfo().Config
	if got.PersistMode != jetstream.DefaultPersistMode || got.Storage != jetstream.FileStorage || got.MaxMsgsPerSubject != 1 {
		return fmt.Errorf("natsjs: stream %s: the server kept a configuration this store cannot use (persist mode %v, storage %v, max per subject %d)",
			cfg.Name, got.PersistMode, got.Storage, got.MaxMsgsPerSubject)
	}
	return nil
}

func (s *Store) keepEvery() time.Duration {
	switch {
	case s.opt.KeepEvery < 0:
		return 0
	case s.opt.KeepEvery > 0:
		return s.opt.KeepEvery
	}
	return s.maxAge / 8
}

// subjectOverlap reports whether prefix a is b, or one is a prefix of
// the other's tokens.
func subjectOverlap(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// ctx gives ctx a deadline if it has none.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opt.Timeout)
}

// begin registers an operation; it fails after Close.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return mailbox.ErrClosed
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) lock(dev mailbox.Token) *sync.Mutex {
	return &s.locks[maphash.Bytes(s.seed, dev[:])%lockStripes]
}

// dev returns the state of dev, creating it. s.mu must be held.
func (s *Store) devLocked(dev mailbox.Token) *devState {
	st := s.devs[dev]
	if st == nil {
		if len(s.devs) >= cacheDevices {
			s.pruneLocked()
		}
		st = &devState{}
		s.devs[dev] = st
	}
	return st
}

// pruneLocked drops the cached state of devices with nothing that must
// be kept (acks in flight, running readers).
func (s *Store) pruneLocked() {
	for dev, st := range s.devs {
		if len(st.acked) == 0 && st.readers == 0 {
			delete(s.devs, dev)
		}
	}
}

// setHead records that dev's last record is at stream sequence seq with
// head h (seq 0: forget).
func (s *Store) setHead(dev mailbox.Token, seq, h uint64) {
	s.mu.Lock()
	st := s.devLocked(dev)
	st.headSeq, st.head = seq, h
	s.mu.Unlock()
}

func (s *Store) cachedHead(dev mailbox.Token) (seq, h uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.devs[dev]; st != nil && st.headSeq != 0 {
		return st.headSeq, st.head, true
	}
	return 0, 0, false
}

// enqueueHead is cachedHead for an enqueue. Once other nodes are known to
// write to the stream, a cached head is used only while the device is
// watched here, since only then do wake-ups keep it current: the device's
// own node writes its acknowledgements, so the head this process cached
// after its last enqueue to a device connected elsewhere is usually stale
// by its next one.
func (s *Store) enqueueHead(dev mailbox.Token) (seq, h uint64, ok bool) {
	shared := s.shared.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.devs[dev]; st != nil && st.headSeq != 0 && (!shared || s.watches[dev] != nil) {
		return st.headSeq, st.head, true
	}
	return 0, 0, false
}

// conflicted forgets dev's cached head after a refused conditional write
// and notes that other nodes write to the stream.
func (s *Store) conflicted(dev mailbox.Token) {
	s.stats.conflicts.Add(1)
	s.shared.Store(true)
	s.setHead(dev, 0, 0)
}

// learnHead takes the head another node announced in a wake-up for a
// device watched here, if it is newer than the cached one. The cache is
// a hint: a stale value costs a refused write, never a wrong one.
func (s *Store) learnHead(dev mailbox.Token, seq, h uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watches[dev] == nil {
		return
	}
	if st := s.devLocked(dev); seq > st.headSeq {
		st.headSeq, st.head = seq, h
	}
}

// readHead reads dev's last record (its head) and the last record on
// filter at once, on two read connections, unless useCache and the head
// is cached. lastSeq is 0 when the device has no record.
func (s *Store) readHead(ctx context.Context, dev mailbox.Token, subj subjects, filter string, cached func(mailbox.Token) (uint64, uint64, bool)) (lastSeq, head uint64, m stored, found bool, err error) {
	if lastSeq, head, ok := cached(dev); ok {
		m, found, err = s.last(ctx, filter)
		return lastSeq, head, m, found, err
	}
	var hst stored
	var hok bool
	var herr error
	var wg sync.WaitGroup
	wg.Go(func() { hst, hok, herr = s.last(ctx, subj.all()) })
	m, found, err = s.last(ctx, filter)
	wg.Wait()
	if err == nil {
		err = herr
	}
	if err != nil {
		return 0, 0, stored{}, false, err
	}
	if hok {
		if hst.rec.d.Device != dev {
			return 0, 0, stored{}, false, fmt.Errorf("natsjs: record of another device under %s", hst.subject)
		}
		lastSeq, head = hst.seq, hst.rec.head
	}
	return lastSeq, head, m, found, nil
}

// Close waits for running calls, applies the acknowledgements still queued
// (for up to 10 s), stops wake-ups and, if Open connected, closes the
// connection.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return mailbox.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.ops.Wait()
	close(s.acks)
	done := make(chan struct{})
	go func() { s.ackWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-time.After(closeFlush):
		err = errors.New("natsjs: acknowledgements not applied at Close")
	}
	close(s.stopped)
	s.keepWG.Wait()
	s.mu.Lock()
	ws := s.watches
	s.watches = map[mailbox.Token]*watchSet{}
	s.mu.Unlock()
	for _, w := range ws {
		w.sub.Unsubscribe()
	}
	if s.ownNC {
		if ferr := s.nc.FlushTimeout(time.Second); ferr != nil && err == nil && s.nc.IsConnected() {
			err = ferr
		}
	}
	s.closeConns()
	return err
}

func (s *Store) closeConns() {
	if !s.ownNC {
		return
	}
	s.nc.Close()
	for _, c := range s.rnc {
		c.Close()
	}
}

// reader returns a connection for a read.
func (s *Store) reader() *nats.Conn {
	return s.rnc[int(s.rnext.Add(1))%len(s.rnc)]
}

// MinServerVersion is the oldest nats-server the Store accepts: it needs
// Nats-Expected-Last-Subject-Sequence-Subject and batched direct gets, and
// the fixes that followed Jepsen's 2025 analysis of JetStream.
const MinServerVersion = "2.12.0"

func checkServerVersion(nc *nats.Conn) error {
	v := nc.ConnectedServerVersion()
	if !versionAtLeast(v, MinServerVersion) {
		return fmt.Errorf("natsjs: nats-server %s is too old; %s or later is needed", v, MinServerVersion)
	}
	return nil
}

// versionAtLeast compares dotted versions (a leading v and a -suffix are
// ignored).
func versionAtLeast(v, min string) bool {
	parse := func(s string) (out [3]int) {
		s = strings.TrimPrefix(s, "v")
		s, _, _ = strings.Cut(s, "-")
		for i, f := range strings.SplitN(s, ".", 3) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return [3]int{-1}
			}
			out[i] = n
		}
		return out
	}
	a, b := parse(v), parse(min)
	if a[0] < 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}
