package embedded

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// FS is the file layer; nil means the operating system's.
	FS FS
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SegmentSize is the size at which the log moves on to a new segment
	// file (default 32 MiB).
	SegmentSize int64
	// CacheBytes bounds the payloads kept in memory for fast delivery
	// (default 64 MiB); the others are read back from the segment files.
	CacheBytes int64
	// SweepEvery is how often expired deliveries are dropped (default 1
	// minute). Expired deliveries are never yielded, whatever this is.
	SweepEvery time.Duration
	// CompactEvery is how often the oldest segment is checked for
	// reclaimable space (default 5 seconds).
	CompactEvery time.Duration
	// Logger receives warnings (a damaged record found at recovery).
	Logger *slog.Logger

	// UnsafeAckBeforeSync answers Enqueue before the data is synced. It
	// exists only so the power-loss test (R2) can show that it notices the
	// losses this causes; never set it otherwise.
	UnsafeAckBeforeSync bool
}

// Store is the embedded mailbox. It implements mailbox.Mailbox.
type Store struct {
	dir string
	fs  FS
	opt Options
	now func() time.Time
	log *slog.Logger

	// Writer queue (qmu). Lock order: compactMu, then mu, then qmu; segMu
	// and watchMu are leaves.
	qmu     sync.Mutex
	queue   []*op
	acks    []ackRec
	closing bool
	failed  error // sticky: the first write or sync error
	kick    chan struct{}

	// Index (mu).
	mu     sync.Mutex
	devs   map[mailbox.Token]*device
	segs   []*segment // oldest first; the last is the active one
	cached int64
	stats  Stats
	syncs  [syncTimes]time.Duration   // a ring of recent sync durations
	hist   [len(SyncBounds) + 1]int64 // syncs by duration (the last: slower than every bound)

	// compactMu makes compactions take turns.
	compactMu sync.Mutex

	// segMu guards segment files against removal while they are read.
	segMu sync.RWMutex

	watchMu  sync.Mutex
	watchers map[mailbox.Token][]*watcher

	// Writer-owned.
	active *segment
	wbuf   []byte
	nextID uint64

	compactKick chan struct{}
	quit        chan struct{}
	wg          sync.WaitGroup
	closed      atomic.Bool
}

// Stats are counters for tests and the load generator.
type Stats struct {
	Batches      int64 // group commits
	Syncs        int64 // file syncs
	Enqueued     int64 // new deliveries made durable
	Duplicates   int64
	Acked        int64
	Expired      int64
	Compactions  int64 // segments rewritten and removed
	DamagedBytes int64 // bytes cut from segments at recovery (torn or damaged tails)
	// SyncP50 and SyncP99 are over the last syncTimes syncs.
	SyncP50, SyncP99 time.Duration
	// SyncHistogram counts every sync since Open by duration.
	SyncHistogram SyncHistogram
}

// SyncHistogram counts file syncs by how long they took, in the shape of
// a Prometheus histogram.
type SyncHistogram struct {
	Count int64
	Sum   time.Duration
	// Buckets[i] is the number of syncs that took at most SyncBounds[i]
	// (cumulative).
	Buckets [len(SyncBounds)]int64
}

// SyncBounds are the upper bounds of SyncHistogram's buckets: fdatasync
// takes tens of microseconds on a disk with a power-safe write cache, a
// few milliseconds on most SSDs and network volumes, tens on spinning
// disks.
var SyncBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second,
}

// syncTimes is how many recent sync durations are kept for Stats.
const syncTimes = 4096

type segment struct {
	id      uint64
	f       File
	size    int64 // bytes written (writer-owned while active; fixed once sealed)
	removed bool  // under segMu
	// Under mu: bytes of queued E records, and dedup keys of acknowledged
	// deliveries whose evidence lives here.
	pendingBytes int64
	dedupCount   int64
}

type device struct {
	next    uint64   // next seq
	pending []*entry // queued deliveries, increasing seq
	dedup   map[mailbox.UUID]dedupVal
}

type dedupVal struct {
	expires int64  // Unix ns
	seq     uint64 // the delivery's seq, answered to duplicates
	// seg is nil while the delivery is queued (its E record is the
	// evidence); once acknowledged, the segment that holds its evidence.
	seg *segment
}

type entry struct {
	d    mailbox.Delivery // Payload nil when not cached
	seg  *segment
	off  int64
	size int32
}

type ackRec struct {
	dev mailbox.Token
	seq uint64
}

type opKind uint8

const (
	opEnqueue opKind = iota
	opCopy
	opRoll
)

type op struct {
	kind   opKind
	ds     []mailbox.Delivery
	res    []mailbox.Result
	copies []copyRec
	err    error
	done   chan struct{}
}

type watcher struct{ wake func() }

var _ mailbox.Mailbox = (*Store)(nil)

// Open opens the store in dir, creating it if needed, and recovers its
// index from the segment files.
func Open(dir string, opt Options) (*Store, error) {
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = 32 << 20
	}
	if opt.CacheBytes <= 0 {
		opt.CacheBytes = 64 << 20
	}
	if opt.SweepEvery <= 0 {
		opt.SweepEvery = time.Minute
	}
	if opt.CompactEvery <= 0 {
		opt.CompactEvery = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		dir: dir, fs: opt.FS, opt: opt, now: opt.Now, log: opt.Logger,
		kick:        make(chan struct{}, 1),
		compactKick: make(chan struct{}, 1),
		quit:        make(chan struct{}),
		devs:        make(map[mailbox.Token]*device),
		watchers:    make(map[mailbox.Token][]*watcher),
	}
	if err := s.fs.MkdirAll(dir); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.roll(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.wg.Add(3)
	go s.runWriter()
	go s.runSweeper()
	go s.runCompactor()
	return s, nil
}

func (s *Store) segPath(id uint64) string { return join(s.dir, fmt.Sprintf("%016x.seg", id)) }

// Enqueue implements mailbox.Mailbox. The store keeps a reference to each
// Payload; callers must not modify it afterwards.
func (s *Store) Enqueue(ctx context.Context, ds []mailbox.Delivery) ([]mailbox.Result, error) {
	for i := range ds {
		if err := ds[i].Check(); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := &op{kind: opEnqueue, ds: ds, res: make([]mailbox.Result, len(ds)), done: make(chan struct{})}
	if err := s.submit(o); err != nil {
		return nil, err
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if o.err != nil {
		return nil, o.err
	}
	return o.res, nil
}

func (s *Store) submit(o *op) error {
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return mailbox.ErrClosed
	}
	if s.failed != nil {
		err := s.failed
		s.qmu.Unlock()
		return err
	}
	s.queue = append(s.queue, o)
	s.qmu.Unlock()
	s.signal()
	return nil
}

func (s *Store) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Ack implements mailbox.Mailbox.
func (s *Store) Ack(ctx context.Context, dev mailbox.Token, seq uint64) error {
	if s.closed.Load() {
		return mailbox.ErrClosed
	}
	s.mu.Lock()
	dv := s.devs[dev]
	if dv == nil {
		s.mu.Unlock()
		return nil
	}
	i, ok := slices.BinarySearchFunc(dv.pending, seq, func(e *entry, seq uint64) int { return cmpU64(e.d.Seq, seq) })
	if !ok {
		s.mu.Unlock()
		return nil
	}
	e := dv.pending[i]
	dv.pending = slices.Delete(dv.pending, i, i+1)
	if len(dv.pending) == 0 {
		dv.pending = nil
	}
	e.seg.pendingBytes -= int64(e.size)
	if v, ok := dv.dedup[e.d.UUID]; ok && v.seq == seq {
		v.seg = e.seg
		e.seg.dedupCount++
		dv.dedup[e.d.UUID] = v
	}
	if e.d.Payload != nil {
		s.cached -= int64(len(e.d.Payload))
	}
	s.stats.Acked++
	s.qmu.Lock()
	s.acks = append(s.acks, ackRec{dev, seq})
	s.qmu.Unlock()
	s.mu.Unlock()
	s.signal()
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Pending implements mailbox.Mailbox.
func (s *Store) Pending(ctx context.Context, dev mailbox.Token, after uint64) iter.Seq2[mailbox.Delivery, error] {
	return func(yield func(mailbox.Delivery, error) bool) {
		var batch []entry
		for {
			if err := ctx.Err(); err != nil {
				yield(mailbox.Delivery{}, err)
				return
			}
			if s.closed.Load() {
				yield(mailbox.Delivery{}, mailbox.ErrClosed)
				return
			}
			batch = s.collect(dev, after, batch[:0])
			if len(batch) == 0 {
				return
			}
			for i := range batch {
				d := batch[i].d
				if d.Payload == nil {
					p, err := s.readPayload(dev, d.Seq, batch[i])
					if err != nil {
						yield(mailbox.Delivery{}, err)
						return
					}
					if p == nil {
						continue // deleted meanwhile
					}
					d.Payload = p
				}
				if !yield(d, nil) {
					return
				}
				after = d.Seq
			}
		}
	}
}

const pendingBatch = 64

// collect copies up to pendingBatch queued, unexpired entries of dev after
// seq.
func (s *Store) collect(dev mailbox.Token, after uint64, out []entry) []entry {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	dv := s.devs[dev]
	if dv == nil {
		return out
	}
	i, found := slices.BinarySearchFunc(dv.pending, after, func(e *entry, seq uint64) int { return cmpU64(e.d.Seq, seq) })
	if found {
		i++
	}
	for ; i < len(dv.pending) && len(out) < pendingBatch; i++ {
		e := dv.pending[i]
		if e.d.Expires.UnixNano() <= now {
			continue
		}
		out = append(out, *e)
	}
	return out
}

// readPayload reads a delivery's payload back from its segment. If the
// entry moved (compaction) it follows it; if it was deleted it returns nil.
func (s *Store) readPayload(dev mailbox.Token, seq uint64, e entry) ([]byte, error) {
	for range 8 {
		s.segMu.RLock()
		if e.seg.removed {
			s.segMu.RUnlock()
			// Moved or deleted: look it up again.
			s.mu.Lock()
			cur := s.find(dev, seq)
			if cur != nil {
				e = *cur
			}
			s.mu.Unlock()
			if cur == nil {
				return nil, nil
			}
			if cur.d.Payload != nil {
				return cur.d.Payload, nil
			}
			continue
		}
		buf := make([]byte, e.size)
		_, err := e.seg.f.ReadAt(buf, e.off)
		s.segMu.RUnlock()
		if err != nil {
			return nil, fmt.Errorf("embedded: reading segment %d: %w", e.seg.id, err)
		}
		r, err := decode(buf)
		if err != nil || r.typ != recEnq || r.d.Seq != seq || r.d.Device != dev {
			return nil, fmt.Errorf("embedded: segment %d offset %d: damaged record", e.seg.id, e.off)
		}
		return r.d.Payload, nil
	}
	return nil, errors.New("embedded: delivery keeps moving")
}

func (s *Store) find(dev mailbox.Token, seq uint64) *entry {
	dv := s.devs[dev]
	if dv == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(dv.pending, seq, func(e *entry, seq uint64) int { return cmpU64(e.d.Seq, seq) })
	if !ok {
		return nil
	}
	return dv.pending[i]
}

// Watch implements mailbox.Mailbox.
func (s *Store) Watch(dev mailbox.Token, wake func()) (stop func()) {
	w := &watcher{wake: wake}
	s.watchMu.Lock()
	s.watchers[dev] = append(s.watchers[dev], w)
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		ws := s.watchers[dev]
		if i := slices.Index(ws, w); i >= 0 {
			ws = slices.Delete(ws, i, i+1)
		}
		if len(ws) == 0 {
			delete(s.watchers, dev)
		} else {
			s.watchers[dev] = ws
		}
	}
}

func (s *Store) wake(devs []mailbox.Token) {
	var fns []func()
	s.watchMu.Lock()
	for _, d := range devs {
		for _, w := range s.watchers[d] {
			fns = append(fns, w.wake)
		}
	}
	s.watchMu.Unlock()
	for _, f := range fns {
		f()
	}
}

// Close implements mailbox.Mailbox: it writes the buffered acknowledgements,
// syncs, and closes the files.
func (s *Store) Close() error {
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return nil
	}
	s.closing = true
	s.qmu.Unlock()
	close(s.quit)
	s.signal()
	s.wg.Wait()
	s.closed.Store(true)
	s.qmu.Lock()
	err := s.failed
	s.qmu.Unlock()
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) closeFiles() error {
	var err error
	s.segMu.Lock()
	defer s.segMu.Unlock()
	for _, sg := range s.segs {
		if !sg.removed {
			sg.removed = true
			if cerr := sg.f.Close(); err == nil {
				err = cerr
			}
		}
	}
	return err
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	st.SyncHistogram = s.syncHistogram()
	n := min(int(st.Syncs), syncTimes)
	ts := slices.Clone(s.syncs[:n])
	s.mu.Unlock()
	if n > 0 {
		slices.Sort(ts)
		st.SyncP50, st.SyncP99 = ts[n/2], ts[n*99/100]
	}
	return st
}

// observeSync records one sync's duration; s.mu is held.
func (s *Store) observeSync(d time.Duration) {
	i, _ := slices.BinarySearch(SyncBounds[:], d) // the first bound >= d
	s.hist[i]++
	s.stats.SyncHistogram.Sum += d
}

// syncHistogram returns the cumulative histogram; s.mu is held.
func (s *Store) syncHistogram() SyncHistogram {
	h := s.stats.SyncHistogram
	var n int64
	for i, c := range s.hist {
		n += c
		if i < len(h.Buckets) {
			h.Buckets[i] = n
		}
	}
	h.Count = n
	return h
}

// Queue returns the number of queued deliveries (expired ones included
// until the next sweep) and the acceptance time (Delivery.Time) of the
// oldest one at the head of a device's queue, or the zero time if none is
// queued. It walks the index's devices once under the index lock, which
// costs less than a sweep: fine for a metrics scrape every few seconds,
// not for a hot path.
func (s *Store) Queue() (n int64, oldest time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, dv := range s.devs {
		if len(dv.pending) == 0 {
			continue
		}
		n += int64(len(dv.pending))
		if t := dv.pending[0].d.Time; oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return n, oldest
}

// Err returns the write or sync error that stopped the store (it then
// refuses every write until the process restarts and recovers), or
// mailbox.ErrClosed once Close has begun, or nil while the store works.
// Readiness checks ask it.
func (s *Store) Err() error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	switch {
	case s.failed != nil:
		return s.failed
	case s.closing:
		return mailbox.ErrClosed
	}
	return nil
}

// DiskUsage returns the bytes of the segment files.
func (s *Store) DiskUsage() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sg := range s.segs {
		n += sg.size
	}
	return n
}
