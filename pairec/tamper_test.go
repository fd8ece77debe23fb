package pairec_test

// E3 (single-fault tamper corpus, CCTV style) and E4 (key swap / re-sign,
// Garman et al. 2016) from shared/docs/testing.md, for "pair-ec".
//
// E3: for each of tkE3Envelopes valid alice → bob envelopes (sizes cycling
// through the E1 sizes, interleaved with random sizes), apply one fault at a
// time and open the result as bob. Every tampered payload must be refused,
// always with the same external error (ErrCannotOpen, one message text), and
// with a nil inner message. The internal reason (openerr.ReasonOf) is
// recorded and must be one a correct receiver reaches first for that fault
// (parse → ECDH → signature → validator → padding and inner parse).
//
// Re-signed variant: pair-ec has no MAC besides the signature, and the
// signature covers the ECDH secret S. An attacker holding alice's device key
// and S (here: computed with bob's prekey, i.e. full key compromise) can
// re-sign a bit-flipped ciphertext; CTR then flips the same plaintext bit,
// and only the padding and InnerMessage parser stand in the way. That is
// expected (such an attacker can send anything as alice anyway); the test
// reports the acceptance rate and checks that every accepted message is
// exactly the original with that one bit flipped, i.e. that the harness
// models what it claims.
//
// E4: mallory, acting as the server, strips alice's signature and re-signs
// with her own device key (she does not know S), the envelope unchanged or
// mauled, and presents it to bob as from mallory; or swaps in her own
// ephemeral key, so that she knows S and can sign, which turns alice's
// ciphertext into noise. alice → bob envelopes are also delivered to bob's
// other device and to carol.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/p256"
	"github.com/sealpost/sealpost/pairec"
)

// tkE3Envelopes is N, the number of base envelopes of the E3 corpus; each
// gets every fault.
const tkE3Envelopes = 1000

// tkE4Rounds fresh alice → bob envelopes, each attacked in 7 ways.
const tkE4Rounds = 300

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
	released   int // message bytes returned along with an error
	nonNil     int // failures that returned a non-nil *Inner
	notOpaque  int
	external   map[string]int
	reasons    map[openerr.Reason]int
	kinds      map[string]int
	unexpected map[string]int
	examples   []string
}

func tkNewTally() *tkTally {
	return &tkTally{external: map[string]int{}, reasons: map[openerr.Reason]int{},
		kinds: map[string]int{}, unexpected: map[string]int{}}
}

func tkInnerBytes(in *pairec.Inner) int {
	if in == nil {
		return 0
	}
	return len(in.Message) + len(in.KTGossip) + len(in.DebugInfo)
}

func (tl *tkTally) add(f *tkFault, in *pairec.Inner, err error) {
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
	if in != nil {
		tl.nonNil++
		tl.released += tkInnerBytes(in)
	}
	if !errors.Is(err, pairec.ErrCannotOpen) {
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
		t.Errorf("%s: accepted=%d non_nil_inner=%d released_bytes=%d not_ErrCannotOpen=%d external_errors=%v",
			what, tl.accepted, tl.nonNil, tl.released, tl.notOpaque, tl.external)
	}
	for k, r := range tl.external {
		if k != fmt.Sprintf("%T: %s", openerr.New(openerr.Malformed), pairec.ErrCannotOpen.Error()) {
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

// tkField is one OuterMessage field as it sits in the payload.
type tkField struct {
	num              protowire.Number
	tagAt, lenAt, at int // offsets of the tag, the length and the value
	value            []byte
}

// tkFields splits an OuterMessage with protowire (not with pbwire).
func tkFields(t tkT, b []byte) []tkField {
	var out []tkField
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 || typ != protowire.BytesType {
			t.Fatalf("bad tag at %d", off)
		}
		v, m := protowire.ConsumeBytes(b[off+n:])
		if m < 0 {
			t.Fatalf("bad length at %d", off+n)
		}
		out = append(out, tkField{num: num, tagAt: off, lenAt: off + n, at: off + n + m - len(v), value: v})
		off += n + m
	}
	if len(out) != 4 || out[0].num != 1 || out[1].num != 2 || out[2].num != 3 || out[3].num != 99 {
		t.Fatalf("fields are not 1, 2, 3, 99")
	}
	return out
}

// tkEncode writes fields in the given order.
func tkEncode(fields ...tkField) []byte {
	var b []byte
	for _, f := range fields {
		b = protowire.AppendTag(b, f.num, protowire.BytesType)
		b = protowire.AppendBytes(b, f.value)
	}
	return b
}

func tkFlip(p []byte, off int, bit uint) []byte {
	q := bytes.Clone(p)
	q[off] ^= 1 << bit
	return q
}

// tkSecret is S for the payload's ephemeral key and the receiver's prekey
// (the receiver's private prekey: only a full key compromise gives it).
func tkSecret(t tkT, prekey *ecdh.PrivateKey, ephX []byte) []byte {
	eph, err := identity.CompactKey(ephX).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	s, err := prekey.ECDH(eph)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tkResign recomputes the signature over S ‖ prekey ‖ ephemeral ‖ receiver
// device ‖ ciphertext, with the given S and device signing key, and writes
// the validator for sender → to.
func tkResign(t tkT, p []byte, secret []byte, signer *identity.Keys, to *identity.Keys) []byte {
	f := tkFields(t, p)
	pre, dev := to.SignedPrekey().Prekey, to.DeviceKey()
	h := sha256.New()
	h.Write(secret)
	h.Write(pre[:])
	h.Write(f[1].value)
	h.Write(dev[:])
	h.Write(f[0].value)
	sig, err := p256.SignRaw(signer.DeviceSigningKey(), h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	sd := signer.DeviceKey()
	f[2].value = sig[:]
	f[3].value = []byte{sd[0], sd[1], dev[0], dev[1], pre[0], pre[1], 0x0C}
	return tkEncode(f...)
}

// tkECFaults returns the single-fault variants of the valid payload p.
func tkECFaults(t tkT, rng *mrand.Rand, p []byte) []tkFault {
	const (
		malformed = openerr.Malformed
		badSig    = openerr.SignatureInvalid
		unwrap    = openerr.UnwrapFailed
		validator = openerr.ValidatorMismatch
	)
	fs := tkFields(t, p)
	ct, eph, sig, val := fs[0], fs[1], fs[2], fs[3]
	bit := func() uint { return uint(rng.IntN(8)) }
	var out []tkFault
	add := func(kind string, q []byte, allowed ...openerr.Reason) {
		out = append(out, tkFault{kind, q, allowed})
	}
	// The CTR body: first, middle, last byte. S is signed, so the signature
	// catches it.
	for i, off := range []int{ct.at, ct.at + len(ct.value)/2, ct.at + len(ct.value) - 1} {
		add([]string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[i], tkFlip(p, off, bit()), badSig)
	}
	// The ephemeral key: not a point (ECDH fails) or another S.
	add("ephemeral", tkFlip(p, eph.at+rng.IntN(32), bit()), unwrap, badSig)
	// The signature's r (bytes 0–31) and s (32–63).
	add("sig_r", tkFlip(p, sig.at+rng.IntN(32), bit()), badSig)
	add("sig_s", tkFlip(p, sig.at+32+rng.IntN(32), bit()), badSig)
	// Every validator byte.
	for k := range 7 {
		add("validator", tkFlip(p, val.at+k, bit()), validator)
	}
	// Every bit of every tag and length byte.
	for _, f := range fs {
		for off := f.tagAt; off < f.at; off++ {
			kind := "tag"
			if off >= f.lenAt {
				kind = "length"
			}
			for b := range uint(8) {
				add(fmt.Sprintf("%s_%d", kind, f.num), tkFlip(p, off, b), malformed)
			}
		}
	}
	// Truncation at every field boundary and at three random points.
	var cuts []int
	for _, f := range fs {
		cuts = append(cuts, f.tagAt, f.lenAt, f.at, f.at+len(f.value)/2)
	}
	cuts = append(cuts, len(p)-1)
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
	// Reordered fields (canonical encoding only: refused at parse).
	add("swap_1_2", tkEncode(eph, ct, sig, val), malformed)
	add("swap_2_3", tkEncode(ct, sig, eph, val), malformed)
	add("swap_3_99", tkEncode(ct, eph, val, sig), malformed)
	add("swap_1_99", tkEncode(val, eph, sig, ct), malformed)
	add("reversed", tkEncode(val, sig, eph, ct), malformed)
	return out
}

// tkE3Size is the message size of envelope i: the E1 sizes in turn,
// interleaved with random sizes up to 1 KiB.
func tkE3Size(i int, rng *mrand.Rand) int {
	if i%2 == 0 {
		return tkKATSizes[(i/2)%len(tkKATSizes)]
	}
	return rng.IntN(1025)
}

func TestTkTamperPairEC(t *testing.T) {
	alice, bob, _ := tkParties(t)
	all := tkNewTally()
	var mu sync.Mutex
	var baseOK, baseFail int
	// Re-signed with alice's real device key and the true S.
	resigned := map[string]map[string]int{}
	resignedBad := 0
	tkParallel(t, tkE3Envelopes, func(t tkT, i int) {
		rng := mrand.New(mrand.NewPCG(0xe3ec, uint64(i)))
		in := &pairec.Inner{Message: make([]byte, tkE3Size(i, rng)), Counter: uint32(i)}
		for j := range in.Message {
			in.Message[j] = byte(rng.Uint32())
		}
		p, err := pairec.Seal(alice, tkRecipient(bob), in)
		if err != nil {
			t.Fatal(err)
		}
		// Sanity: the unmodified envelope opens.
		got, err := pairec.Open(bob, alice.DeviceKey(), p)
		ok := err == nil && bytes.Equal(got.Message, in.Message) && got.Counter == in.Counter
		mu.Lock()
		if ok {
			baseOK++
		} else {
			baseFail++
		}
		mu.Unlock()

		faults := tkECFaults(t, rng, p)
		for k := range faults {
			f := &faults[k]
			out, err := pairec.Open(bob, alice.DeviceKey(), f.payload)
			all.add(f, out, err)
		}

		// Re-signed: flip a bit of the ciphertext, re-sign with S.
		fs := tkFields(t, p)
		secret := tkSecret(t, bob.PrekeyECDH(), fs[1].value)
		for k, idx := range []int{0, len(fs[0].value) / 2, len(fs[0].value) - 1} {
			kind := []string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[k]
			b := uint(rng.IntN(8))
			q := tkResign(t, tkFlip(p, fs[0].at+idx, b), secret, alice, bob)
			out, err := pairec.Open(bob, alice.DeviceKey(), q)
			outcome := "accepted"
			if err != nil {
				r, _ := openerr.ReasonOf(err)
				outcome = string(r)
			}
			mu.Lock()
			if resigned[kind] == nil {
				resigned[kind] = map[string]int{}
			}
			resigned[kind][outcome]++
			// What an accepted message must be: the padded inner with the
			// same bit flipped, re-parsed.
			if err == nil && !tkIsBitFlipOf(in, out, idx, b) {
				resignedBad++
			}
			if err != nil && (out != nil || !errors.Is(err, pairec.ErrCannotOpen)) {
				resignedBad++
			}
			mu.Unlock()
		}
	})
	if baseOK != tkE3Envelopes || baseFail != 0 {
		t.Errorf("base envelopes: %d open, %d do not; want all %d to open", baseOK, baseFail, tkE3Envelopes)
	}
	all.check(t, "E3 pair-ec")
	if resignedBad != 0 {
		t.Errorf("E3 pair-ec resigned: %d outcomes are neither a clean refusal nor the predicted one-bit change", resignedBad)
	}
	t.Logf("E3 pair-ec: envelopes=%d faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		baseOK, all.attempts, all.accepted, len(all.external), all.released, all.reasons)
	total, acc := 0, 0
	for _, m := range resigned {
		for o, c := range m {
			total += c
			if o == "accepted" {
				acc += c
			}
		}
	}
	t.Logf("E3 pair-ec resigned (alice's device key + S from bob's prekey, i.e. full compromise; no MAC besides the signature): faults=%d accepted=%d (%.1f%%, each exactly the one-bit CTR change) by_position=%v",
		total, acc, 100*float64(acc)/float64(max(total, 1)), resigned)
	t.Logf("E3 pair-ec fault kinds: %v", all.kinds)
}

// tkIsBitFlipOf reports whether got is what opening the padded InnerMessage
// of want with bit b of byte idx flipped yields: the one-bit change lands in
// the message, the counter, or the random padding (where it changes
// nothing).
func tkIsBitFlipOf(want, got *pairec.Inner, idx int, b uint) bool {
	// marshal want as Seal does: 0a len message, 10 counter (no gossip/debug).
	var enc []byte
	if len(want.Message) > 0 {
		enc = protowire.AppendTag(enc, 1, protowire.BytesType)
		enc = protowire.AppendBytes(enc, want.Message)
	}
	if want.Counter != 0 {
		enc = protowire.AppendTag(enc, 2, protowire.VarintType)
		enc = protowire.AppendVarint(enc, uint64(want.Counter))
	}
	if idx >= len(enc) {
		return bytes.Equal(got.Message, want.Message) && got.Counter == want.Counter // padding
	}
	enc[idx] ^= 1 << b
	var genc []byte
	if len(got.Message) > 0 {
		genc = protowire.AppendTag(genc, 1, protowire.BytesType)
		genc = protowire.AppendBytes(genc, got.Message)
	}
	if got.Counter != 0 {
		genc = protowire.AppendTag(genc, 2, protowire.VarintType)
		genc = protowire.AppendVarint(genc, uint64(got.Counter))
	}
	return bytes.Equal(enc, genc) && got.KTGossip == nil && got.DebugInfo == nil
}

// TestTkTamperPairECNegativeControl shows the harness can see an acceptance:
// re-signing the unchanged payload with alice's key and the true S gives a
// valid message, and the tally must count it.
func TestTkTamperPairECNegativeControl(t *testing.T) {
	alice, bob, _ := tkParties(t)
	p, err := pairec.Seal(alice, tkRecipient(bob), &pairec.Inner{Message: []byte("control"), Counter: 1})
	if err != nil {
		t.Fatal(err)
	}
	fs := tkFields(t, p)
	q := tkResign(t, p, tkSecret(t, bob.PrekeyECDH(), fs[1].value), alice, bob)
	if bytes.Equal(q, p) {
		t.Fatal("re-signing did not change the signature")
	}
	tl := tkNewTally()
	f := tkFault{"resign_unchanged", q, nil}
	out, err := pairec.Open(bob, alice.DeviceKey(), q)
	tl.add(&f, out, err)
	if tl.accepted != 1 {
		t.Fatalf("control: accepted=%d, want 1 (%v)", tl.accepted, err)
	}
}

// TestTkKeySwapPairEC is E4 for pair-ec.
func TestTkKeySwapPairEC(t *testing.T) {
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
		badSig    = openerr.SignatureInvalid
		malformed = openerr.Malformed
	)
	tl := tkNewTally()
	var mu sync.Mutex
	var baseOK int
	tkParallel(t, tkE4Rounds, func(t tkT, i int) {
		rng := mrand.New(mrand.NewPCG(0xe4ec, uint64(i)))
		in := &pairec.Inner{Message: make([]byte, tkE3Size(i, rng)%4097), Counter: uint32(i + 1)}
		for j := range in.Message {
			in.Message[j] = byte(rng.Uint32())
		}
		p, err := pairec.Seal(alice, tkRecipient(bob), in)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := pairec.Open(bob, alice.DeviceKey(), p); err == nil && bytes.Equal(got.Message, in.Message) {
			mu.Lock()
			baseOK++
			mu.Unlock()
		}
		fs := tkFields(t, p)
		// Mallory, the server, does not know S. Her best guesses: the secret
		// she would share with the ephemeral key through her own prekey,
		// zeros, random bytes, or leaving S out of the signed data (which
		// only a receiver that does not bind S would accept).
		guess := [][]byte{tkSecret(t, mallory.PrekeyECDH(), fs[1].value), make([]byte, 32), make([]byte, 32), nil}
		rand.Read(guess[2])
		s := guess[i%len(guess)]
		mauled := tkFlip(p, fs[0].at+rng.IntN(len(fs[0].value)), uint(rng.IntN(8)))

		// Mallory swaps in her own ephemeral key: now she knows S and can
		// sign validly, but alice's ciphertext decrypts to noise.
		own, err := identity.GenerateCompactable()
		if err != nil {
			t.Fatal(err)
		}
		ownX, _ := identity.CompactKeyOf(&own.PublicKey)
		swapped := tkFields(t, p)
		swapped[1].value = ownX[:]
		ownECDH, _ := own.ECDH()
		ownS, err := ownECDH.ECDH(bob.PrekeyECDH().PublicKey())
		if err != nil {
			t.Fatal(err)
		}

		type attempt struct {
			f  tkFault
			me *identity.Keys
			as identity.CompactKey
		}
		atts := []attempt{
			// (a) unchanged, re-signed by mallory without S, claimed as hers.
			{tkFault{"mallory_resigned_unchanged", tkResign(t, p, s, mallory, bob), []openerr.Reason{badSig}}, bob, mallory.DeviceKey()},
			// (b) mauled, re-signed by mallory without S.
			{tkFault{"mallory_resigned_mauled", tkResign(t, mauled, s, mallory, bob), []openerr.Reason{badSig}}, bob, mallory.DeviceKey()},
			// mallory's own ephemeral key: a valid signature, noise inside.
			{tkFault{"mallory_own_ephemeral", tkResign(t, tkEncode(swapped...), ownS, mallory, bob), []openerr.Reason{malformed}}, bob, mallory.DeviceKey()},
			// mallory's signature presented as alice's.
			{tkFault{"mallory_resigned_as_alice", tkResign(t, p, s, mallory, bob), []openerr.Reason{badSig}}, bob, alice.DeviceKey()},
			// alice's untouched envelope delivered to another device.
			{tkFault{"to_bob_other_device", p, []openerr.Reason{badSig}}, bob2, alice.DeviceKey()},
			{tkFault{"to_carol", p, []openerr.Reason{badSig}}, carol, alice.DeviceKey()},
			{tkFault{"to_mallory", p, []openerr.Reason{badSig}}, mallory, alice.DeviceKey()},
		}
		for k := range atts {
			a := &atts[k]
			out, err := pairec.Open(a.me, a.as, a.f.payload)
			tl.add(&a.f, out, err)
		}
	})
	if baseOK != tkE4Rounds {
		t.Errorf("base envelopes: %d of %d open for bob", baseOK, tkE4Rounds)
	}
	tl.check(t, "E4 pair-ec")
	if tl.attempts < 2000 {
		t.Errorf("E4 pair-ec: only %d attempts", tl.attempts)
	}
	t.Logf("E4 pair-ec: attempts=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v kinds=%v",
		tl.attempts, tl.accepted, len(tl.external), tl.released, tl.reasons, tl.kinds)
}
