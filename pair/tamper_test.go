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
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/pair"
)

// tkE3Envelopes is N, the number of base envelopes of the E3 corpus. Each
// gets every non-re-signed fault and every re-signed fault that applies to
// its size (a plaintext of at most 100 bytes has no ciphertext outside the
// RSA block).
const tkE3Envelopes = 1000

// tkE4Rounds fresh alice → bob envelopes, each attacked in 6 ways.
const tkE4Rounds = 350

// tkPairLayout is where the fields of a pair payload are.
type tkPairLayout struct {
	n          int // body length
	rStart, rN int // r content, absolute offsets
	sStart, sN int
	sigStart   int
}

func tkPairParse(t testkit.T, p []byte) tkPairLayout {
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

// tkResignPair replaces the signature with one by key over the body.
func tkResignPair(t testkit.T, p []byte, key *ecdsa.PrivateKey) []byte {
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
func tkPairFaults(t testkit.T, rng *mrand.Rand, p []byte, signer *ecdsa.PrivateKey) (faults, resigned []testkit.Fault) {
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
		faults = append(faults, testkit.Fault{Kind: kind, Payload: q, Allowed: allowed})
	}
	addResigned := func(kind string, q []byte, allowed ...openerr.Reason) {
		add(kind, q, badSig)
		resigned = append(resigned, testkit.Fault{Kind: kind + "+resigned", Payload: tkResignPair(t, q, signer), Allowed: allowed})
	}

	// The CTR body outside the RSA block: first, middle and last byte.
	if tail := bodyEnd - tailStart; tail > 0 {
		for i, off := range []int{tailStart, tailStart + tail/2, bodyEnd - 1} {
			addResigned([]string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[i], testkit.Flip(p, off, bit()), tag)
		}
		// Reorder inside the body: tail first, RSA block last.
		q := bytes.Clone(p)
		copy(q[rsaStart:], p[tailStart:bodyEnd])
		copy(q[rsaStart+tail:], p[rsaStart:tailStart])
		addResigned("reorder_body_rsa_tail", q, unwrap)
	}
	// The wrapped key (RSA-OAEP block, which also holds C[:100]).
	for i, off := range []int{rsaStart, rsaStart + identity.RSAModulusSize/2, tailStart - 1} {
		addResigned([]string{"wrapped_key_first", "wrapped_key_middle", "wrapped_key_last"}[i], testkit.Flip(p, off, bit()), unwrap)
	}
	// The signature's r and s, and its DER header and length bytes.
	add("sig_r", testkit.Flip(p, l.rStart+rng.IntN(l.rN), bit()), badSig)
	add("sig_s", testkit.Flip(p, l.sStart+rng.IntN(l.sN), bit()), badSig)
	for _, off := range []int{l.sigStart, l.sigStart + 1, l.sigStart + 2, l.sigStart + 3, l.rStart + l.rN, l.rStart + l.rN + 1} {
		add("sig_der_header", testkit.Flip(p, off, bit()), badSig)
	}
	// Every bit of every framing field.
	for b := range uint(8) {
		add("version", testkit.Flip(p, 0, b), malformed)
		add("body_len_hi", testkit.Flip(p, 1, b), malformed, badSig)
		add("body_len_lo", testkit.Flip(p, 2, b), malformed, badSig)
		add("sig_len", testkit.Flip(p, bodyEnd, b), malformed)
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

func TestTkTamperPair(t *testing.T) {
	alice, bob, _ := testkit.Parties(t)
	all, resigned := testkit.NewTally(pair.ErrCannotOpen), testkit.NewTally(pair.ErrCannotOpen)
	var mu sync.Mutex
	var baseOK, baseFail int
	testkit.Parallel(t, tkE3Envelopes, func(t testkit.T, i int) {
		rng := mrand.New(mrand.NewPCG(0xe3, uint64(i)))
		pt := make([]byte, testkit.E3Size(i, rng, tkKATSizes))
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
			tl     *testkit.Tally
			faults []testkit.Fault
		}{{all, faults}, {resigned, rs}} {
			for k := range set.faults {
				f := &set.faults[k]
				out, err := pair.Open(bob, alice.Public(), f.Payload)
				set.tl.Add(f, out != nil, len(out), err)
			}
		}
	})
	if baseOK != tkE3Envelopes || baseFail != 0 {
		t.Errorf("base envelopes: %d open, %d do not; want all %d to open", baseOK, baseFail, tkE3Envelopes)
	}
	all.Check(t, "E3 pair")
	resigned.Check(t, "E3 pair resigned")
	t.Logf("E3 pair: envelopes=%d faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		baseOK, all.Attempts, all.Accepted, len(all.External), all.Released, all.Reasons)
	t.Logf("E3 pair resigned (alice's real key re-signs after the fault): faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		resigned.Attempts, resigned.Accepted, len(resigned.External), resigned.Released, resigned.Reasons)
	t.Logf("E3 pair fault kinds: %v %v", all.Kinds, resigned.Kinds)
}

// TestTkTamperPairNegativeControl shows the E3 harness can see an
// acceptance: a payload whose only change is a fresh signature by the real
// sender over the unchanged body is valid, and the tally must count it.
func TestTkTamperPairNegativeControl(t *testing.T) {
	alice, bob, _ := testkit.Parties(t)
	p, err := pair.Seal(alice, bob.Public(), []byte("control"))
	if err != nil {
		t.Fatal(err)
	}
	tl := testkit.NewTally(pair.ErrCannotOpen)
	f := testkit.Fault{Kind: "resign_unchanged", Payload: tkResignPair(t, p, alice.SigningKey())}
	out, err := pair.Open(bob, alice.Public(), f.Payload)
	tl.Add(&f, out != nil, len(out), err)
	if tl.Accepted != 1 {
		t.Fatalf("control: accepted=%d, want 1 (%v)", tl.Accepted, err)
	}
}

// TestTkKeySwapPair is E4 for pair.
func TestTkKeySwapPair(t *testing.T) {
	alice, bob, mallory := testkit.Parties(t)
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
	tl := testkit.NewTally(pair.ErrCannotOpen)
	var mu sync.Mutex
	var baseOK int
	testkit.Parallel(t, tkE4Rounds, func(t testkit.T, i int) {
		rng := mrand.New(mrand.NewPCG(0xe4, uint64(i)))
		pt := make([]byte, testkit.E3Size(i, rng, tkKATSizes)%4097)
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
		mauled := testkit.Flip(p, off, uint(rng.IntN(8)))
		mauledWant := tag
		if off < 3+identity.RSAModulusSize {
			mauledWant = unwrap
		}
		type attempt struct {
			f  testkit.Fault
			me *identity.Keys
			as *identity.Public
		}
		atts := []attempt{
			// (a) mallory re-signs the unchanged envelope and claims it.
			{testkit.Fault{Kind: "mallory_resigned_unchanged", Payload: tkResignPair(t, p, mallory.SigningKey()), Allowed: []openerr.Reason{tag}}, bob, mallory.Public()},
			// (b) the same after mauling one bit of the body.
			{testkit.Fault{Kind: "mallory_resigned_mauled", Payload: tkResignPair(t, mauled, mallory.SigningKey()), Allowed: []openerr.Reason{mauledWant}}, bob, mallory.Public()},
			// mallory's signature presented as alice's.
			{testkit.Fault{Kind: "mallory_resigned_as_alice", Payload: tkResignPair(t, p, mallory.SigningKey()), Allowed: []openerr.Reason{badSig}}, bob, alice.Public()},
			// alice's untouched envelope delivered to another device.
			{testkit.Fault{Kind: "to_bob_other_device", Payload: p, Allowed: []openerr.Reason{unwrap}}, bob2, alice.Public()},
			{testkit.Fault{Kind: "to_carol", Payload: p, Allowed: []openerr.Reason{unwrap}}, carol, alice.Public()},
			// bob's other device with mallory re-signing as herself.
			{testkit.Fault{Kind: "to_bob_other_device_mallory_resigned", Payload: tkResignPair(t, p, mallory.SigningKey()), Allowed: []openerr.Reason{unwrap}}, bob2, mallory.Public()},
		}
		for k := range atts {
			a := &atts[k]
			out, err := pair.Open(a.me, a.as, a.f.Payload)
			tl.Add(&a.f, out != nil, len(out), err)
		}
	})
	if baseOK != tkE4Rounds {
		t.Errorf("base envelopes: %d of %d open for bob", baseOK, tkE4Rounds)
	}
	tl.Check(t, "E4 pair")
	if tl.Attempts < 2000 {
		t.Errorf("E4 pair: only %d attempts", tl.Attempts)
	}
	t.Logf("E4 pair: attempts=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v kinds=%v",
		tl.Attempts, tl.Accepted, len(tl.External), tl.Released, tl.Reasons, tl.Kinds)
}
