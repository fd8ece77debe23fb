// Package ratelimit is a keyed token-bucket limiter for the Sealpost
// servers: one bucket per key (a device id, a client address, a handle),
// each holding up to Burst tokens and refilled at Rate tokens per second.
//
// Use:
//
//	lim := ratelimit.New(ratelimit.Limit{Rate: 2, Burst: 200}, nil)
//	if ok, wait := lim.AllowN("device:"+id, len(handles)); !ok {
//		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
//		// answer 429
//	}
//
// Promises:
//
//   - Over any interval of length T starting with a full bucket, a key is
//     admitted at most Burst + Rate·T tokens, and a client that keeps asking
//     gets that many (the bucket is refilled continuously, not in steps).
//   - A refused request costs nothing: it does not drain the bucket, so a
//     client that retries too early is not punished beyond the wait.
//   - When AllowN refuses, the wait it returns is exactly how long until the
//     bucket holds n tokens, if nothing else draws from it meanwhile.
//   - A request for more than Burst tokens is never admitted; its wait is
//     the time to refill an empty bucket to Burst, so a client that honours
//     it is not spun in a loop by a zero wait.
//
// Memory: a key's bucket exists while it is not full. Buckets that have
// refilled completely are forgotten (a full bucket and a missing one behave
// alike), in a sweep that runs at most once per refill period and per
// shard, so memory is bounded by the number of keys seen in one refill
// period (Burst / Rate).
//
// The clock is injectable (New's now argument) so tests can simulate hours
// in microseconds. A Limiter is safe for concurrent use; keys are spread
// over independent shards, so unrelated keys rarely contend.
package ratelimit

import (
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limit configures a Limiter. The zero Limit, or any Limit with Rate ≤ 0,
// means "unlimited".
type Limit struct {
	// Rate is the refill rate, in tokens per second.
	Rate float64
	// Burst is the bucket's capacity, the most a key can spend at once.
	Burst int
}

// Unlimited reports whether l admits everything.
func (l Limit) Unlimited() bool { return l.Rate <= 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 1) }

// String formats l as RATE:BURST (tokens per second, capacity), or "off".
func (l Limit) String() string {
	if l.Unlimited() {
		return "off"
	}
	return strconv.FormatFloat(l.Rate, 'g', -1, 64) + ":" + strconv.Itoa(l.Burst)
}

const shardCount = 16

// Limiter is a set of token buckets, one per key.
type Limiter struct {
	limit  Limit
	now    func() time.Time
	seed   maphash.Seed
	shards [shardCount]shard
	// sweepEvery is the refill period: a bucket left alone that long is full.
	sweepEvery time.Duration
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter for limit, reading time from now (time.Now if nil).
func New(limit Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{limit: limit, now: now, seed: maphash.MakeSeed()}
	if !limit.Unlimited() {
		l.sweepEvery = time.Duration(float64(max(limit.Burst, 1)) / limit.Rate * float64(time.Second))
		l.sweepEvery = max(l.sweepEvery, time.Second)
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// Limit returns the limiter's configuration.
func (l *Limiter) Limit() Limit { return l.limit }

// Allow is AllowN(key, 1).
func (l *Limiter) Allow(key string) (ok bool, wait time.Duration) { return l.AllowN(key, 1) }

// AllowN takes n tokens from key's bucket if it holds that many, and
// reports whether it did. If not, nothing is taken and wait says how long
// until n tokens will be there. n ≤ 0 is always allowed.
func (l *Limiter) AllowN(key string, n int) (ok bool, wait time.Duration) {
	if l.limit.Unlimited() || n <= 0 {
		return true, 0
	}
	now := l.now()
	burst := float64(l.limit.Burst)
	s := &l.shards[maphash.String(l.seed, key)%shardCount]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.nextSweep) {
		s.sweep(now, l.limit)
		s.nextSweep = now.Add(l.sweepEvery)
	}
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[key] = b
	} else if now.After(b.last) {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.limit.Rate)
		b.last = now
	}
	need := float64(n)
	if need > burst {
		return false, durationOf(burst / l.limit.Rate)
	}
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	return false, durationOf((need - b.tokens) / l.limit.Rate)
}

// sweep forgets the buckets that have refilled completely by now.
func (s *shard) sweep(now time.Time, limit Limit) {
	burst := float64(limit.Burst)
	for k, b := range s.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*limit.Rate >= burst {
			delete(s.buckets, k)
		}
	}
}

// Len returns how many keys have a bucket that is not known to be full
// (for tests and metrics).
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

func durationOf(seconds float64) time.Duration {
	d := time.Duration(math.Ceil(seconds * float64(time.Second)))
	return max(d, time.Nanosecond)
}

// RetryAfter formats wait as the value of an HTTP Retry-After header: whole
// seconds, rounded up, at least 1.
func RetryAfter(wait time.Duration) string {
	s := int64(math.Ceil(wait.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// ParseLimit reads a Limit written as RATE:BURST (for example "2:200", two
// tokens a second, up to 200 at once) or "off" (unlimited), as flags and
// configuration files write it.
func ParseLimit(s string) (Limit, error) {
	if s == "off" {
		return Limit{}, nil
	}
	rateStr, burstStr, found := strings.Cut(s, ":")
	if !found {
		return Limit{}, errSyntax(s)
	}
	rate, err := strconv.ParseFloat(rateStr, 64)
	if err != nil || rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return Limit{}, errSyntax(s)
	}
	burst, err := strconv.Atoi(burstStr)
	if err != nil || burst < 1 {
		return Limit{}, errSyntax(s)
	}
	return Limit{Rate: rate, Burst: burst}, nil
}

type syntaxError string

func (e syntaxError) Error() string {
	return "ratelimit: " + strconv.Quote(string(e)) + " is not RATE:BURST (tokens per second : bucket size, e.g. 2:200) or off"
}

func errSyntax(s string) error { return syntaxError(s) }
