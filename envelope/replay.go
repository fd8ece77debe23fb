package envelope

import (
	"errors"
	"sync"
	"time"

	"github.com/sealpost/sealpost/message"
)

// Replay errors.
var (
	ErrDuplicate = errors.New("envelope: message already received")
	ErrStale     = errors.New("envelope: message is older than the replay horizon")
)

// DefaultHorizon is how long Replay remembers a message ID: the relay's
// 30-day queue lifetime plus a day of clock skew, so that nothing the relay
// can still deliver is forgotten.
const DefaultHorizon = 31 * 24 * time.Hour

// Replay remembers the IDs of received messages for a horizon and refuses
// a message seen before, or one sent before the horizon (which it could no
// longer tell from a replay). IDs are kept in buckets by the day they were
// sent, and whole buckets are dropped once past the horizon.
//
// A Replay is in memory; a client that must survive restarts saves
// [Replay.Entries] and feeds them back with [Replay.Add].
type Replay struct {
	horizon time.Duration
	now     func() time.Time

	mu   sync.Mutex
	days map[int64]map[message.ID]time.Time
}

// NewReplay returns a Replay with the given horizon (DefaultHorizon if
// zero) and clock (time.Now if nil).
func NewReplay(horizon time.Duration, now func() time.Time) *Replay {
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	if now == nil {
		now = time.Now
	}
	return &Replay{horizon: horizon, now: now, days: make(map[int64]map[message.ID]time.Time)}
}

// Check records the message id sent at sent, and returns ErrDuplicate if
// it was recorded before or ErrStale if sent is beyond the horizon.
// Messages claiming a time in the future are filed under now, so a forged
// timestamp cannot make an ID live longer than the horizon.
func (r *Replay) Check(id message.ID, sent time.Time) error {
	now := r.now()
	if sent.Before(now.Add(-r.horizon)) {
		return ErrStale
	}
	if sent.After(now) {
		sent = now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	for _, day := range r.days {
		if _, dup := day[id]; dup {
			return ErrDuplicate
		}
	}
	r.add(id, sent)
	return nil
}

// Add records id without checking, for restoring saved entries.
func (r *Replay) Add(id message.ID, sent time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(id, sent)
}

func (r *Replay) add(id message.ID, sent time.Time) {
	d := sent.Unix() / 86400
	day := r.days[d]
	if day == nil {
		day = make(map[message.ID]time.Time)
		r.days[d] = day
	}
	day[id] = sent
}

func (r *Replay) expire(now time.Time) {
	oldest := now.Add(-r.horizon).Unix()/86400 - 1
	for d := range r.days {
		if d < oldest {
			delete(r.days, d)
		}
	}
}

// Entries calls fn for every remembered ID, for saving.
func (r *Replay) Entries(fn func(id message.ID, sent time.Time)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, day := range r.days {
		for id, t := range day {
			fn(id, t)
		}
	}
}
