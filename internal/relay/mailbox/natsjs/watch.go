package natsjs

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// watchSet is this process's watchers of one device, behind one core NATS
// subscription to <wake prefix>.<device hex>. All subscriptions deliver
// to one channel, read by one dispatcher goroutine (a subscription with a
// callback would cost a goroutine per device).
type watchSet struct {
	sub *nats.Subscription
	fns map[*watcher]struct{}
}

type watcher struct {
	wake    func()
	stopped atomic.Bool
}

func (s *Store) wakeSubject(dev mailbox.Token) string {
	return s.opt.WakeSubject + "." + hex.EncodeToString(dev[:])
}

// Watch calls wake after new deliveries for device have been stored by any
// node: every Enqueue publishes an empty core NATS message on the device's
// wake subject once its PubAcks are in, and this process subscribes to
// that subject while the device has watchers here. After a reconnection
// to NATS every watcher is woken once (wake-ups sent meanwhile are lost).
func (s *Store) Watch(device mailbox.Token, wake func()) (stop func()) {
	w := &watcher{wake: wake}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return func() {}
	}
	ws := s.watches[device]
	if ws == nil {
		ws = &watchSet{fns: make(map[*watcher]struct{})}
		sub, err := s.nc.ChanSubscribe(s.wakeSubject(device), s.wakes)
		if err != nil {
			s.log.Error("natsjs: wake-up subscription", "err", err)
		} else {
			ws.sub = sub
		}
		s.watches[device] = ws
	}
	ws.fns[w] = struct{}{}
	return func() {
		if w.stopped.Swap(true) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ws := s.watches[device]
		if ws == nil {
			return
		}
		delete(ws.fns, w)
		if len(ws.fns) == 0 {
			if ws.sub != nil {
				ws.sub.Unsubscribe()
			}
			delete(s.watches, device)
			// What Pending learnt of the device serves its connection
			// only.
			// (Places of deliveries whose acknowledgement is queued are
			// kept: the ack workers use them.)
			if st := s.devs[device]; st != nil {
				for seq := range st.refs {
					if _, ok := st.acked[seq]; !ok {
						delete(st.refs, seq)
					}
				}
				if len(st.refs) == 0 {
					st.refs = nil
				}
				st.lastSeq, st.lastStream = 0, 0
			}
		}
	}
}

// dispatch wakes the watchers of the devices named by wake-up messages.
func (s *Store) dispatch() {
	prefix := s.opt.WakeSubject + "."
	for {
		var m *nats.Msg
		select {
		case m = <-s.wakes:
		case <-s.stopped:
			return
		}
		var dev mailbox.Token
		h, ok := strings.CutPrefix(m.Subject, prefix)
		if !ok || hex.DecodedLen(len(h)) != len(dev) {
			continue
		}
		if _, err := hex.Decode(dev[:], []byte(h)); err != nil {
			continue
		}
		if seq, head, ok := parseWake(m.Data); ok {
			s.learnHead(dev, seq, head)
		}
		s.wakeLocal(dev)
	}
}

// wake tells every node watching dev that it has something new, and what
// this process knows of the device's head (see wakeBody). The caller holds
// dev's lock.
func (s *Store) wake(dev mailbox.Token) {
	var body []byte
	if seq, head, ok := s.cachedHead(dev); ok {
		body = wakeBody(seq, head)
	}
	if err := s.nc.Publish(s.wakeSubject(dev), body); err != nil {
		s.log.Warn("natsjs: wake-up not sent", "err", err)
	}
}

// wakeLocal calls this process's watchers of dev, with no lock held.
func (s *Store) wakeLocal(dev mailbox.Token) {
	s.mu.Lock()
	ws := s.watches[dev]
	var fns []*watcher
	if ws != nil {
		fns = make([]*watcher, 0, len(ws.fns))
		for w := range ws.fns {
			fns = append(fns, w)
		}
	}
	s.mu.Unlock()
	for _, w := range fns {
		if !w.stopped.Load() {
			w.wake()
		}
	}
}

// wakeAll wakes every watcher in this process (after a reconnection).
func (s *Store) wakeAll() {
	s.mu.Lock()
	devs := make([]mailbox.Token, 0, len(s.watches))
	for dev := range s.watches {
		devs = append(devs, dev)
	}
	s.mu.Unlock()
	for _, dev := range devs {
		s.wakeLocal(dev)
	}
}

// keeper refreshes the head of watched devices whose last record is older
// than half the stream's MaxAge, so that a device connected but idle for
// longer than MaxAge does not lose its head (its next Seq would start
// again at 1, below the cursor its connection holds).
func (s *Store) keeper(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.mu.Lock()
		devs := make([]mailbox.Token, 0, len(s.watches))
		for dev := range s.watches {
			devs = append(devs, dev)
		}
		s.mu.Unlock()
		for _, dev := range devs {
			if err := s.keepHead(context.Background(), dev); err != nil {
				s.log.Warn("natsjs: refreshing a device's head", "err", err)
			}
			select {
			case <-s.stopped:
				return
			default:
			}
		}
	}
}

// keepHead rewrites dev's head marker if its last record is old.
func (s *Store) keepHead(ctx context.Context, dev mailbox.Token) error {
	if err := s.begin(); err != nil {
		return nil
	}
	defer s.ops.Done()
	l := s.lock(dev)
	l.Lock()
	defer l.Unlock()
	subj := deviceSubjects(s.opt.Subject, dev)
	for attempt := 0; attempt < 10; attempt++ {
		m, found, err := s.last(ctx, subj.all())
		if err != nil || !found || time.Since(m.time) < s.maxAge/2 {
			return err
		}
		h := record{kind: kindHead, head: m.rec.head, d: mailbox.Delivery{Device: dev}}
		nseq, err := s.publish(ctx, subj.head(), h.marshal(make([]byte, 0, fixedH)), subj.all(), m.seq)
		if err == nil {
			s.setHead(dev, nseq, m.rec.head)
			return nil
		}
		if err != errConflict {
			return err
		}
	}
	return nil
}

// A wake-up's body is empty, or 'H' ‖ stream sequence u64 ‖ head u64
// (big-endian): where the device's last record was and its head, as the
// sender knew them after its writes. Watching nodes keep their cached head
// current with it, so that their own writes to the device (acks above
// all) are seldom refused. Other bodies are ignored.
const wakeLen = 1 + 8 + 8

func wakeBody(seq, head uint64) []byte {
	b := make([]byte, 0, wakeLen)
	b = append(b, kindHead)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, head)
}

func parseWake(b []byte) (seq, head uint64, ok bool) {
	if len(b) < wakeLen || b[0] != kindHead {
		return 0, 0, false
	}
	seq, head = binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])
	return seq, head, seq != 0
}
