package testkit

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/internal/openerr"
)

// Fault is one tampered payload and the reasons a correct receiver may
// give for it: the first of its checks that the fault can break.
type Fault struct {
	Kind    string
	Payload []byte
	Allowed []openerr.Reason
}

// Tally counts the outcomes of opening tampered payloads. Add may be
// called from several goroutines; read the fields once they are done.
type Tally struct {
	mu         sync.Mutex
	opaque     error
	Attempts   int
	Accepted   int
	Released   int // bytes returned along with an error
	NonNil     int // failures that returned a non-nil result
	NotOpaque  int // errors that are not the opaque error
	External   map[string]int
	Reasons    map[openerr.Reason]int
	Kinds      map[string]int
	Unexpected map[string]int // kind → count of reasons outside Allowed
	Examples   []string
}

// NewTally returns an empty tally for a scheme whose every refusal must be
// opaque (its ErrCannotOpen).
func NewTally(opaque error) *Tally {
	return &Tally{opaque: opaque, External: map[string]int{}, Reasons: map[openerr.Reason]int{},
		Kinds: map[string]int{}, Unexpected: map[string]int{}}
}

// Add records one attempt: opened is whether Open returned a non-nil
// result, released how many message bytes it held, err Open's error.
func (tl *Tally) Add(f *Fault, opened bool, released int, err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.Attempts++
	tl.Kinds[f.Kind]++
	if err == nil {
		tl.Accepted++
		if len(tl.Examples) < 5 {
			tl.Examples = append(tl.Examples, fmt.Sprintf("ACCEPTED %s: %x", f.Kind, f.Payload[:min(len(f.Payload), 48)]))
		}
		return
	}
	if opened {
		tl.NonNil++
		tl.Released += released
	}
	if !errors.Is(err, tl.opaque) {
		tl.NotOpaque++
	}
	tl.External[fmt.Sprintf("%T: %s", err, err.Error())]++
	r, ok := openerr.ReasonOf(err)
	if !ok {
		r = "(no reason)"
	}
	tl.Reasons[r]++
	if !slices.Contains(f.Allowed, r) {
		tl.Unexpected[f.Kind]++
		if len(tl.Examples) < 5 {
			tl.Examples = append(tl.Examples, fmt.Sprintf("%s: reason %s, want one of %v", f.Kind, r, f.Allowed))
		}
	}
}

// Check fails t unless nothing was accepted or released and every error was
// the one opaque error with an expected reason.
func (tl *Tally) Check(t *testing.T, what string) {
	t.Helper()
	if tl.Attempts == 0 {
		t.Errorf("%s: no attempts", what)
	}
	if tl.Accepted != 0 || tl.NonNil != 0 || tl.Released != 0 || tl.NotOpaque != 0 || len(tl.External) != 1 {
		t.Errorf("%s: accepted=%d non_nil_results=%d released_bytes=%d not_ErrCannotOpen=%d external_errors=%v",
			what, tl.Accepted, tl.NonNil, tl.Released, tl.NotOpaque, tl.External)
	}
	for k, r := range tl.External {
		if k != fmt.Sprintf("%T: %s", openerr.New(openerr.Malformed), tl.opaque.Error()) {
			t.Errorf("%s: external error %q (%d times) is not the opaque ErrCannotOpen", what, k, r)
		}
	}
	if len(tl.Unexpected) != 0 {
		t.Errorf("%s: unexpected reasons per fault kind: %v", what, tl.Unexpected)
	}
	for _, e := range tl.Examples {
		t.Errorf("%s: %s", what, e)
	}
}

// T is what the tamper helpers need of a test: *testing.T at top level,
// and the worker Parallel passes, where FailNow must not be called.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// worker turns Fatal into Error plus abandoning the current item.
type worker struct{ t *testing.T }

type abort struct{}

func (w worker) Helper() {}
func (w worker) Fatal(args ...any) {
	w.t.Error(args...)
	panic(abort{})
}
func (w worker) Fatalf(format string, args ...any) {
	w.t.Errorf(format, args...)
	panic(abort{})
}

// Parallel runs f(0..n-1) on GOMAXPROCS goroutines. An item whose f calls
// Fatal is abandoned (the test is marked failed); the others still run.
func Parallel(t *testing.T, n int, f func(t T, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							if _, ok := r.(abort); !ok {
								panic(r)
							}
						}
					}()
					f(worker{t}, i)
				}()
			}
		})
	}
	wg.Wait()
}

// Flip returns a copy of p with bit bit of byte off flipped.
func Flip(p []byte, off int, bit uint) []byte {
	q := bytes.Clone(p)
	q[off] ^= 1 << bit
	return q
}

// E3Size is the plaintext size of envelope i of a tamper corpus: the sizes
// in turn (the E1 known-answer sizes), interleaved with random sizes up to
// 1 KiB.
func E3Size(i int, rng *mrand.Rand, sizes []int) int {
	if i%2 == 0 {
		return sizes[(i/2)%len(sizes)]
	}
	return rng.IntN(1025)
}
