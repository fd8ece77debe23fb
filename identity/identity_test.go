package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/internal/vectors"
)

// Every expectation below is computed independently of the package under
// test: the blob layout from protocol.md §2.1 and encoding/asn1, the hash
// from crypto/sha256 over the spec's offsets, curve membership from the
// curve equation with math/big, and signatures with crypto/ecdsa.

// fzKeysJSON reads keys.json as written (JSON only; no key goes through
// this package), as the expectation the keys built by vectors.LoadKeys are
// compared with.
func fzKeysJSON(t testing.TB) map[string]vectors.KeyEntry {
	t.Helper()
	m := testkit.KeyEntries(t)
	for _, name := range []string{"alice", "bob", "mallory"} {
		if _, ok := m[name]; !ok {
			t.Fatalf("keys.json has no %q", name)
		}
	}
	return m
}

func fzPrekeyVector(t testing.TB) vectors.Prekey {
	t.Helper()
	f := testkit.VectorFile(t, "pairec_from_spec_python.json")
	if len(f.Prekeys) == 0 {
		t.Fatal("no prekey_vectors")
	}
	return f.Prekeys[0]
}

// fzGenerate caches one generated device per test binary run: RSA key
// generation is the slow part of these tests.
var fzGenerated *identity.Keys

func fzGenerate(t testing.TB) *identity.Keys {
	t.Helper()
	if fzGenerated == nil {
		k, err := identity.Generate()
		if err != nil {
			t.Fatal(err)
		}
		fzGenerated = k
	}
	return fzGenerated
}

// fzBlob is the §2.1 ASN.1 structure, for encoding/asn1.
type fzBlob struct {
	Sig []byte `asn1:"tag:1"`
	Enc []byte `asn1:"tag:2"`
}

// fzExpectedBlob builds the 249-byte blob with encoding/asn1 and
// crypto/x509, and returns it with the two octet-string contents.
func fzExpectedBlob(t testing.TB, sig *ecdsa.PublicKey, enc *rsa.PublicKey) (blob, sigContent, encContent []byte) {
	t.Helper()
	point := make([]byte, 65)
	point[0] = 4
	sig.X.FillBytes(point[1:33])
	sig.Y.FillBytes(point[33:])
	sigContent = append([]byte{0x00, 0x41}, point...)
	encContent = append([]byte{0x00, 0xAC}, x509.MarshalPKCS1PublicKey(enc)...)
	blob, err := asn1.Marshal(fzBlob{Sig: sigContent, Enc: encContent})
	if err != nil {
		t.Fatal(err)
	}
	return blob, sigContent, encContent
}

func fzSpecHash(b []byte) [32]byte {
	h := sha256.New()
	h.Write(b[5:72])
	h.Write(b[75:249])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// fzP256 returns p and b of P-256.
func fzP256() (p, b *big.Int) {
	params := elliptic.P256().Params()
	return params.P, params.B
}

// fzRHS returns x³ − 3x + b mod p.
func fzRHS(x *big.Int) *big.Int {
	p, b := fzP256()
	r := new(big.Int).Exp(x, big.NewInt(3), p)
	r.Sub(r, new(big.Int).Mul(big.NewInt(3), x))
	r.Add(r, b)
	return r.Mod(r, p)
}

// fzOnCurve checks y² = x³ − 3x + b (mod p) with x, y < p.
func fzOnCurve(x, y *big.Int) bool {
	p, _ := fzP256()
	if x.Cmp(p) >= 0 || y.Cmp(p) >= 0 {
		return false
	}
	y2 := new(big.Int).Exp(y, big.NewInt(2), p)
	return y2.Cmp(fzRHS(x)) == 0
}

// fzHasPoint reports whether some y satisfies the curve equation for x < p.
func fzHasPoint(x *big.Int) bool {
	p, _ := fzP256()
	return big.Jacobi(fzRHS(x), p) != -1
}

func fzCompactable(pub *ecdsa.PublicKey) bool {
	p, _ := fzP256()
	return new(big.Int).Lsh(pub.Y, 1).Cmp(p) <= 0
}

func TestFzGeneratePublicLayout(t *testing.T) {
	k := fzGenerate(t)
	signing, enc := &k.SigningKey().PublicKey, &k.EncryptionKey().PublicKey
	b := k.Public().Bytes()
	if len(b) != 249 {
		t.Fatalf("blob is %d bytes, want 249", len(b))
	}
	x, y, n := make([]byte, 32), make([]byte, 32), make([]byte, 160)
	signing.X.FillBytes(x)
	signing.Y.FillBytes(y)
	enc.N.FillBytes(n)
	layout := []struct {
		off  int
		want []byte
		what string
	}{
		{0, []byte{0x30, 0x81, 0xF6}, "SEQUENCE, 246"},
		{3, []byte{0x81, 0x43}, "[1], 67"},
		{5, []byte{0x00, 0x41}, "key length 65"},
		{7, []byte{0x04}, "uncompressed point"},
		{8, x, "X"},
		{40, y, "Y"},
		{72, []byte{0x82, 0x81, 0xAE}, "[2], 174"},
		{75, []byte{0x00, 0xAC}, "key length 172"},
		{77, []byte{0x30, 0x81, 0xA9, 0x02, 0x81, 0xA1, 0x00}, "RSAPublicKey, modulus header"},
		{84, n, "N"},
		{244, []byte{0x02, 0x03, 0x01, 0x00, 0x01}, "e = 65537"},
	}
	end := 0
	for _, l := range layout {
		if l.off != end {
			t.Fatalf("layout table has a gap before offset %d", l.off)
		}
		end = l.off + len(l.want)
		if got := b[l.off:end]; !bytes.Equal(got, l.want) {
			t.Errorf("offset %d (%s): got %x, want %x", l.off, l.what, got, l.want)
		}
	}
	if end != 249 {
		t.Fatalf("layout table covers %d bytes", end)
	}
	want, _, _ := fzExpectedBlob(t, signing, enc)
	if !bytes.Equal(b, want) {
		t.Errorf("blob differs from the encoding/asn1 construction:\n got %x\nwant %x", b, want)
	}

	p, err := identity.ParsePublic(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Bytes(), b) {
		t.Error("ParsePublic(b).Bytes() != b")
	}
	if !p.Equal(k.Public()) || p.Hash() != k.Public().Hash() {
		t.Error("parsed identity differs from the original")
	}
	if !p.SigningKey().Equal(signing) || !p.EncryptionKey().Equal(enc) {
		t.Error("parsed keys differ from the generated ones")
	}
	// Bytes returns a copy: changing it must not change the identity.
	b[100] ^= 0xFF
	if bytes.Equal(k.Public().Bytes(), b) {
		t.Error("Bytes aliases the identity's blob")
	}
}

func TestFzPublicHash(t *testing.T) {
	pubs := []*identity.Public{fzGenerate(t).Public()}
	for _, p := range testkit.VectorKeys(t) {
		pubs = append(pubs, p.Keys.Public())
	}
	for _, p := range pubs {
		b := p.Bytes()
		if got, want := p.Hash(), fzSpecHash(b); got != want {
			t.Errorf("Hash %x, want SHA-256(b[5:72] ‖ b[75:249]) = %x", got, want)
		}
		// The same value from the octet-string contents built with x509.
		_, sigC, encC := fzExpectedBlob(t, p.SigningKey(), p.EncryptionKey())
		if got, want := p.Hash(), sha256.Sum256(append(sigC, encC...)); got != want {
			t.Errorf("Hash %x, want SHA-256 of the two key encodings %x", got, want)
		}
	}
}

func TestFzVectorKeysMatchJSON(t *testing.T) {
	js := fzKeysJSON(t)
	keys := testkit.VectorKeys(t)
	for name, e := range js {
		k := keys[name].Keys
		if got := hex.EncodeToString(k.Public().Bytes()); got != e.PublicHex {
			t.Errorf("%s: blob\n got %s\nwant %s", name, got, e.PublicHex)
		}
		h := k.Public().Hash()
		if got := hex.EncodeToString(h[:]); got != e.HashHex {
			t.Errorf("%s: hash %s, want %s", name, got, e.HashHex)
		}
		blob := testkit.Unhex(t, e.PublicHex)
		if h := fzSpecHash(blob); hex.EncodeToString(h[:]) != e.HashHex {
			t.Errorf("%s: keys.json hash disagrees with SHA-256 over its blob", name)
		}
		p, err := identity.ParsePublic(blob)
		if err != nil {
			t.Errorf("%s: ParsePublic: %v", name, err)
			continue
		}
		if !bytes.Equal(p.Bytes(), blob) || !p.Equal(k.Public()) {
			t.Errorf("%s: ParsePublic does not round-trip", name)
		}

		// Compact forms.
		dev, pre := k.DeviceKey(), k.SignedPrekey().Prekey
		if got := hex.EncodeToString(dev[:]); got != e.DeviceCompact {
			t.Errorf("%s: compact device key %s, want %s", name, got, e.DeviceCompact)
		}
		if got := hex.EncodeToString(pre[:]); got != e.PrekeyCompact {
			t.Errorf("%s: compact prekey %s, want %s", name, got, e.PrekeyCompact)
		}
		for _, c := range []struct{ what, pem, compact string }{
			{"device key", e.DevicePEM, e.DeviceCompact},
			{"prekey", e.PrekeyPEM, e.PrekeyCompact},
		} {
			priv, err := vectors.ParseEC(c.pem)
			if err != nil {
				t.Fatal(err)
			}
			ck, err := identity.ParseCompactKey(testkit.Unhex(t, c.compact))
			if err != nil {
				t.Errorf("%s %s: ParseCompactKey: %v", name, c.what, err)
				continue
			}
			pub, err := ck.PublicKey()
			if err != nil || !pub.Equal(&priv.PublicKey) {
				t.Errorf("%s %s: compact form does not name the PEM key", name, c.what)
			}
			of, err := identity.CompactKeyOf(&priv.PublicKey)
			if err != nil || !of.Equal(ck) {
				t.Errorf("%s %s: CompactKeyOf = %v, %v", name, c.what, of, err)
			}
		}
	}
}

func TestFzNewPublicRejects(t *testing.T) {
	k := fzGenerate(t)
	signing, enc := &k.SigningKey().PublicKey, &k.EncryptionKey().PublicKey
	// The control: the same keys are accepted.
	if _, err := identity.NewPublic(signing, &rsa.PublicKey{N: enc.N, E: 65537}); err != nil {
		t.Fatalf("control: %v", err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	even := new(big.Int).Sub(enc.N, big.NewInt(1))
	short := new(big.Int).Rsh(enc.N, 1)
	short.SetBit(short, 0, 1)
	for _, c := range []struct {
		name string
		sig  *ecdsa.PublicKey
		enc  *rsa.PublicKey
	}{
		{"P-384 signing key", &p384.PublicKey, enc},
		{"P-224 signing key", &p224.PublicKey, enc},
		{"nil signing key", nil, enc},
		{"RSA-2048", signing, &rsa2048.PublicKey},
		{"RSA-1280 with e=3", signing, &rsa.PublicKey{N: enc.N, E: 3}},
		{"RSA-1280 with e=65539", signing, &rsa.PublicKey{N: enc.N, E: 65539}},
		{"1279-bit modulus", signing, &rsa.PublicKey{N: short, E: 65537}},
		{"even 1280-bit modulus", signing, &rsa.PublicKey{N: even, E: 65537}},
		{"nil encryption key", signing, nil},
		{"nil modulus", signing, &rsa.PublicKey{E: 65537}},
	} {
		if p, err := identity.NewPublic(c.sig, c.enc); err == nil {
			t.Errorf("%s: accepted (%v)", c.name, p)
		}
	}
}

// TestFzNewPublicParses checks that whatever NewPublic accepts, ParsePublic
// accepts back.
func TestFzNewPublicParses(t *testing.T) {
	k := fzGenerate(t)
	signing, enc := &k.SigningKey().PublicKey, &k.EncryptionKey().PublicKey
	for _, n := range []*big.Int{enc.N, new(big.Int).Sub(enc.N, big.NewInt(1)), new(big.Int).Add(enc.N, big.NewInt(1))} {
		p, err := identity.NewPublic(signing, &rsa.PublicKey{N: n, E: 65537})
		if err != nil {
			continue
		}
		if _, err := identity.ParsePublic(p.Bytes()); err != nil {
			t.Errorf("NewPublic accepted modulus ...%x that ParsePublic refuses: %v", n.Bytes()[155:], err)
		}
	}
}

func TestFzParsePublicRejects(t *testing.T) {
	valid := fzGenerate(t).Public().Bytes()
	if _, err := identity.ParsePublic(valid); err != nil {
		t.Fatalf("control: %v", err)
	}
	t.Run("lengths", func(t *testing.T) {
		for n := 0; n <= 300; n++ {
			if n == 249 {
				continue
			}
			var b []byte
			if n < 249 {
				b = bytes.Clone(valid[:n])
			} else {
				b = append(bytes.Clone(valid), make([]byte, n-249)...)
			}
			if _, err := identity.ParsePublic(b); err == nil {
				t.Errorf("accepted %d bytes", n)
			}
		}
	})
	t.Run("header bytes", func(t *testing.T) {
		var fixed []int
		for i := 0; i <= 7; i++ { // 30 81 F6 81 43 00 41 04
			fixed = append(fixed, i)
		}
		for i := 72; i < 84; i++ { // 82 81 AE 00 AC 30 81 A9 02 81 A1 00
			fixed = append(fixed, i)
		}
		for i := 244; i < 249; i++ { // 02 03 01 00 01
			fixed = append(fixed, i)
		}
		for _, i := range fixed {
			for bit := range 8 {
				b := bytes.Clone(valid)
				b[i] ^= 1 << bit
				if _, err := identity.ParsePublic(b); err == nil {
					t.Errorf("accepted byte %d changed from %02x to %02x", i, valid[i], b[i])
				}
			}
		}
	})
	t.Run("signing point bits", func(t *testing.T) {
		// Every single-bit change of X or Y: accepted exactly when the
		// changed point is on the curve (in practice, never).
		for i := 8; i < 72; i++ {
			for bit := range 8 {
				b := bytes.Clone(valid)
				b[i] ^= 1 << bit
				x, y := new(big.Int).SetBytes(b[8:40]), new(big.Int).SetBytes(b[40:72])
				want := fzOnCurve(x, y)
				_, err := identity.ParsePublic(b)
				if (err == nil) != want {
					t.Errorf("byte %d bit %d: on curve %v, ParsePublic error %v", i, bit, want, err)
				}
			}
		}
	})
	t.Run("Y bit flip", func(t *testing.T) {
		b := bytes.Clone(valid)
		b[71] ^= 1
		if fzOnCurve(new(big.Int).SetBytes(b[8:40]), new(big.Int).SetBytes(b[40:72])) {
			t.Skip("flipped point happens to be on the curve")
		}
		if _, err := identity.ParsePublic(b); err == nil {
			t.Error("accepted a signing point off the curve")
		}
	})
	t.Run("x = p + x0", func(t *testing.T) {
		// (p + x0, y) is (x0, y) in disguise: refused as a non-canonical
		// point. x0 is the smallest x with a point.
		p, _ := fzP256()
		x0 := big.NewInt(0)
		for !fzHasPoint(x0) {
			x0.Add(x0, big.NewInt(1))
		}
		y := new(big.Int).ModSqrt(fzRHS(x0), p)
		b := bytes.Clone(valid)
		new(big.Int).Add(p, x0).FillBytes(b[8:40])
		y.FillBytes(b[40:72])
		if _, err := identity.ParsePublic(b); err == nil {
			t.Errorf("accepted x = p + %d", x0)
		}
		// The control: (x0, y) itself is a valid point.
		x0.FillBytes(b[8:40])
		if _, err := identity.ParsePublic(b); err != nil {
			t.Errorf("control (%d, y): %v", x0, err)
		}
	})
	t.Run("modulus", func(t *testing.T) {
		for _, c := range []struct {
			name string
			edit func(b []byte)
		}{
			{"even", func(b []byte) { b[243] &^= 1 }},
			{"1279 bits", func(b []byte) { b[84] = 0x7F }},
			{"1273 bits", func(b []byte) { b[84] = 0x01 }},
			{"1272 bits", func(b []byte) { b[84] = 0x00; b[85] |= 0x80 }},
			{"zero", func(b []byte) { clear(b[84:244]) }},
		} {
			b := bytes.Clone(valid)
			c.edit(b)
			if _, err := identity.ParsePublic(b); err == nil {
				t.Errorf("%s modulus accepted", c.name)
			}
		}
		// The control: an odd 1280-bit modulus with the top bit set.
		b := bytes.Clone(valid)
		b[84] |= 0x80
		b[243] |= 1
		if _, err := identity.ParsePublic(b); err != nil {
			t.Errorf("control: %v", err)
		}
	})
}

func TestFzCompactRoundTrip(t *testing.T) {
	for range 16 {
		priv, err := identity.GenerateCompactable()
		if err != nil {
			t.Fatal(err)
		}
		if !fzCompactable(&priv.PublicKey) {
			t.Fatal("GenerateCompactable returned y > p − y")
		}
		k, err := identity.CompactKeyOf(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]byte, 32)
		priv.PublicKey.X.FillBytes(x)
		if !bytes.Equal(k[:], x) {
			t.Fatalf("compact key %x, want x %x", k[:], x)
		}
		k2, err := identity.ParseCompactKey(x)
		if err != nil || !k2.Equal(k) {
			t.Fatalf("ParseCompactKey: %v", err)
		}
		pub, err := k2.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Equal(&priv.PublicKey) {
			t.Fatal("compact round trip gives a different key")
		}
		e, err := k2.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		want, err := priv.PublicKey.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		if !e.Equal(want) {
			t.Fatal("ECDH form differs")
		}
		if got, want := k.String(), "p256-compact:"+hex.EncodeToString(x); got != want {
			t.Fatalf("String %q, want %q", got, want)
		}
	}
}

func TestFzCompactKeyOfRefuses(t *testing.T) {
	var priv *ecdsa.PrivateKey
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatal("no non-compactable key in 200 draws")
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !fzCompactable(&k.PublicKey) {
			priv = k
			break
		}
	}
	if k, err := identity.CompactKeyOf(&priv.PublicKey); err == nil {
		t.Fatalf("CompactKeyOf accepted a key with y > p − y: %v", k)
	}
	// Its x alone names the other root, p − y.
	x := make([]byte, 32)
	priv.PublicKey.X.FillBytes(x)
	k, err := identity.ParseCompactKey(x)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := fzP256()
	if want := new(big.Int).Sub(p, priv.PublicKey.Y); pub.Y.Cmp(want) != 0 || pub.X.Cmp(priv.PublicKey.X) != 0 {
		t.Errorf("compact x decompressed to y %x, want p − y %x", pub.Y, want)
	}
	if pub.Equal(&priv.PublicKey) {
		t.Error("the compact form names the non-compactable key itself")
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.CompactKeyOf(&p384.PublicKey); err == nil {
		t.Error("CompactKeyOf accepted a P-384 key")
	}
	if _, err := identity.CompactKeyOf(nil); err == nil {
		t.Error("CompactKeyOf accepted nil")
	}
}

func TestFzParseCompactKeyRefuses(t *testing.T) {
	p, _ := fzP256()
	t.Run("x >= p", func(t *testing.T) {
		for _, x := range []*big.Int{
			p,
			new(big.Int).Add(p, big.NewInt(1)),
			new(big.Int).Add(p, big.NewInt(3)),
			new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)),
		} {
			b := x.FillBytes(make([]byte, 32))
			if _, err := identity.ParseCompactKey(b); err == nil {
				t.Errorf("accepted x = %x >= p", b)
			}
		}
	})
	t.Run("x with no point", func(t *testing.T) {
		found := false
		for i := int64(0); i < 64; i++ {
			x := big.NewInt(i)
			b := x.FillBytes(make([]byte, 32))
			want := fzHasPoint(x)
			found = found || !want
			k, err := identity.ParseCompactKey(b)
			if (err == nil) != want {
				t.Errorf("x = %d: has a point %v, ParseCompactKey error %v", i, want, err)
				continue
			}
			if err == nil {
				pub, err := k.PublicKey()
				if err != nil || !fzOnCurve(pub.X, pub.Y) || !fzCompactable(pub) {
					t.Errorf("x = %d: PublicKey %v is not the smaller root on the curve", i, err)
				}
			}
		}
		if !found {
			t.Fatal("no x without a point among 0..63")
		}
		// And just below p.
		x := new(big.Int).Sub(p, big.NewInt(1))
		if _, err := identity.ParseCompactKey(x.FillBytes(make([]byte, 32))); (err == nil) != fzHasPoint(x) {
			t.Errorf("x = p − 1: has a point %v, error %v", fzHasPoint(x), err)
		}
	})
	t.Run("lengths", func(t *testing.T) {
		valid := testkit.Unhex(t, fzKeysJSON(t)["alice"].DeviceCompact)
		if _, err := identity.ParseCompactKey(valid); err != nil {
			t.Fatalf("control: %v", err)
		}
		for n := 0; n <= 66; n++ {
			if n == 32 {
				continue
			}
			b := make([]byte, n)
			copy(b, valid)
			if _, err := identity.ParseCompactKey(b); err == nil {
				t.Errorf("accepted %d bytes", n)
			}
		}
		// 33-byte SEC 1 compressed form is not the compact form either.
		if _, err := identity.ParseCompactKey(append([]byte{2}, valid...)); err == nil {
			t.Error("accepted 02 ‖ x")
		}
	})
}

// fzPrekeyRecord is the expected PublicDevicePrekey encoding, written out
// from protocol.md §1.2: tags 0a, 12, 19.
func fzPrekeyRecord(x, sig []byte, ts float64) []byte {
	b := append([]byte{0x0a, byte(len(x))}, x...)
	b = append(b, 0x12, byte(len(sig)))
	b = append(b, sig...)
	b = append(b, 0x19)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(ts))
}

// fzVerifyPrekey checks a prekey signature with crypto/ecdsa over the
// signed data of §1.2.
func fzVerifyPrekey(pub *ecdsa.PublicKey, x []byte, ts float64, sig []byte) bool {
	msg := append([]byte("NGMPrekeySignature"), x...)
	msg = binary.LittleEndian.AppendUint64(msg, math.Float64bits(ts))
	d := sha256.Sum256(msg)
	return ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestFzSignedPrekeyRoundTrip(t *testing.T) {
	device, err := identity.GenerateCompactable()
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.GenerateCompactable()
	if err != nil {
		t.Fatal(err)
	}
	prekeyPriv, err := identity.GenerateCompactable()
	if err != nil {
		t.Fatal(err)
	}
	devKey, _ := identity.CompactKeyOf(&device.PublicKey)
	otherKey, _ := identity.CompactKeyOf(&other.PublicKey)
	prekey, _ := identity.CompactKeyOf(&prekeyPriv.PublicKey)

	sp, err := identity.SignPrekey(device, prekey, time.Unix(1700000123, 987654321))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Timestamp != 1700000123 {
		t.Errorf("timestamp %v, want whole seconds 1700000123", sp.Timestamp)
	}
	if !sp.Prekey.Equal(prekey) {
		t.Error("prekey not kept")
	}
	if !fzVerifyPrekey(&device.PublicKey, prekey[:], sp.Timestamp, sp.Signature[:]) {
		t.Error("signature does not verify with crypto/ecdsa over the §1.2 signed data")
	}
	b := sp.Marshal()
	if want := fzPrekeyRecord(prekey[:], sp.Signature[:], sp.Timestamp); !bytes.Equal(b, want) {
		t.Errorf("Marshal\n got %x\nwant %x", b, want)
	}
	sp2, err := identity.ParseSignedPrekey(b)
	if err != nil {
		t.Fatal(err)
	}
	if *sp2 != *sp {
		t.Error("ParseSignedPrekey differs from the original")
	}
	if !bytes.Equal(sp2.Marshal(), b) {
		t.Error("parse → marshal is not the identity")
	}
	if err := sp2.Verify(devKey); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := sp2.Verify(otherKey); err == nil {
		t.Error("verified under another device key")
	}
	if got := sp2.Time(); !got.Equal(time.Unix(1700000123, 0)) {
		t.Errorf("Time %v", got)
	}
}

func TestFzPrekeyVector(t *testing.T) {
	v := fzPrekeyVector(t)
	if v.Device != "bob" {
		t.Fatalf("prekey vector is for %q", v.Device)
	}
	js := fzKeysJSON(t)
	keys := testkit.VectorKeys(t)
	sp, err := identity.ParseSignedPrekey(v.Record)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Verify(keys["bob"].Keys.DeviceKey()); err != nil {
		t.Errorf("vector does not verify under bob's device key: %v", err)
	}
	bobDevice, err := vectors.ParseEC(js["bob"].DevicePEM)
	if err != nil {
		t.Fatal(err)
	}
	if !fzVerifyPrekey(&bobDevice.PublicKey, sp.Prekey[:], sp.Timestamp, sp.Signature[:]) {
		t.Error("vector does not verify with crypto/ecdsa under bob's PEM device key")
	}
	for _, other := range []string{"alice", "mallory"} {
		if err := sp.Verify(keys[other].Keys.DeviceKey()); err == nil {
			t.Errorf("vector verifies under %s's device key", other)
		}
	}
	if !bytes.Equal(sp.Marshal(), v.Record) {
		t.Errorf("Marshal does not reproduce the vector:\n got %x\nwant %x", sp.Marshal(), []byte(v.Record))
	}
	if v.Time == nil || sp.Timestamp != *v.Time {
		t.Errorf("timestamp %v, vector says %v", sp.Timestamp, v.Time)
	}
	if got := hex.EncodeToString(sp.Prekey[:]); got != js["bob"].PrekeyCompact {
		t.Errorf("prekey %s, want bob's %s", got, js["bob"].PrekeyCompact)
	}
}

func TestFzPrekeyTamper(t *testing.T) {
	v := fzPrekeyVector(t)
	bob := testkit.VectorKeys(t)["bob"].Keys.DeviceKey()
	sp, err := identity.ParseSignedPrekey(v.Record)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Verify(bob); err != nil {
		t.Fatalf("control: %v", err)
	}
	// On the struct: every byte of every field.
	for i := range sp.Signature {
		c := *sp
		c.Signature[i] ^= 0x01
		if c.Verify(bob) == nil {
			t.Errorf("signature byte %d flipped: verifies", i)
		}
	}
	for i := range sp.Prekey {
		c := *sp
		c.Prekey[i] ^= 0x01
		if c.Verify(bob) == nil {
			t.Errorf("prekey byte %d flipped: verifies", i)
		}
	}
	for i := range 8 {
		c := *sp
		bits := math.Float64bits(c.Timestamp) ^ 1<<(8*i)
		c.Timestamp = math.Float64frombits(bits)
		if c.Verify(bob) == nil {
			t.Errorf("timestamp byte %d flipped: verifies", i)
		}
	}
	// On the wire: the record's value bytes (2..33 prekey, 36..99
	// signature, 101..108 timestamp). A flipped byte is refused by the
	// parser or by Verify.
	if len(v.Record) != 109 {
		t.Fatalf("vector record is %d bytes", len(v.Record))
	}
	for i := range v.Record {
		if i < 2 || i == 34 || i == 35 || i == 100 {
			continue // tags and lengths: TestFzParseSignedPrekeyNonCanonical
		}
		b := bytes.Clone(v.Record)
		b[i] ^= 0x01
		if c, err := identity.ParseSignedPrekey(b); err == nil && c.Verify(bob) == nil {
			t.Errorf("record byte %d flipped: accepted and verifies", i)
		}
	}
}

func TestFzParseSignedPrekeyNonCanonical(t *testing.T) {
	rec := []byte(fzPrekeyVector(t).Record)
	if _, err := identity.ParseSignedPrekey(rec); err != nil {
		t.Fatalf("control: %v", err)
	}
	P, S, T := rec[:34], rec[34:100], rec[100:]
	x, sig, ts := rec[2:34], rec[36:100], rec[101:]
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tsOf := func(bits uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x19}, bits) }
	p, _ := fzP256()

	// Accepted: the canonical form, and other finite timestamps.
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"vector", rec},
		{"timestamp 0", cat(P, S, tsOf(0))},
		{"timestamp -0", cat(P, S, tsOf(1<<63))},
		{"timestamp max float", cat(P, S, tsOf(math.Float64bits(math.MaxFloat64)))},
		{"timestamp fractional", cat(P, S, tsOf(math.Float64bits(1.5)))},
	} {
		sp, err := identity.ParseSignedPrekey(c.b)
		if err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
			continue
		}
		if !bytes.Equal(sp.Marshal(), c.b) {
			t.Errorf("%s: does not round-trip", c.name)
		}
	}

	nonMinLen := func(tag byte, v []byte) []byte {
		return cat([]byte{tag, 0x80 | byte(len(v)), 0x00}, v)
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"reordered S P T", cat(S, P, T)},
		{"reordered P T S", cat(P, T, S)},
		{"reordered T P S", cat(T, P, S)},
		{"reordered S T P", cat(S, T, P)},
		{"duplicated prekey", cat(P, P, S, T)},
		{"duplicated signature", cat(P, S, S, T)},
		{"duplicated timestamp", cat(P, S, T, T)},
		{"repeated record", cat(rec, rec)},
		{"missing prekey", cat(S, T)},
		{"missing signature", cat(P, T)},
		{"missing timestamp", cat(P, S)},
		{"unknown field 4 varint", cat(rec, []byte{0x20, 0x01})},
		{"unknown field 4 bytes", cat(rec, []byte{0x22, 0x01, 0x00})},
		{"unknown field 99", cat(rec, []byte{0x9a, 0x06, 0x01, 0x00})},
		{"unknown field 4 before end", cat(P, S, []byte{0x20, 0x01}, T)},
		{"trailing zero byte", cat(rec, []byte{0x00})},
		{"trailing tag only", cat(rec, []byte{0x19})},
		{"prekey 31 bytes", cat([]byte{0x0a, 31}, x[:31], S, T)},
		{"prekey 33 bytes", cat([]byte{0x0a, 33}, x, []byte{0}, S, T)},
		{"prekey empty", cat([]byte{0x0a, 0}, S, T)},
		{"signature 63 bytes", cat(P, []byte{0x12, 63}, sig[:63], T)},
		{"signature 65 bytes", cat(P, []byte{0x12, 65}, sig, []byte{0}, T)},
		{"timestamp 7 bytes", cat(P, S, T[:8])},
		{"timestamp as varint", cat(P, S, []byte{0x18, 0x01})},
		{"timestamp as fixed32", cat(P, S, []byte{0x1d}, ts[:4])},
		{"timestamp as bytes", cat(P, S, []byte{0x1a, 0x08}, ts)},
		{"prekey as fixed64", cat([]byte{0x09}, x[:8], S, T)},
		{"timestamp NaN", cat(P, S, tsOf(math.Float64bits(math.NaN())))},
		{"timestamp signalling NaN", cat(P, S, tsOf(0x7FF0000000000001))},
		{"timestamp negative NaN", cat(P, S, tsOf(0xFFF8000000000000))},
		{"timestamp +Inf", cat(P, S, tsOf(math.Float64bits(math.Inf(1))))},
		{"timestamp -Inf", cat(P, S, tsOf(math.Float64bits(math.Inf(-1))))},
		{"non-minimal prekey length", cat(nonMinLen(0x0a, x), S, T)},
		{"non-minimal signature length", cat(P, nonMinLen(0x12, sig), T)},
		{"non-minimal prekey tag", cat([]byte{0x8a, 0x00, 0x20}, x, S, T)},
		{"non-minimal timestamp tag", cat(P, S, []byte{0x99, 0x00}, ts)},
		{"prekey x = p", cat([]byte{0x0a, 0x20}, p.FillBytes(make([]byte, 32)), S, T)},
	} {
		if sp, err := identity.ParseSignedPrekey(c.b); err == nil {
			t.Errorf("%s: accepted %x as %+v", c.name, c.b, sp)
		}
	}
	for n := range len(rec) {
		if _, err := identity.ParseSignedPrekey(rec[:n]); err == nil {
			t.Errorf("accepted the first %d bytes", n)
		}
	}
	// A prekey x with no point on the curve, found by search.
	for i := int64(0); ; i++ {
		xi := big.NewInt(i)
		if fzHasPoint(xi) {
			continue
		}
		b := cat([]byte{0x0a, 0x20}, xi.FillBytes(make([]byte, 32)), S, T)
		if _, err := identity.ParseSignedPrekey(b); err == nil {
			t.Errorf("accepted prekey x = %d, which has no point", i)
		}
		break
	}
}

func fzEqualKeys(t *testing.T, got, want *identity.Keys) {
	t.Helper()
	if !got.Public().Equal(want.Public()) ||
		!got.SigningKey().Equal(want.SigningKey()) ||
		!got.EncryptionKey().Equal(want.EncryptionKey()) ||
		!got.DeviceSigningKey().Equal(want.DeviceSigningKey()) ||
		!got.PrekeyECDH().Equal(want.PrekeyECDH()) ||
		!got.DeviceKey().Equal(want.DeviceKey()) ||
		!bytes.Equal(got.SignedPrekey().Marshal(), want.SignedPrekey().Marshal()) {
		t.Error("keys differ after the round trip")
	}
}

func TestFzKeysSaveLoad(t *testing.T) {
	k := fzGenerate(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "device.keys")
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("saved with mode %v, want 0600", mode)
	}
	k2, err := identity.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fzEqualKeys(t, k2, k)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, k.Marshal()) || !bytes.Equal(k2.Marshal(), raw) {
		t.Error("saved file is not Marshal's output, or does not round-trip")
	}
	// No temporary files are left behind.
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Errorf("directory holds %d entries after Save (%v)", len(ents), err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := identity.Load(path)
		if err == nil {
			t.Errorf("Load accepted a file with mode %v", mode)
		} else if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %v: error %q does not say chmod 600", mode, err)
		}
	}
	// Saving over a world-readable file leaves a 0600 file.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := k.Save(path); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("re-saved file: %v %v", info.Mode(), err)
	}
	if _, err := identity.Load(path); err != nil {
		t.Errorf("re-saved file: %v", err)
	}
	if _, err := identity.Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// fzBlocks splits a key file into its PEM blocks.
func fzBlocks(t *testing.T, b []byte) []*pem.Block {
	t.Helper()
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		out = append(out, blk)
	}
	if len(out) != 4 || len(bytes.TrimSpace(b)) != 0 {
		t.Fatalf("key file has %d blocks", len(out))
	}
	return out
}

func fzEncodeBlocks(blocks ...*pem.Block) []byte {
	var buf bytes.Buffer
	for _, blk := range blocks {
		pem.Encode(&buf, blk)
	}
	return buf.Bytes()
}

func fzCloneBlock(b *pem.Block) *pem.Block {
	c := &pem.Block{Type: b.Type, Bytes: bytes.Clone(b.Bytes)}
	if b.Headers != nil {
		c.Headers = map[string]string{}
		for k, v := range b.Headers {
			c.Headers[k] = v
		}
	}
	return c
}

func fzNonCompactable(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !fzCompactable(&k.PublicKey) {
			return k
		}
	}
}

func TestFzParseKeysRefuses(t *testing.T) {
	k := fzGenerate(t)
	m := k.Marshal()
	blocks := fzBlocks(t, m)

	// Controls: the file itself, and the same blocks re-encoded here.
	if k2, err := identity.ParseKeys(m); err != nil {
		t.Fatalf("control: %v", err)
	} else {
		fzEqualKeys(t, k2, k)
	}
	if _, err := identity.ParseKeys(fzEncodeBlocks(blocks...)); err != nil {
		t.Fatalf("control (re-encoded): %v", err)
	}

	t.Run("truncated", func(t *testing.T) {
		whole := bytes.TrimSpace(m)
		for n := 0; n < len(m); n += 13 {
			if bytes.Equal(bytes.TrimSpace(m[:n]), whole) {
				continue
			}
			if _, err := identity.ParseKeys(m[:n]); err == nil {
				t.Errorf("accepted the first %d of %d bytes", n, len(m))
			}
		}
		// Each block boundary, exactly.
		for i := 1; i < 4; i++ {
			if _, err := identity.ParseKeys(fzEncodeBlocks(blocks[:i]...)); err == nil {
				t.Errorf("accepted %d blocks", i)
			}
		}
	})
	t.Run("block order", func(t *testing.T) {
		b := blocks
		for _, order := range [][4]int{{1, 0, 2, 3}, {0, 2, 1, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}, {2, 3, 0, 1}} {
			if _, err := identity.ParseKeys(fzEncodeBlocks(b[order[0]], b[order[1]], b[order[2]], b[order[3]])); err == nil {
				t.Errorf("accepted block order %v", order)
			}
		}
		// Right order, wrong contents: the key bytes swapped, types kept.
		s0, s2 := fzCloneBlock(b[0]), fzCloneBlock(b[2])
		s0.Bytes, s2.Bytes = b[2].Bytes, b[0].Bytes
		if _, err := identity.ParseKeys(fzEncodeBlocks(s0, b[1], s2, b[3])); err == nil {
			t.Error("accepted signing and device keys swapped under their labels")
		}
	})
	t.Run("non-compactable keys", func(t *testing.T) {
		der, err := x509.MarshalPKCS8PrivateKey(fzNonCompactable(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{2, 3} {
			bs := []*pem.Block{blocks[0], blocks[1], blocks[2], blocks[3]}
			bs[i] = fzCloneBlock(blocks[i])
			bs[i].Bytes = der
			_, err := identity.ParseKeys(fzEncodeBlocks(bs...))
			if err == nil {
				t.Errorf("accepted a non-compactable key in block %d", i)
			} else if !strings.Contains(err.Error(), "compactable") {
				t.Errorf("block %d: refused for another reason: %v", i, err)
			}
		}
		// The signing key has no such constraint: a non-compactable one
		// is fine there.
		bs := []*pem.Block{fzCloneBlock(blocks[0]), blocks[1], blocks[2], blocks[3]}
		bs[0].Bytes = der
		if _, err := identity.ParseKeys(fzEncodeBlocks(bs...)); err != nil {
			t.Errorf("non-compactable signing key refused: %v", err)
		}
	})
	t.Run("prekey record", func(t *testing.T) {
		sp := k.SignedPrekey()
		otherDevice, err := identity.GenerateCompactable()
		if err != nil {
			t.Fatal(err)
		}
		otherPrekeyPriv, err := identity.GenerateCompactable()
		if err != nil {
			t.Fatal(err)
		}
		otherPrekey, _ := identity.CompactKeyOf(&otherPrekeyPriv.PublicKey)
		byOther, err := identity.SignPrekey(otherDevice, sp.Prekey, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		forOther, err := identity.SignPrekey(k.DeviceSigningKey(), otherPrekey, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		// Re-signed correctly at another time: accepted (the control).
		resigned, err := identity.SignPrekey(k.DeviceSigningKey(), sp.Prekey, time.Unix(1600000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		flipped := *sp
		flipped.Signature[10] ^= 1
		later := *sp
		later.Timestamp++

		withHeader := func(h map[string]string) []byte {
			b3 := fzCloneBlock(blocks[3])
			b3.Headers = h
			return fzEncodeBlocks(blocks[0], blocks[1], blocks[2], b3)
		}
		rec := func(sp *identity.SignedPrekey) map[string]string {
			return map[string]string{"Signed-Prekey": hex.EncodeToString(sp.Marshal())}
		}
		if k2, err := identity.ParseKeys(withHeader(rec(resigned))); err != nil {
			t.Errorf("control (re-signed record): %v", err)
		} else if !bytes.Equal(k2.SignedPrekey().Marshal(), resigned.Marshal()) {
			t.Error("control: the loaded record is not the one in the file")
		}
		for _, c := range []struct {
			name string
			h    map[string]string
		}{
			{"signed by another device key", rec(byOther)},
			{"for another prekey", rec(forOther)},
			{"signature byte flipped", rec(&flipped)},
			{"timestamp changed", rec(&later)},
			{"missing", nil},
			{"empty", map[string]string{"Signed-Prekey": ""}},
			{"not hex", map[string]string{"Signed-Prekey": "zz" + hex.EncodeToString(sp.Marshal())}},
			{"truncated", map[string]string{"Signed-Prekey": hex.EncodeToString(sp.Marshal()[:100])}},
		} {
			if _, err := identity.ParseKeys(withHeader(c.h)); err == nil {
				t.Errorf("accepted a prekey record %s", c.name)
			}
		}
	})
	t.Run("other", func(t *testing.T) {
		for _, c := range []struct {
			name string
			b    []byte
		}{
			{"empty", nil},
			{"trailing data", append(bytes.Clone(m), "junk\n"...)},
			{"fifth block", append(bytes.Clone(m), fzEncodeBlocks(blocks[0])...)},
		} {
			if _, err := identity.ParseKeys(c.b); err == nil {
				t.Errorf("accepted %s", c.name)
			}
		}
		rsaInSigning := fzCloneBlock(blocks[0])
		rsaInSigning.Bytes = blocks[1].Bytes
		if _, err := identity.ParseKeys(fzEncodeBlocks(rsaInSigning, blocks[1], blocks[2], blocks[3])); err == nil {
			t.Error("accepted an RSA key as the signing key")
		}
		corrupt := fzCloneBlock(blocks[1])
		corrupt.Bytes[len(corrupt.Bytes)/2] ^= 0x55
		if _, err := identity.ParseKeys(fzEncodeBlocks(blocks[0], corrupt, blocks[2], blocks[3])); err == nil {
			t.Error("accepted a corrupted RSA key")
		}
	})
}

// fzSecretHexes returns every private value of k as lowercase hex, with its
// uppercase and decimal forms.
func fzSecrets(k *identity.Keys) map[string][]byte {
	out := map[string][]byte{
		"signing D": k.SigningKey().D.FillBytes(make([]byte, 32)),
		"device D":  k.DeviceSigningKey().D.FillBytes(make([]byte, 32)),
		"prekey D":  k.PrekeyECDH().Bytes(),
		"RSA D":     k.EncryptionKey().D.Bytes(),
	}
	for i, p := range k.EncryptionKey().Primes {
		out[fmt.Sprintf("RSA prime %d", i)] = p.Bytes()
	}
	return out
}

func TestFzStringsRedact(t *testing.T) {
	k := fzGenerate(t)
	outputs := map[string]string{
		"Keys.String":     k.String(),
		"Keys %v":         fmt.Sprintf("%v", k),
		"Keys %+v":        fmt.Sprintf("%+v", k),
		"Keys %s":         fmt.Sprintf("%s", k),
		"Public.String":   k.Public().String(),
		"Public %v":       fmt.Sprintf("%v", k.Public()),
		"SignedPrekey %v": fmt.Sprintf("%v", *k.SignedPrekey()),
	}
	h := k.Public().Hash()
	if got, want := k.Public().String(), "pair-identity:"+hex.EncodeToString(h[:8]); got != want {
		t.Errorf("Public.String %q, want %q", got, want)
	}
	for what, secret := range fzSecrets(k) {
		// Any 6-byte window of a secret, in hex or decimal, counts.
		var needles []string
		for i := 0; i+6 <= len(secret); i++ {
			w := hex.EncodeToString(secret[i : i+6])
			needles = append(needles, w, strings.ToUpper(w))
		}
		needles = append(needles, new(big.Int).SetBytes(secret).String()[:15])
		for name, s := range outputs {
			for _, n := range needles {
				if strings.Contains(s, n) {
					t.Errorf("%s contains %s material %q: %q", name, what, n, s)
					break
				}
			}
		}
	}
	// Public key material stays out of Public.String too: it names the
	// identity by its hash.
	blobHex := hex.EncodeToString(k.Public().Bytes())
	for i := 0; i+12 <= len(blobHex); i += 2 {
		if s := k.Public().String(); strings.Contains(s, blobHex[i:i+12]) {
			t.Errorf("Public.String %q contains blob bytes at %d", s, i/2)
			break
		}
	}
}
