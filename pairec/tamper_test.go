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
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/p256"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/pairec"
)

// tkE3Envelopes is N, the number of base envelopes of the E3 corpus; each
// gets every fault.
const tkE3Envelopes = 1000

// tkE4Rounds fresh alice → bob envelopes, each attacked in 7 ways.
const tkE4Rounds = 300

// tkInnerBytes is how many message bytes in holds: what a refused Open
// must not release.
func tkInnerBytes(in *pairec.Inner) int {
	if in == nil {
		return 0
	}
	return len(in.Message) + len(in.KTGossip) + len(in.DebugInfo)
}

// tkField is one OuterMessage field as it sits in the payload.
type tkField struct {
	num              protowire.Number
	tagAt, lenAt, at int // offsets of the tag, the length and the value
	value            []byte
}

// tkFields splits an OuterMessage with protowire (not with pbwire).
func tkFields(t testkit.T, b []byte) []tkField {
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

// tkSecret is S for the payload's ephemeral key and the receiver's prekey
// (the receiver's private prekey: only a full key compromise gives it).
func tkSecret(t testkit.T, prekey *ecdh.PrivateKey, ephX []byte) []byte {
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
func tkResign(t testkit.T, p []byte, secret []byte, signer *identity.Keys, to *identity.Keys) []byte {
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
func tkECFaults(t testkit.T, rng *mrand.Rand, p []byte) []testkit.Fault {
	const (
		malformed = openerr.Malformed
		badSig    = openerr.SignatureInvalid
		unwrap    = openerr.UnwrapFailed
		validator = openerr.ValidatorMismatch
	)
	fs := tkFields(t, p)
	ct, eph, sig, val := fs[0], fs[1], fs[2], fs[3]
	bit := func() uint { return uint(rng.IntN(8)) }
	var out []testkit.Fault
	add := func(kind string, q []byte, allowed ...openerr.Reason) {
		out = append(out, testkit.Fault{Kind: kind, Payload: q, Allowed: allowed})
	}
	// The CTR body: first, middle, last byte. S is signed, so the signature
	// catches it.
	for i, off := range []int{ct.at, ct.at + len(ct.value)/2, ct.at + len(ct.value) - 1} {
		add([]string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[i], testkit.Flip(p, off, bit()), badSig)
	}
	// The ephemeral key: not a point (ECDH fails) or another S.
	add("ephemeral", testkit.Flip(p, eph.at+rng.IntN(32), bit()), unwrap, badSig)
	// The signature's r (bytes 0–31) and s (32–63).
	add("sig_r", testkit.Flip(p, sig.at+rng.IntN(32), bit()), badSig)
	add("sig_s", testkit.Flip(p, sig.at+32+rng.IntN(32), bit()), badSig)
	// Every validator byte.
	for k := range 7 {
		add("validator", testkit.Flip(p, val.at+k, bit()), validator)
	}
	// Every bit of every tag and length byte.
	for _, f := range fs {
		for off := f.tagAt; off < f.at; off++ {
			kind := "tag"
			if off >= f.lenAt {
				kind = "length"
			}
			for b := range uint(8) {
				add(fmt.Sprintf("%s_%d", kind, f.num), testkit.Flip(p, off, b), malformed)
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

func TestTkTamperPairEC(t *testing.T) {
	alice, bob, _ := testkit.Parties(t)
	all := testkit.NewTally(pairec.ErrCannotOpen)
	var mu sync.Mutex
	var baseOK, baseFail int
	// Re-signed with alice's real device key and the true S.
	resigned := map[string]map[string]int{}
	resignedBad := 0
	testkit.Parallel(t, tkE3Envelopes, func(t testkit.T, i int) {
		rng := mrand.New(mrand.NewPCG(0xe3ec, uint64(i)))
		in := &pairec.Inner{Message: make([]byte, testkit.E3Size(i, rng, tkKATSizes)), Counter: uint32(i)}
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
			out, err := pairec.Open(bob, alice.DeviceKey(), f.Payload)
			all.Add(f, out != nil, tkInnerBytes(out), err)
		}

		// Re-signed: flip a bit of the ciphertext, re-sign with S.
		fs := tkFields(t, p)
		secret := tkSecret(t, bob.PrekeyECDH(), fs[1].value)
		for k, idx := range []int{0, len(fs[0].value) / 2, len(fs[0].value) - 1} {
			kind := []string{"ctr_body_first", "ctr_body_middle", "ctr_body_last"}[k]
			b := uint(rng.IntN(8))
			q := tkResign(t, testkit.Flip(p, fs[0].at+idx, b), secret, alice, bob)
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
	all.Check(t, "E3 pair-ec")
	if resignedBad != 0 {
		t.Errorf("E3 pair-ec resigned: %d outcomes are neither a clean refusal nor the predicted one-bit change", resignedBad)
	}
	t.Logf("E3 pair-ec: envelopes=%d faults=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v",
		baseOK, all.Attempts, all.Accepted, len(all.External), all.Released, all.Reasons)
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
	t.Logf("E3 pair-ec fault kinds: %v", all.Kinds)
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
	alice, bob, _ := testkit.Parties(t)
	p, err := pairec.Seal(alice, tkRecipient(bob), &pairec.Inner{Message: []byte("control"), Counter: 1})
	if err != nil {
		t.Fatal(err)
	}
	fs := tkFields(t, p)
	q := tkResign(t, p, tkSecret(t, bob.PrekeyECDH(), fs[1].value), alice, bob)
	if bytes.Equal(q, p) {
		t.Fatal("re-signing did not change the signature")
	}
	tl := testkit.NewTally(pairec.ErrCannotOpen)
	f := testkit.Fault{Kind: "resign_unchanged", Payload: q}
	out, err := pairec.Open(bob, alice.DeviceKey(), q)
	tl.Add(&f, out != nil, tkInnerBytes(out), err)
	if tl.Accepted != 1 {
		t.Fatalf("control: accepted=%d, want 1 (%v)", tl.Accepted, err)
	}
}

// TestTkKeySwapPairEC is E4 for pair-ec.
func TestTkKeySwapPairEC(t *testing.T) {
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
		badSig    = openerr.SignatureInvalid
		malformed = openerr.Malformed
	)
	tl := testkit.NewTally(pairec.ErrCannotOpen)
	var mu sync.Mutex
	var baseOK int
	testkit.Parallel(t, tkE4Rounds, func(t testkit.T, i int) {
		rng := mrand.New(mrand.NewPCG(0xe4ec, uint64(i)))
		in := &pairec.Inner{Message: make([]byte, testkit.E3Size(i, rng, tkKATSizes)%4097), Counter: uint32(i + 1)}
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
		mauled := testkit.Flip(p, fs[0].at+rng.IntN(len(fs[0].value)), uint(rng.IntN(8)))

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
			f  testkit.Fault
			me *identity.Keys
			as identity.CompactKey
		}
		atts := []attempt{
			// (a) unchanged, re-signed by mallory without S, claimed as hers.
			{testkit.Fault{Kind: "mallory_resigned_unchanged", Payload: tkResign(t, p, s, mallory, bob), Allowed: []openerr.Reason{badSig}}, bob, mallory.DeviceKey()},
			// (b) mauled, re-signed by mallory without S.
			{testkit.Fault{Kind: "mallory_resigned_mauled", Payload: tkResign(t, mauled, s, mallory, bob), Allowed: []openerr.Reason{badSig}}, bob, mallory.DeviceKey()},
			// mallory's own ephemeral key: a valid signature, noise inside.
			{testkit.Fault{Kind: "mallory_own_ephemeral", Payload: tkResign(t, tkEncode(swapped...), ownS, mallory, bob), Allowed: []openerr.Reason{malformed}}, bob, mallory.DeviceKey()},
			// mallory's signature presented as alice's.
			{testkit.Fault{Kind: "mallory_resigned_as_alice", Payload: tkResign(t, p, s, mallory, bob), Allowed: []openerr.Reason{badSig}}, bob, alice.DeviceKey()},
			// alice's untouched envelope delivered to another device.
			{testkit.Fault{Kind: "to_bob_other_device", Payload: p, Allowed: []openerr.Reason{badSig}}, bob2, alice.DeviceKey()},
			{testkit.Fault{Kind: "to_carol", Payload: p, Allowed: []openerr.Reason{badSig}}, carol, alice.DeviceKey()},
			{testkit.Fault{Kind: "to_mallory", Payload: p, Allowed: []openerr.Reason{badSig}}, mallory, alice.DeviceKey()},
		}
		for k := range atts {
			a := &atts[k]
			out, err := pairec.Open(a.me, a.as, a.f.Payload)
			tl.Add(&a.f, out != nil, tkInnerBytes(out), err)
		}
	})
	if baseOK != tkE4Rounds {
		t.Errorf("base envelopes: %d of %d open for bob", baseOK, tkE4Rounds)
	}
	tl.Check(t, "E4 pair-ec")
	if tl.Attempts < 2000 {
		t.Errorf("E4 pair-ec: only %d attempts", tl.Attempts)
	}
	t.Logf("E4 pair-ec: attempts=%d accepted=%d external_errors=%d released_bytes=%d reasons=%v kinds=%v",
		tl.Attempts, tl.Accepted, len(tl.External), tl.Released, tl.Reasons, tl.Kinds)
}
