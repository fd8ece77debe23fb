package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func TestBurstThenRate(t *testing.T) {
	c := newClock()
	l := New(Limit{Rate: 2, Burst: 10}, c.Now)
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("k")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("11th: ok=%v wait=%v, want refused with 500ms", ok, wait)
	}
	// Another key is independent.
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("other key refused")
	}
	c.Advance(499 * time.Millisecond)
	if ok, _ := l.Allow("k"); ok {
		t.Fatal("admitted before the wait")
	}
	c.Advance(time.Millisecond)
	if ok, _ := l.Allow("k"); !ok {
		t.Fatal("refused after the wait")
	}
}

func TestAllowN(t *testing.T) {
	c := newClock()
	l := New(Limit{Rate: 1, Burst: 20}, c.Now)
	if ok, _ := l.AllowN("k", 15); !ok {
		t.Fatal("15 of 20 refused")
	}
	ok, wait := l.AllowN("k", 10)
	if ok || wait != 5*time.Second {
		t.Fatalf("10 with 5 left: ok=%v wait=%v, want 5s", ok, wait)
	}
	// A refusal costs nothing: 5 are still there.
	if ok, _ := l.AllowN("k", 5); !ok {
		t.Fatal("the 5 left were not admitted")
	}
	ok, wait = l.AllowN("k", 21)
	if ok || wait != 20*time.Second {
		t.Fatalf("more than burst: ok=%v wait=%v, want refused, 20s", ok, wait)
	}
	if ok, _ := l.AllowN("k", 0); !ok {
		t.Fatal("n=0 refused")
	}
}

func TestUnlimited(t *testing.T) {
	l := New(Limit{}, nil)
	for i := 0; i < 1000; i++ {
		if ok, _ := l.AllowN("k", 1000); !ok {
			t.Fatal("unlimited refused")
		}
	}
	if l.Len() != 0 {
		t.Fatal("unlimited limiter keeps buckets")
	}
}

// TestAdmittedCount is the H5/K5 property on the bare limiter: a client
// asking far more often than the rate gets Burst + Rate·T, within rounding.
func TestAdmittedCount(t *testing.T) {
	for _, lim := range []Limit{{Rate: 2, Burst: 200}, {Rate: 0.5, Burst: 5}, {Rate: 100, Burst: 1}} {
		c := newClock()
		l := New(lim, c.Now)
		const attempts = 10000
		total := 10 * time.Minute
		step := total / attempts
		admitted := 0
		for i := 0; i < attempts; i++ {
			if ok, wait := l.Allow("client"); ok {
				admitted++
			} else if wait <= 0 {
				t.Fatal("refusal without a wait")
			}
			c.Advance(step)
		}
		want := float64(lim.Burst) + lim.Rate*total.Seconds()
		want = math.Min(want, attempts)
		if math.Abs(float64(admitted)-want) > 0.01*want+1 {
			t.Errorf("%v: admitted %d, want %.0f", lim, admitted, want)
		}
		t.Logf("limit=%v attempts=%d admitted=%d expected=%.0f", lim, attempts, admitted, want)
	}
}

func TestSweepForgetsFullBuckets(t *testing.T) {
	c := newClock()
	l := New(Limit{Rate: 1, Burst: 2}, c.Now)
	for i := 0; i < 100; i++ {
		l.Allow(fmt.Sprint("k", i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	c.Advance(3 * time.Second)
	for i := 0; i < 1000; i++ { // touch every shard so each sweeps
		l.Allow(fmt.Sprint("fresh", i))
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("after refill Len = %d, want 1000 (the old keys forgotten)", n)
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(Limit{Rate: 1, Burst: 500}, c.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if admitted != 500 {
		t.Fatalf("admitted %d of 1600 concurrent requests, want exactly the burst 500", admitted)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {time.Nanosecond, "1"}, {time.Second, "1"}, {time.Second + 1, "2"}, {90 * time.Second, "90"}} {
		if got := RetryAfter(c.d); got != c.want {
			t.Errorf("RetryAfter(%v) = %s, want %s", c.d, got, c.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	good := map[string]Limit{"2:200": {2, 200}, "0.5:1": {0.5, 1}, "off": {}}
	for s, want := range good {
		got, err := ParseLimit(s)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", s, got, err, want)
		}
		if s != "off" && got.String() != s {
			t.Errorf("String() = %q, want %q", got.String(), s)
		}
	}
	for _, s := range []string{"", "2", "2:", ":2", "x:1", "2:0", "-1:5", "0:5", "NaN:5", "Inf:5", "2:1.5", "2:200:3"} {
		if _, err := ParseLimit(s); err == nil {
			t.Errorf("ParseLimit(%q) accepted", s)
		}
	}
}
