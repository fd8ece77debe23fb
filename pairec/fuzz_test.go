package pairec

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/pbwire"
	"github.com/sealpost/sealpost/internal/testkit"
)

type fzPositive struct {
	message []byte
	counter *uint32
}

// fzPositives returns the pair-ec vectors from alice to bob that must open,
// after checking that they do.
func fzPositives(tb testing.TB, bob *identity.Keys, alice identity.CompactKey) map[string]fzPositive {
	tb.Helper()
	out := map[string]fzPositive{}
	for _, v := range testkit.VectorFile(tb, "pairec_from_spec_python.json").Vectors {
		payload, plaintext := []byte(v.Payload), []byte(v.Plaintext)
		in, err := Open(bob, alice, payload)
		if v.Expect == "ok" && v.Sender == "alice" && v.Receiver == "bob" {
			if err != nil || !bytes.Equal(in.Message, plaintext) || (v.Counter != nil && in.Counter != *v.Counter) {
				tb.Fatalf("%s: does not open (%v): the fuzz property would be vacuous", v.Name, err)
			}
			out[string(payload)] = fzPositive{plaintext, v.Counter}
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
// ECDH and ECDSA arithmetic (and the runtime counting small allocations a
// span at a time), plus a multiple of the input.
func fzAllocLimit(n int) uint64 { return 1<<20 + 16*uint64(n) }

// fzLenientInner reads an InnerMessage in any order, repeats allowed (last
// wins), refusing only unknown fields, wrong wire types and counters over 32
// bits. Input is canonical exactly when this reading marshals back to it.
func fzLenientInner(b []byte) (*Inner, bool) {
	in := new(Inner)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && (num == innerMessage || num == innerKTGossip || num == innerDebugInfo):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, false
			}
			b = b[n:]
			switch num {
			case innerMessage:
				in.Message = v
			case innerKTGossip:
				in.KTGossip = v
			case innerDebugInfo:
				in.DebugInfo = v
			}
		case typ == protowire.VarintType && num == innerCounter:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 || v > math.MaxUint32 {
				return nil, false
			}
			b = b[n:]
			in.Counter = uint32(v)
		default:
			return nil, false
		}
	}
	return in, true
}

func fzEqualInner(a, b *Inner) bool {
	return bytes.Equal(a.Message, b.Message) && a.Counter == b.Counter &&
		bytes.Equal(a.KTGossip, b.KTGossip) && bytes.Equal(a.DebugInfo, b.DebugInfo)
}

// FuzzParseOuter checks that an accepted OuterMessage has the field sizes
// of §1.2 and re-encodes, field by field in order, to the same bytes.
// Seeds: testdata/fuzz/FuzzParseOuter (all pair-ec vector payloads).
func FuzzParseOuter(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var o outer
		var ok bool
		if n := testkit.Allocated(func() { o, ok = parseOuter(b) }); n > fzAllocLimit(len(b)) {
			t.Fatalf("parseOuter allocated %d bytes for %d", n, len(b))
		}
		if !ok {
			return
		}
		if len(o.ciphertext) < padLenSize || len(o.ephemeral) != 32 || len(o.signature) != 64 || len(o.validator) != 7 {
			t.Fatalf("field sizes %d, %d, %d, %d", len(o.ciphertext), len(o.ephemeral), len(o.signature), len(o.validator))
		}
		var re []byte
		re = pbwire.AppendBytes(re, 1, o.ciphertext)
		re = pbwire.AppendBytes(re, 2, o.ephemeral)
		re = pbwire.AppendBytes(re, 3, o.signature)
		re = pbwire.AppendBytes(re, 99, o.validator)
		if !bytes.Equal(re, b) {
			t.Fatalf("parse → encode changed the bytes:\n in %x\nout %x", b, re)
		}
	})
}

// FuzzUnpadAndParse checks that an accepted padded plaintext is exactly
// Inner.marshal of the result followed by the canonical padding: (−len) mod
// 16 bytes and their count as LE32. The random padding bytes themselves
// are free. Acceptance must match an independent reading.
// Seeds: testdata/fuzz/FuzzUnpadAndParse (the vectors' padded inner
// messages, and short inputs).
func FuzzUnpadAndParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var in *Inner
		var ok bool
		if n := testkit.Allocated(func() { in, ok = unpadAndParse(b) }); n > fzAllocLimit(len(b)) {
			t.Fatalf("unpadAndParse allocated %d bytes for %d", n, len(b))
		}
		// The rule, computed here: the last 4 bytes give p < 16, the part
		// before them is a multiple of 16 and at least p long, and what
		// precedes the p padding bytes is a canonical InnerMessage.
		want := false
		if len(b) >= 4 {
			n := len(b) - 4
			p := binary.LittleEndian.Uint32(b[n:])
			if p < 16 && int(p) <= n && n%16 == 0 {
				lenient, lok := fzLenientInner(b[:n-int(p)])
				want = lok && bytes.Equal(lenient.marshal(), b[:n-int(p)])
			}
		}
		if ok != want {
			t.Fatalf("%x: unpadAndParse ok = %v, rule says %v", b, ok, want)
		}
		if !ok {
			return
		}
		m := in.marshal()
		pad := (16 - len(m)%16) % 16
		if len(b) != len(m)+pad+4 {
			t.Fatalf("%d bytes, but marshal is %d and padding %d", len(b), len(m), pad)
		}
		if !bytes.Equal(b[:len(m)], m) {
			t.Fatalf("marshal of the result is not the unpadded input:\n in %x\nout %x", b[:len(m)], m)
		}
		if got := binary.LittleEndian.Uint32(b[len(b)-4:]); got != uint32(pad) {
			t.Fatalf("padding length %d, canonical %d", got, pad)
		}
		if lenient, _ := fzLenientInner(m); !fzEqualInner(lenient, in) {
			t.Fatal("result differs from the independent reading")
		}
	})
}

// FuzzOpen opens arbitrary bytes as bob, from alice's device key. It must
// never panic, return only the one opaque error, and succeed only on the
// positive vectors.
// Seeds: testdata/fuzz/FuzzOpen (all pair-ec vector payloads).
func FuzzOpen(f *testing.F) {
	keys := testkit.VectorKeys(f)
	bob, alice := keys["bob"].Keys, keys["alice"].Keys.DeviceKey()
	positives := fzPositives(f, bob, alice)
	f.Fuzz(func(t *testing.T, b []byte) {
		var in *Inner
		var err error
		if n := testkit.Allocated(func() { in, err = Open(bob, alice, b) }); n > fzAllocLimit(len(b)) {
			t.Fatalf("Open allocated %d bytes for %d", n, len(b))
		}
		want, isVector := positives[string(b)]
		if err != nil {
			if in != nil {
				t.Fatal("error with a message")
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
		if !bytes.Equal(in.Message, want.message) || (want.counter != nil && in.Counter != *want.counter) {
			t.Fatal("vector opened to another message")
		}
	})
}
