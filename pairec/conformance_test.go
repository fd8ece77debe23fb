package pairec

// Primitive conformance test C6 of shared/docs/testing.md (HKDF-SHA256, the
// KDF of pair-ec), and the pair-ec half of C7 (AES-256-CTR with a full
// 128-bit counter). crypt mixes HKDF and AES, so HKDF is tested through
// hkdf.Key with the argument shapes crypt uses, and crypt itself against the
// intermediates recorded in the pair-ec vectors (ECDH secret → AES-256 key ‖
// counter block → padded inner message), read with internal/vectors (the
// keys file as written, not through identity).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/internal/wycheproof"
)

// confLoadECVectors returns the positive pair-ec vectors that carry
// intermediates, and the keys file as written.
func confLoadECVectors(t *testing.T) ([]vectors.Vector, map[string]vectors.KeyEntry) {
	t.Helper()
	vecs := testkit.OKVectors(t, "pairec_from_spec_python.json", vectors.SchemePairEC, func(v *vectors.Vector) bool { return len(v.ECDHSecret) > 0 })
	return vecs, testkit.KeyEntries(t)
}

func confECDHKey(t *testing.T, pemText string) *ecdh.PrivateKey {
	t.Helper()
	k, err := vectors.ParseEC(pemText)
	if err != nil {
		t.Fatal(err)
	}
	e, err := k.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// confRFC5869 are the HKDF-SHA-256 test cases 1–3 of RFC 5869 appendix A.
var confRFC5869 = []struct {
	ikm, salt, info string
	length          int
	prk, okm        string
}{
	{strings.Repeat("0b", 22), "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
		"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
	{confSeq(0x00, 80), confSeq(0x60, 80), confSeq(0xb0, 80), 82,
		"06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
		"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
	{strings.Repeat("0b", 22), "", "", 42,
		"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
		"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
}

// confSeq is the hex of n consecutive bytes from start.
func confSeq(start byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return hex.EncodeToString(b)
}

// TestConformanceC6HKDF checks HKDF-SHA256 (Wycheproof and RFC 5869) through
// hkdf.Key called as crypt calls it, and crypt against the pair-ec vectors.
func TestConformanceC6HKDF(t *testing.T) {
	t.Parallel()
	var cases, mismatches int
	var f wycheproof.File[wycheproof.HKDFGroup]
	wycheproof.Require(t, "hkdf_sha256_test.json", &f)
	results := map[string]int{}
	for _, g := range f.TestGroups {
		for i := range g.Tests {
			tc := &g.Tests[i]
			cases++
			results[tc.Result]++
			okm, err := hkdf.Key(sha256.New, tc.IKM, tc.Salt, string(tc.Info), tc.Size)
			switch tc.Result {
			case wycheproof.Valid:
				if err != nil || !bytes.Equal(okm, tc.OKM) {
					mismatches++
					t.Errorf("hkdf_sha256 %s: got %x, %v; want %x", tc, okm, err, tc.OKM)
				}
			case wycheproof.Invalid: // SizeTooLarge: more than 255 blocks
				if err == nil {
					mismatches++
					t.Errorf("hkdf_sha256 %s: size %d accepted", tc, tc.Size)
				}
			default:
				t.Fatalf("hkdf_sha256 %s: no policy for this result", tc)
			}
		}
	}
	wycheproofCases := cases

	for i, c := range confRFC5869 {
		cases++
		ikm, salt, info := testkit.Unhex(t, c.ikm), testkit.Unhex(t, c.salt), testkit.Unhex(t, c.info)
		prk, err1 := hkdf.Extract(sha256.New, ikm, salt)
		okm, err2 := hkdf.Key(sha256.New, ikm, salt, string(info), c.length)
		if err1 != nil || err2 != nil || hex.EncodeToString(prk) != c.prk || hex.EncodeToString(okm) != c.okm {
			mismatches++
			t.Errorf("RFC 5869 case %d: PRK %x, OKM %x (%v, %v)", i+1, prk, okm, err1, err2)
		}
	}
	// The typed-in RFC values agree with Debian's copy, when installed.
	if dir, err := wycheproof.DebianDir(); err == nil {
		recs, err := wycheproof.ReadRSP(filepath.Join(dir, "KDF", "rfc-5869-HKDF-SHA256.txt"))
		if err != nil {
			t.Fatal(err)
		}
		// A case there spans blank lines: merge records from one COUNT to the
		// next.
		var merged []map[string]string
		for _, r := range recs {
			if _, ok := r.Fields["COUNT"]; ok || len(merged) == 0 {
				merged = append(merged, map[string]string{})
			}
			for k, v := range r.Fields {
				merged[len(merged)-1][k] = v
			}
		}
		matched := 0
		for _, m := range merged {
			for _, c := range confRFC5869 {
				if m["IKM"] == c.ikm && m["salt"] == c.salt && m["info"] == c.info && m["PRK"] == c.prk && m["OKM"] == c.okm {
					matched++
				}
			}
		}
		if matched != len(confRFC5869) {
			t.Errorf("typed-in RFC 5869 cases found in Debian's file: %d, want %d", matched, len(confRFC5869))
		}
	}

	// crypt and the key schedule on the recorded intermediates, starting from
	// ECDH the way Seal (ephemeral × prekey) and Open (prekey × ephemeral
	// from the payload, through the compact decoder) compute it.
	vecs, keys := confLoadECVectors(t)
	for _, v := range vecs {
		cases++
		recv, ok := keys[v.Receiver]
		if !ok {
			t.Fatalf("%s: no party %q", v.Name, v.Receiver)
		}
		o, ok := parseOuter(v.Payload)
		if !ok {
			t.Fatalf("%s: payload does not parse", v.Name)
		}
		eph := confECDHKey(t, v.EphemeralPEM)
		prekeyPub, err := identity.CompactKey(testkit.Unhex(t, recv.PrekeyCompact)).ECDH()
		if err != nil {
			t.Fatal(err)
		}
		sealSide, err1 := eph.ECDH(prekeyPub)
		ephPub, err := identity.CompactKey(o.ephemeral).ECDH()
		if err != nil {
			t.Fatal(err)
		}
		openSide, err2 := confECDHKey(t, recv.PrekeyPEM).ECDH(ephPub)
		okm, err3 := hkdf.Key(sha256.New, v.ECDHSecret, []byte(hkdfSalt), "", hkdfLength)
		inner := make([]byte, len(o.ciphertext))
		err4 := crypt(v.ECDHSecret, inner, o.ciphertext)
		again := make([]byte, len(inner))
		err5 := crypt(v.ECDHSecret, again, inner)
		switch {
		case err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil:
			mismatches++
			t.Errorf("%s: %v %v %v %v %v", v.Name, err1, err2, err3, err4, err5)
		case !bytes.Equal(sealSide, v.ECDHSecret) || !bytes.Equal(openSide, v.ECDHSecret):
			mismatches++
			t.Errorf("%s: ECDH %x / %x, want %x", v.Name, sealSide, openSide, v.ECDHSecret)
		case !bytes.Equal(okm, slices.Concat(v.AES256Key, v.IV)):
			mismatches++
			t.Errorf("%s: HKDF %x, want key ‖ IV %x ‖ %x", v.Name, okm, v.AES256Key, v.IV)
		case !bytes.Equal(inner, v.InnerPadded):
			mismatches++
			t.Errorf("%s: crypt got %x, want %x", v.Name, inner, v.InnerPadded)
		case !bytes.Equal(again, o.ciphertext):
			mismatches++
			t.Errorf("%s: crypt is not its own inverse", v.Name)
		}
	}
	t.Logf("C6: cases=%d mismatches=%d wycheproof=%d (valid=%d invalid=%d) rfc5869=%d pairec_kats=%d",
		cases, mismatches, wycheproofCases, results[wycheproof.Valid], results[wycheproof.Invalid], len(confRFC5869), len(vecs))
}

// TestConformanceC7PairECCTR checks that crypt's keystream is AES-256-ECB of
// IV, IV+1, IV+2, … with the whole 128-bit block as the counter (protocol.md
// §1.2 step 4), including a carry out of the low 64 bits, where an
// implementation that increments only those (rustpush's Ctr64BE) would
// differ. crypt's IV comes from HKDF and cannot be chosen, so crypt is
// checked on random secrets and the carries on the same cipher.NewCTR call
// crypt makes, with IVs chosen to carry.
func TestConformanceC7PairECCTR(t *testing.T) {
	t.Parallel()
	var mismatches, blocksChecked int
	const blocks = 300
	check := func(key, iv []byte, got []byte) {
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		ctr := new(big.Int).SetBytes(iv)
		mod := new(big.Int).Lsh(big.NewInt(1), 128)
		for i := 0; i < len(got); i += aes.BlockSize {
			cb := ctr.FillBytes(make([]byte, aes.BlockSize))
			want := make([]byte, aes.BlockSize)
			block.Encrypt(want, cb)
			blocksChecked++
			if !bytes.Equal(got[i:i+aes.BlockSize], want) {
				mismatches++
				t.Errorf("block %d (counter %x): keystream %x, want AES(counter) %x", i/aes.BlockSize, cb, got[i:i+aes.BlockSize], want)
				return
			}
			ctr.Add(ctr, big.NewInt(1)).Mod(ctr, mod)
		}
	}
	// crypt itself, on random secrets.
	for range 20 {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		okm, err := hkdf.Key(sha256.New, secret, []byte(hkdfSalt), "", hkdfLength)
		if err != nil {
			t.Fatal(err)
		}
		ks := make([]byte, blocks*aes.BlockSize)
		if err := crypt(secret, ks, make([]byte, len(ks))); err != nil {
			t.Fatal(err)
		}
		check(okm[:aesKeySize], okm[aesKeySize:], ks)
	}
	// The carries: out of the low 64 bits, and the wrap of all 128.
	for _, iv := range []string{
		"0123456789abcdef" + "ffffffffffffff00",
		"ffffffffffffffff" + "ffffffffffffff80",
	} {
		key := make([]byte, aesKeySize)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		ks := make([]byte, blocks*aes.BlockSize)
		// The call crypt makes, with the IV given.
		cipher.NewCTR(block, testkit.Unhex(t, iv)).XORKeyStream(ks, make([]byte, len(ks)))
		check(key, testkit.Unhex(t, iv), ks)
	}
	t.Logf("C7 pair-ec: blocks_checked=%d mismatches=%d (128-bit counter incl. carry past bit 64)", blocksChecked, mismatches)
}
