package pair_test

// E3 (single-fault tamper corpus, CCTV style) and E4 (key swap / re-sign,
// Garman et al. 2016) from shared/docs/testing.md, for "pair".
//
// E3: for each of tkE3Envelopes valid alice → bob envelopes (sizes cycling
// through the E1 sizes, interleaved with random sizes), apply one fault at a
// time and open the result as bob. Every tampered payload must be refused,
// always with the same external error (ErrCannotOpen, one message text), and
// with a nil plaintext. The internal reason (openerr.ReasonOf) is recorded
// and must be one a correct receiver reaches first for that fault (parse →
// signature → unwrap → tag). The re-signed variant (the fault, then a fresh
// signature over the body with alice's real signing key) is the case only
// the 40-bit tag (or OAEP, when the RSA block was hit) can catch.
//
// E4: mallory strips alice's signature and re-signs with her own key, the
// envelope unchanged or mauled, and presents it to bob as from mallory;
// alice → bob envelopes are delivered to bob's other device and to carol.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/pair"
)

// tkE3Envelopes is N, the number of base envelopes of the E3 corpus. Each
// gets every non-re-signed fault and every re-signed fault that applies to
// its size (a plaintext of at most 100 bytes has no ciphertext outside the
// RSA block).
const tkE3Envelopes = 1000

// tkE4Rounds fresh alice → bob envelopes, each attacked in 6 ways.
const tkE4Rounds = 350

// tkFault is one tampered payload and the reasons a correct receiver may
// give for it: the first of its checks that the fault can break.
type tkFault struct {
	kind    string
	payload []byte
	allowed []openerr.Reason
}

// tkTally counts the outcomes of opening tampered payloads.
type tkTally struct {
	mu         sync.Mutex
	attempts   int
	accepted   int
	released   int // plaintext bytes returned along with an error
	nonNil     int // failures that returned a non-nil plaintext
	notOpaque  int // errors that are not ErrCannotOpen
	external   map[string]int
	reasons    map[openerr.Reason]int
	kinds      map[string]int
	unexpected map[string]int // kind → count of reasons outside allowed
	examples   []string
}

func tkNewTally() *tkTally {
	return &tkTally{external: map[string]int{}, reasons: map[openerr.Reason]int{},
		kinds: map[string]int{}, unexpected: map[string]int{}}
}

// add records one attempt: opened is what Open returned (nil or not),
// released its length.
func (tl *tkTally) add(f *tkFault, opened bool, released int, err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.attempts++
	tl.kinds[f.kind]++
	if err == nil {
		tl.accepted++
		if len(tl.examples) < 5 {
			tl.examples = append(tl.examples, fmt.Sprintf("ACCEPTED %s: %x", f.kind, f.payload[:min(len(f.payload), 48)]))
		}
		return
	}
	if opened {
		tl.nonNil++
		tl.released += released
	}
	if !errors.Is(err, pair.ErrCannotOpen) {
		tl.notOpaque++
	}
	tl.external[fmt.Sprintf("%T: %s", err, err.Error())]++
	r, ok := openerr.ReasonOf(err)
	if !ok {
		r = "(no reason)"
	}
	tl.reasons[r]++
	if !slices.Contains(f.allowed, r) {
		tl.unexpected[f.kind]++
		if len(tl.examples) < 5 {
			tl.examples = append(tl.examples, fmt.Sprintf("%s: reason %s, want one of %v", f.kind, r, f.allowed))
		}
	}
}

// check fails t unless nothing was accepted or released and every error was
// the one opaque error with an expected reason.
func (tl *tkTally) check(t *testing.T, what string) {
	t.Helper()
	if tl.attempts == 0 {
		t.Errorf("%s: no attempts", what)
	}
	if tl.accepted != 0 || tl.nonNil != 0 || tl.released != 0 || tl.notOpaque != 0 || len(tl.external) != 1 {
		t.Errorf("%s: accepted=%d non_nil_plaintexts=%d released_bytes=%d not_ErrCannotOpen=%d external_errors=%v",
			what, tl.accepted, tl.nonNil, tl.released, tl.notOpaque, tl.external)
	}
	for k, r := range tl.external {
		if k != fmt.Sprintf("%T: %s", openerr.New(openerr.Malformed), pair.ErrCannotOpen.Error()) {
			t.Errorf("%s: external error %q (%d times) is not the opaque ErrCannotOpen", what, k, r)
		}
	}
	if len(tl.unexpected) != 0 {
		t.Errorf("%s: unexpected reasons per fault kind: %v", what, tl.unexpected)
	}
	for _, e := range tl.examples {
		t.Errorf("%s: %s", what, e)
	}
}

// tkT is what the helpers need of a test: *testing.T at top level, and
// tkWorker inside tkParallel, where FailNow must not be called.
type tkT interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// tkWorker turns Fatal into Error plus abandoning the current item.
type tkWorker struct{ t *testing.T }

type tkAbort struct{}

func (w tkWorker) Helper() {}
func (w tkWorker) Fatal(args ...any) {
	w.t.Error(args...)
	panic(tkAbort{})
}
func (w tkWorker) Fatalf(format string, args ...any) {
	w.t.Errorf(format, args...)
	panic(tkAbort{})
}

// tkParallel runs f(0..n-1) on GOMAXPROCS goroutines. An item whose f calls
// Fatal is abandoned (the test is marked failed); the others still run.
func tkParallel(t *testing.T, n int, f func(t tkT, i int)) {
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
							if _, ok := r.(tkAbort); !ok {
								panic(r)
							}
						}
					}()
					f(tkWorker{t}, i)
				}()
			}
		})
	}
	wg.Wait()
}

// tkPairLayout is where the fields of a pair payload are.
type tkPairLayout struct {
	n          int // body length
	rStart, rN int // r content, absolute offsets
	sStart, sN int
	sigStart   int
}

func tkPairParse(t tkT, p []byte) tkPairLayout {
	n := int(binary.BigEndian.Uint16(p[1:3]))
	l := tkPairLayout{n: n, sigStart: 4 + n}
	sig := p[l.sigStart:]
	if len(sig) < 8 || sig[0] != 0x30 || sig[2] != 0x02 || int(sig[1]) != len(sig)-2 {
		t.Fatalf("unexpected DER signature % x", sig)
	}
	l.rN = int(sig[3])
	l.rStart = l.sigStart + 4
	if sig[4+l.rN] != 0x02 {
		t.Fatalf("unexpected DER signature % x", sig)
	}
	l.sN = int(sig[5+l.rN])
	l.sStart = l.sigStart + 6 + l.rN
	return l
}

func tkFlip(p []byte, off int, bit uint) []byte {
	q := bytes.Clone(p)
	q[off] ^= 1 << bit
	return q
}

// tkResignPair replaces the signature with one by key over the body.
func tkResignPair(t tkT, p []byte, key *ecdsa.PrivateKey) []byte {
	n := int(binary.BigEndian.Uint16(p[1:3]))
	digest := sha1.Sum(p[3 : 3+n])
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(p[:3+n]), byte(len(sig)))
	return append(out, sig...)
}

// tkPairFaults returns the single-fault variants of the valid payload p, and separately their re-signed variants (re-signed by
// signer after the fault).
func tkPairFaults(t tkT, rng *mrand.Rand, p []byte, signer *ecdsa.PrivateKey) (faults, resigned []tkFault) {
	const (
		malformed = openerr.Malformed
		badSig    = openerr.SignatureInvalid
		unwrap    = openerr.UnwrapFailed
		tag       = openerr.TagMismatch
	)
	l := tkPairParse(t, p)
	rsaStart, tailStart, bodyEnd := 3, 3+identity.RSAModulusSize, 3+l.n
	bit := func() uint { return uint(rng.IntN(8)) }
	add := func(kind string, q []byte, allowed ...openerr.Reason) {
		faults = append(faults, tkFault{kind, q, allowed})
	}
	addResigned := func(kind string, q []byte, allowed ...openerr.Reason) {
		add(kind, q, badSig)
		resigned = append(resigned, tkFault{kind + "+resigned", tkResignPair(t, q, signer), allowed})
	}

	// The CTR body outside the RSA block: first, middle and last byte.
	if tail := bodyEnd - tailStart; tail > 0 {
		for i, off := range []int{tailStart, tailStart + tail/2, bodyEnd - 1} {
			addResigned([]string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[i], tkFlip(p, off, bit()), tag)
		}
		// Reorder inside the body: tail first, RSA block last.
		q := bytes.Clone(p)
		copy(q[rsaStart:], p[tailStart:bodyEnd])
		copy(q[rsaStart+tail:], p[rsaStart:tailStart])
		addResigned("reorder_body_rsa_tail", q, unwrap)
	}
	// The wrapped key (RSA-OAEP block, which also holds C[:100]).
	for i, off := range []int{rsaStart, rsaStart + identity.RSAModulusSize/2, tailStart - 1} {
		addResigned([]string{"wrapped_key_first", "wrapped_key_middle", "wrapped_key_last"}[i], tkFlip(p, off, bit()), unwrap)
	}
	// The signature's r and s, and its DER header and length bytes.
	add("sig_r", tkFlip(p, l.rStart+rng.IntN(l.rN), bit()), badSig)
	add("sig_s", tkFlip(p, l.sStart+rng.IntN(l.sN), bit()), badSig)
	for _, off := range []int{l.sigStart, l.sigStart + 1, l.sigStart + 2, l.sigStart + 3, l.rStart + l.rN, l.rStart + l.rN + 1} {
		add("sig_der_header", tkFlip(p, off, bit()), badSig)
	}
	// Every bit of every framing field.
	for b := range uint(8) {
		add("version", tkFlip(p, 0, b), malformed)
		add("body_len_hi", tkFlip(p, 1, b), malformed, badSig)
		add("body_len_lo", tkFlip(p, 2, b), malformed, badSig)
		add("sig_len", tkFlip(p, bodyEnd, b), malformed)
	}
	// Truncation at every field boundary and at three random points.
	cuts := []int{0, 1, 3, tailStart, bodyEnd, bodyEnd + 1, l.sigStart + 2, l.rStart + l.rN, len(p) - 1}
	for range 3 {
		cuts = append(cuts, 1+rng.IntN(len(p)-1))
	}
	slices.Sort(cuts)
	for _, c := range slices.Compact(cuts) {
		if c < len(p) {
			add("truncate", bytes.Clone(p[:c]), malformed)
		}
	}
	add("append_1", append(bytes.Clone(p), byte(rng.IntN(256))), malformed)
	// Swap the chunks: version ‖ len(sig) ‖ sig ‖ len(body) ‖ body.
	q := append([]byte{p[0]}, p[bodyEnd:]...)
	add("reorder_sig_body", append(q, p[1:bodyEnd]...), malformed)
	return faults, resigned
}

// tkE3Size is the plaintext size of envelope i: the E1 sizes in turn,
// interleaved with random sizes up to 1 KiB.
func tkE3Size(i int, rng *mrand.Rand, sizes []int) int {
	if i%2 == 0 {
		return sizes[(i/2)%len(sizes)]
	}
	return rng.IntN(1025)
}

func TestTkTamperPair(t *testing.T) {
	alice, bob, _ := tkParties(t)
	all, resigned := tkNewTally(), tkNewTally()
	var mu sync.Mutex
	var baseOK, baseFail int
	tkParallel(t, tkE3Envelopes, func(t tkT, i int) {
		rng := mrand.New(mrand.NewPCG(0xe3, uint64(i)))
		pt := make([]byte, tkE3Size(i, rng, tkKATSizes))
		for j := range pt {
			pt[j] = byte(rng.Uint32())
		}
		p, err := pair.Seal(alice, bob.Public(), pt)
		if err != nil {
			t.Fatal(err)
		}
		// Sanity: the unmodified envelope opens.
		got, err := pair.Open(bob, alice.Public(), p)
		mu.Lock()
		if err != nil || !bytes.Equal(got, pt) {
			baseFail++
		} else {
			baseOK++
		}
		mu.Unlock()
		faults, rs := tkPairFaults(t, rng, p, alice.SigningKey())
		for _, set := range []struct {
			tl     *tkTally
			faults []tkFault
		}{{all, faults}, {resigned, rs}} {
			for k := range set.faults {
				f := &set.faults[k]
				out, err := pair.Open(bob, alice.Public(), f.payload)
				set.tl.add(f, out != nil, len(out), err)
			}
		}
	})
	if baseOK != tkE3Envelopes || baseFail != 0 {
		t.Errorf("base envelopes: %d open, %d do not; want all %d to open", baseOK, baseFail, tkE3Envelopes)
	}
	all.check(t, "E3 pair")
	resigned.check(t, "E3 pair resigned")
	t.Logf("E3 pair: envelopes=%d faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		baseOK, all.attempts, all.accepted, len(all.external), all.released, all.reasons)
	t.Logf("E3 pair resigned (alice's real key re-signs after the fault): faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		resigned.attempts, resigned.accepted, len(resigned.external), resigned.released, resigned.reasons)
	t.Logf("E3 pair fault kinds: %v %v", all.kinds, resigned.kinds)
}

// TestTkTamperPairNegativeControl shows the E3 harness can see an
// acceptance: a payload whose only change is a fresh signature by the real
// sender over the unchanged body is valid, and the tally must count it.
func TestTkTamperPairNegativeControl(t *testing.T) {
	alice, bob, _ := tkParties(t)
	p, err := pair.Seal(alice, bob.Public(), []byte("control"))
	if err != nil {
		t.Fatal(err)
	}
	tl := tkNewTally()
	f := tkFault{"resign_unchanged", tkResignPair(t, p, alice.SigningKey()), nil}
	out, err := pair.Open(bob, alice.Public(), f.payload)
	tl.add(&f, out != nil, len(out), err)
	if tl.accepted != 1 {
		t.Fatalf("control: accepted=%d, want 1 (%v)", tl.accepted, err)
	}
}

// TestTkKeySwapPair is E4 for pair.
func TestTkKeySwapPair(t *testing.T) {
	alice, bob, mallory := tkParties(t)
	bob2, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	carol, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	const (
		unwrap = openerr.UnwrapFailed
		tag    = openerr.TagMismatch
		badSig = openerr.SignatureInvalid
	)
	tl := tkNewTally()
	var mu sync.Mutex
	var baseOK int
	tkParallel(t, tkE4Rounds, func(t tkT, i int) {
		rng := mrand.New(mrand.NewPCG(0xe4, uint64(i)))
		pt := make([]byte, tkE3Size(i, rng, tkKATSizes)%4097)
		for j := range pt {
			pt[j] = byte(rng.Uint32())
		}
		p, err := pair.Seal(alice, bob.Public(), pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := pair.Open(bob, alice.Public(), p); err == nil && bytes.Equal(got, pt) {
			mu.Lock()
			baseOK++
			mu.Unlock()
		}
		// One bit of the body, in the RSA block or the tail.
		off := 3 + rng.IntN(int(binary.BigEndian.Uint16(p[1:3])))
		mauled := tkFlip(p, off, uint(rng.IntN(8)))
		mauledWant := tag
		if off < 3+identity.RSAModulusSize {
			mauledWant = unwrap
		}
		type attempt struct {
			f  tkFault
			me *identity.Keys
			as *identity.Public
		}
		atts := []attempt{
			// (a) mallory re-signs the unchanged envelope and claims it.
			{tkFault{"mallory_resigned_unchanged", tkResignPair(t, p, mallory.SigningKey()), []openerr.Reason{tag}}, bob, mallory.Public()},
			// (b) the same after mauling one bit of the body.
			{tkFault{"mallory_resigned_mauled", tkResignPair(t, mauled, mallory.SigningKey()), []openerr.Reason{mauledWant}}, bob, mallory.Public()},
			// mallory's signature presented as alice's.
			{tkFault{"mallory_resigned_as_alice", tkResignPair(t, p, mallory.SigningKey()), []openerr.Reason{badSig}}, bob, alice.Public()},
			// alice's untouched envelope delivered to another device.
			{tkFault{"to_bob_other_device", p, []openerr.Reason{unwrap}}, bob2, alice.Public()},
			{tkFault{"to_carol", p, []openerr.Reason{unwrap}}, carol, alice.Public()},
			// bob's other device with mallory re-signing as herself.
			{tkFault{"to_bob_other_device_mallory_resigned", tkResignPair(t, p, mallory.SigningKey()), []openerr.Reason{unwrap}}, bob2, mallory.Public()},
		}
		for k := range atts {
			a := &atts[k]
			out, err := pair.Open(a.me, a.as, a.f.payload)
			tl.add(&a.f, out != nil, len(out), err)
		}
	})
	if baseOK != tkE4Rounds {
		t.Errorf("base envelopes: %d of %d open for bob", baseOK, tkE4Rounds)
	}
	tl.check(t, "E4 pair")
	if tl.attempts < 2000 {
		t.Errorf("E4 pair: only %d attempts", tl.attempts)
	}
	t.Logf("E4 pair: attempts=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v kinds=%v",
		tl.attempts, tl.accepted, len(tl.external), tl.released, tl.reasons, tl.kinds)
}
