package pair

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
)

// fzPositives returns the payloads of the pair vectors from alice to bob
// that must open, with their plaintexts, after checking that they do.
func fzPositives(tb testing.TB, bob *identity.Keys, alice *identity.Public) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, v := range testkit.VectorFile(tb, "pair_from_pypush.json").Vectors {
		payload, plaintext := []byte(v.Payload), []byte(v.Plaintext)
		got, err := Open(bob, alice, payload)
		if v.Expect == "ok" && v.Sender == "alice" && v.Receiver == "bob" {
			if err != nil || !bytes.Equal(got, plaintext) {
				tb.Fatalf("%s: does not open (%v): the fuzz property would be vacuous", v.Name, err)
			}
			out[string(payload)] = plaintext
		} else if err == nil {
			tb.Fatalf("%s: expected %s, but opens as alice → bob", v.Name, v.Expect)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no positive vectors")
	}
	return out
}

// fzAllocLimit bounds what one call may allocate: a fixed allowance for the
// RSA and ECDSA arithmetic (and the runtime counting small allocations a
// span at a time), plus a multiple of the input.
func fzAllocLimit(n int) uint64 { return 1<<20 + 16*uint64(n) }

// FuzzParse checks the framing invariants of every accepted payload, and
// that acceptance matches the spec's rule computed here.
// Seeds: testdata/fuzz/FuzzParse (all pair vectors and near misses).
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var p parsed
		var ok bool
		if n := testkit.Allocated(func() { p, ok = parse(b) }); n > fzAllocLimit(len(b)) {
			t.Fatalf("parse allocated %d bytes for %d", n, len(b))
		}
		// 02 ‖ n u16 ‖ body (n ≥ 160) ‖ s u8 ‖ sig (1 ≤ s ≤ 72), nothing after.
		want := false
		if len(b) >= 3 && b[0] == 0x02 {
			n := int(binary.BigEndian.Uint16(b[1:3]))
			if n >= 160 && len(b) > 3+n {
				s := int(b[3+n])
				want = s >= 1 && s <= 72 && len(b) == 3+n+1+s
			}
		}
		if ok != want {
			t.Fatalf("%x: parse ok = %v, spec says %v", b, ok, want)
		}
		if !ok {
			return
		}
		n, s := len(p.body), len(p.sig)
		if n < 160 || n > 0xFFFF || s < 1 || s > 72 || len(b) != 3+n+1+s {
			t.Fatalf("lengths: body %d, sig %d, payload %d", n, s, len(b))
		}
		if int(binary.BigEndian.Uint16(b[1:3])) != n || int(b[3+n]) != s {
			t.Fatal("lengths differ from the header")
		}
		if &p.body[0] != &b[3] || &p.sig[0] != &b[4+n] {
			t.Fatal("body or signature is not where the framing puts it")
		}
		re := binary.BigEndian.AppendUint16([]byte{0x02}, uint16(n))
		re = append(append(append(re, p.body...), byte(s)), p.sig...)
		if !bytes.Equal(re, b) {
			t.Fatal("re-framing gives other bytes")
		}
	})
}

// FuzzOpen opens arbitrary bytes as bob, from alice. It must never panic,
// return only the one opaque error, and succeed only on the positive vectors.
// Seeds: testdata/fuzz/FuzzOpen (all pair vectors, positive and negative).
func FuzzOpen(f *testing.F) {
	keys := testkit.VectorKeys(f)
	bob, alice := keys["bob"].Keys, keys["alice"].Keys.Public()
	positives := fzPositives(f, bob, alice)
	f.Fuzz(func(t *testing.T, b []byte) {
		var plaintext []byte
		var err error
		if n := testkit.Allocated(func() { plaintext, err = Open(bob, alice, b) }); n > fzAllocLimit(len(b)) {
			t.Fatalf("Open allocated %d bytes for %d", n, len(b))
		}
		want, isVector := positives[string(b)]
		if err != nil {
			if plaintext != nil {
				t.Fatal("error with a plaintext")
			}
			testkit.RequireOpaque(t, err, ErrCannotOpen)
			if isVector {
				t.Fatalf("a positive vector failed: %v", err)
			}
			return
		}
		if !isVector {
			t.Fatalf("opened a payload that is not a vector: %x", b)
		}
		if !bytes.Equal(plaintext, want) {
			t.Fatal("vector opened to another plaintext")
		}
	})
}
