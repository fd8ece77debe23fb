package identity_test

import (
	"bytes"
	"crypto/elliptic"
	"encoding/hex"
	"math"
	"math/big"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
)

// Seeds live in testdata/fuzz/FuzzXxx/ (the vector encodings and a few
// near misses); the targets add nothing in code, so the corpus files are the
// one list of seeds.

// fzAllocSlack is what a call may allocate beyond fzAllocPerByte per input
// byte. Small allocations are counted by the runtime a span at a time, so
// the measurement can include up to a few spans allocated before the call;
// what matters is that no allocation follows a length read from the input.
const (
	fzAllocSlack   = 1 << 20
	fzAllocPerByte = 64
)

func fzCheckAlloc(t *testing.T, in []byte, fn func()) {
	t.Helper()
	if n, limit := testkit.Allocated(fn), uint64(fzAllocSlack+fzAllocPerByte*len(in)); n > limit {
		t.Fatalf("allocated %d bytes for a %d-byte input (limit %d)", n, len(in), limit)
	}
}

func FuzzParsePublic(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var p *identity.Public
		var err error
		fzCheckAlloc(t, b, func() { p, err = identity.ParsePublic(b) })
		if err != nil {
			if p != nil {
				t.Fatal("error with a non-nil identity")
			}
			return
		}
		if len(b) != 249 {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("parse → Bytes changed the blob:\n in %x\nout %x", b, p.Bytes())
		}
		if p.Hash() != fzSpecHash(b) {
			t.Fatal("Hash is not SHA-256(b[5:72] ‖ b[75:249])")
		}
		// The keys it names rebuild the same blob, and they are the keys
		// the blob spells out.
		q, err := identity.NewPublic(p.SigningKey(), p.EncryptionKey())
		if err != nil {
			t.Fatalf("NewPublic refuses the parsed keys: %v", err)
		}
		if !q.Equal(p) || !bytes.Equal(q.Bytes(), b) {
			t.Fatal("NewPublic of the parsed keys gives another blob")
		}
		want, _, _ := fzExpectedBlob(t, p.SigningKey(), p.EncryptionKey())
		if !bytes.Equal(want, b) {
			t.Fatal("blob differs from the encoding/asn1 construction of its keys")
		}
		if !fzOnCurve(p.SigningKey().X, p.SigningKey().Y) {
			t.Fatal("accepted a signing point off the curve")
		}
		if n := p.EncryptionKey().N; n.BitLen() != 1280 || n.Bit(0) != 1 || p.EncryptionKey().E != 65537 {
			t.Fatal("accepted an RSA key that is not odd 1280-bit with e = 65537")
		}
	})
}

func FuzzParseSignedPrekey(f *testing.F) {
	js := fzKeysJSON(f)
	bobDevice, err := identity.ParseCompactKey(testkit.Unhex(f, js["bob"].DeviceCompact))
	if err != nil {
		f.Fatal(err)
	}
	vec, err := identity.ParseSignedPrekey(fzPrekeyVector(f).Record)
	if err != nil {
		f.Fatal(err)
	}
	if vec.Verify(bobDevice) != nil {
		f.Fatal("the prekey vector does not verify: the forgery check below would be vacuous")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sp *identity.SignedPrekey
		var err error
		fzCheckAlloc(t, b, func() { sp, err = identity.ParseSignedPrekey(b) })
		if err != nil {
			if sp != nil {
				t.Fatal("error with a non-nil record")
			}
			return
		}
		if !bytes.Equal(sp.Marshal(), b) {
			t.Fatalf("parse → marshal changed the record:\n in %x\nout %x", b, sp.Marshal())
		}
		if want := fzPrekeyRecord(sp.Prekey[:], sp.Signature[:], sp.Timestamp); !bytes.Equal(want, b) {
			t.Fatal("accepted a record that is not 0a20 ‖ x ‖ 1240 ‖ sig ‖ 19 ‖ ts")
		}
		if math.IsNaN(sp.Timestamp) || math.IsInf(sp.Timestamp, 0) {
			t.Fatalf("accepted timestamp %v", sp.Timestamp)
		}
		if !fzHasPoint(new(big.Int).SetBytes(sp.Prekey[:])) || new(big.Int).SetBytes(sp.Prekey[:]).Cmp(elliptic.P256().Params().P) >= 0 {
			t.Fatal("accepted a prekey that is not a P-256 x-coordinate")
		}
		// ECDSA signatures are malleable (r, n − s), so a second valid
		// record may exist; but none may sign anything other than what bob
		// signed.
		if sp.Verify(bobDevice) == nil && (sp.Prekey != vec.Prekey || sp.Timestamp != vec.Timestamp) {
			t.Fatalf("forged: %x verifies under bob's device key", b)
		}
	})
}

func FuzzParseCompactKey(f *testing.F) {
	p := elliptic.P256().Params().P
	f.Fuzz(func(t *testing.T, b []byte) {
		var k identity.CompactKey
		var err error
		fzCheckAlloc(t, b, func() { k, err = identity.ParseCompactKey(b) })
		if len(b) != 32 {
			if err == nil {
				t.Fatalf("accepted %d bytes", len(b))
			}
			return
		}
		x := new(big.Int).SetBytes(b)
		want := x.Cmp(p) < 0 && fzHasPoint(x)
		if (err == nil) != want {
			t.Fatalf("x %x: is an x-coordinate: %v; ParseCompactKey error: %v", b, want, err)
		}
		if err != nil {
			if k != (identity.CompactKey{}) {
				t.Fatal("error with a non-zero key")
			}
			return
		}
		if !bytes.Equal(k[:], b) {
			t.Fatal("key differs from its bytes")
		}
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatalf("PublicKey: %v", err)
		}
		if pub.X.Cmp(x) != 0 || !fzOnCurve(pub.X, pub.Y) || !fzCompactable(pub) {
			t.Fatal("PublicKey is not (x, smaller root)")
		}
		back, err := identity.CompactKeyOf(pub)
		if err != nil || back != k {
			t.Fatalf("CompactKeyOf(PublicKey()) = %x, %v", back[:], err)
		}
		e, err := k.ECDH()
		if err != nil {
			t.Fatalf("ECDH: %v", err)
		}
		if !bytes.Equal(e.Bytes()[1:33], b) {
			t.Fatal("ECDH key has another x")
		}
		if k.String() != "p256-compact:"+hex.EncodeToString(b) {
			t.Fatalf("String %q", k.String())
		}
	})
}

// FuzzParseKeys only checks that ParseKeys never panics, and that what it
// accepts it can write and read back.
func FuzzParseKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := identity.ParseKeys(b)
		if err != nil {
			if k != nil {
				t.Fatal("error with non-nil keys")
			}
			return
		}
		k2, err := identity.ParseKeys(k.Marshal())
		if err != nil {
			t.Fatalf("Marshal of accepted keys does not parse: %v", err)
		}
		if !k2.Public().Equal(k.Public()) || k2.DeviceKey() != k.DeviceKey() ||
			!bytes.Equal(k2.SignedPrekey().Marshal(), k.SignedPrekey().Marshal()) {
			t.Fatal("keys changed through Marshal")
		}
	})
}
