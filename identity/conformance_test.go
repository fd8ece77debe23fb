package identity

// Primitive conformance tests C4 and C8 of shared/docs/testing.md: ECDH and
// P-256 point decoding through our compact-key decoder (ParseCompactKey,
// CompactKey.ECDH, CompactKey.PublicKey), which is how pair-ec receives the
// ephemeral key and the prekey, and the SHA-1 / SHA-256 hashes (the identity
// hash is SHA-256, the pair signature digest SHA-1).

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/wycheproof"
)

// confECDHOutcome is what the two decoding paths made of one public key.
type confECDHOutcome struct {
	// full: the whole encoded point through crypto/ecdh (NewPublicKey), as
	// a decoder of uncompressed points would.
	fullShared []byte
	fullErr    error
	// compact: only x, through ParseCompactKey and CompactKey.ECDH, then
	// ecdh.PrivateKey.ECDH as pairec.Open does. compactPoint is the point the
	// compact key decoded to (04 ‖ x ‖ y).
	compactTried  bool
	compactShared []byte
	compactPoint  []byte
	compactErr    error
}

// confPrivate turns a Wycheproof private scalar (big-endian, maybe with a
// leading zero byte or shorter than 32 bytes) into an ecdh key.
func confPrivate(t *testing.T, d []byte) *ecdh.PrivateKey {
	t.Helper()
	n := new(big.Int).SetBytes(d)
	if n.BitLen() > 256 {
		t.Fatalf("private scalar %x is longer than 32 bytes", d)
	}
	priv, err := ecdh.P256().NewPrivateKey(n.FillBytes(make([]byte, 32)))
	if err != nil {
		t.Fatalf("private scalar %x: %v", d, err)
	}
	return priv
}

// confECDH runs both paths for an encoded point: 04 ‖ x ‖ y, or 02/03 ‖ x.
func confECDH(t *testing.T, priv *ecdh.PrivateKey, point []byte) confECDHOutcome {
	t.Helper()
	var o confECDHOutcome
	if pub, err := ecdh.P256().NewPublicKey(point); err != nil {
		o.fullErr = err
	} else {
		o.fullShared, o.fullErr = priv.ECDH(pub)
	}
	var x []byte
	switch {
	case len(point) == 65 && point[0] == 4, len(point) == 33 && (point[0] == 2 || point[0] == 3):
		x = point[1:33]
	default:
		return o // no x to take: nothing the compact form could carry
	}
	o.compactTried = true
	ck, err := ParseCompactKey(x)
	if err != nil {
		o.compactErr = err
		return o
	}
	pub, err := ck.ECDH()
	if err != nil {
		t.Fatalf("ParseCompactKey accepted %x but ECDH refuses it: %v", x, err)
	}
	o.compactPoint = pub.Bytes()
	o.compactShared, o.compactErr = priv.ECDH(pub)
	// The ECDSA decoding of the same compact key names the same point.
	if epub, err := ck.PublicKey(); err != nil {
		t.Fatalf("compact %x: ECDH decodes, PublicKey does not: %v", x, err)
	} else if b, _ := epub.Bytes(); !bytes.Equal(b, o.compactPoint) {
		t.Fatalf("compact %x: PublicKey %x, ECDH %x", x, b, o.compactPoint)
	}
	return o
}

// confCheckCompactY checks that a compact key decoded to the valid point
// 04 ‖ x ‖ y, or to its negation when y is the larger root, i.e. that only
// the sign of y was dropped.
func confCheckCompactY(point, compactPoint []byte) error {
	p := elliptic.P256().Params().P
	y := new(big.Int).SetBytes(point[33:65])
	want := y
	if new(big.Int).Lsh(y, 1).Cmp(p) > 0 {
		want = new(big.Int).Sub(p, y)
	}
	if !bytes.Equal(compactPoint[1:33], point[1:33]) || new(big.Int).SetBytes(compactPoint[33:]).Cmp(want) != 0 {
		return fmt.Errorf("compact decoding gave %x for %x", compactPoint, point)
	}
	return nil
}

// TestConformanceC4ECDH runs Wycheproof ecdh_secp256r1_ecpoint (bare points)
// and ecdh_secp256r1 (X.509 SubjectPublicKeyInfo) through our decoder.
//
// The compact form carries only x, so the vector's point is decoded through
// its x (ParseCompactKey → CompactKey.ECDH) and, for reference, whole through
// crypto/ecdh. Valid cases must give the exact shared secret on both paths
// (dropping y's sign does not change the x-coordinate of d·Q). An invalid
// point counts as accepted when either path computes with that very point:
// crypto/ecdh accepting it, or the compact decoder returning it. A compact
// decoder can only return points on P-256: for an off-curve 04 ‖ x ‖ y whose
// x happens to be on the curve, it returns (x, y') on the curve, a different
// point (counted as "remapped"); for x on the twist or not a field element
// it refuses.
//
// Policy for "acceptable" cases:
//   - compressed points (CompressedPublic): crypto/ecdh refuses the 02/03
//     encoding, and pair-ec never sends one; the compact path takes x and must
//     give the exact shared secret.
//   - SubjectPublicKeyInfo oddities (InvalidAsn: non-DER lengths and the
//     like; UnnamedCurve: explicit curve parameters): pair-ec never carries
//     SPKI; crypto/x509 decides. Whatever it accepts must give the exact
//     shared secret; the counts are logged.
func TestConformanceC4ECDH(t *testing.T) {
	t.Parallel()
	var cases, secretMismatches, invalidAccepted, remapped, compactRefused, compactCases int
	results := map[string]int{}

	judge := func(file string, tc *wycheproof.ECDHTest, point []byte, o confECDHOutcome) {
		cases++
		results[tc.Result]++
		if o.compactTried {
			compactCases++
		}
		switch tc.Result {
		case wycheproof.Valid:
			if o.fullErr != nil || !bytes.Equal(o.fullShared, tc.Shared) {
				secretMismatches++
				t.Errorf("%s %s: crypto/ecdh got %x, %v; want %x", file, tc, o.fullShared, o.fullErr, tc.Shared)
			}
			if !o.compactTried || o.compactErr != nil || !bytes.Equal(o.compactShared, tc.Shared) {
				secretMismatches++
				t.Errorf("%s %s: compact path got %x, %v; want %x", file, tc, o.compactShared, o.compactErr, tc.Shared)
			} else if err := confCheckCompactY(point, o.compactPoint); err != nil {
				secretMismatches++
				t.Errorf("%s %s: %v", file, tc, err)
			}
		case wycheproof.Invalid:
			if o.fullErr == nil {
				invalidAccepted++
				t.Errorf("%s %s: crypto/ecdh accepted the invalid point %x", file, tc, point)
			}
			switch {
			case !o.compactTried:
			case o.compactErr != nil:
				compactRefused++
			case bytes.Equal(o.compactPoint, point):
				invalidAccepted++
				t.Errorf("%s %s: compact path computed with the invalid point %x", file, tc, point)
			default:
				remapped++
			}
			// A point on the twist or with x off the curve has no P-256 point
			// with that x: the compact decoder must refuse it.
			if o.compactTried && o.compactErr == nil && (tc.HasFlag("WrongCurve") || tc.HasFlag("InvalidCompressedPublic")) {
				invalidAccepted++
				t.Errorf("%s %s: compact decoder accepted x of %x", file, tc, point)
			}
		case wycheproof.Acceptable:
			if tc.HasFlag("CompressedPublic") {
				if point == nil {
					return // SubjectPublicKeyInfo: crypto/x509 refuses compressed points
				}
				if o.fullErr == nil {
					t.Errorf("%s %s: crypto/ecdh now accepts compressed points; revisit the policy", file, tc)
				}
				if o.compactErr != nil || !bytes.Equal(o.compactShared, tc.Shared) {
					secretMismatches++
					t.Errorf("%s %s: compact path got %x, %v; want %x", file, tc, o.compactShared, o.compactErr, tc.Shared)
				}
				return
			}
			if o.fullErr == nil && !bytes.Equal(o.fullShared, tc.Shared) {
				secretMismatches++
				t.Errorf("%s %s: accepted with shared %x, want %x", file, tc, o.fullShared, tc.Shared)
			}
		default:
			t.Fatalf("%s %s: unknown result", file, tc)
		}
	}

	// Bare encoded points.
	var fp wycheproof.File[wycheproof.ECDHGroup]
	wycheproof.Require(t, "ecdh_secp256r1_ecpoint_test.json", &fp)
	flags := map[string]int{}
	for _, g := range fp.TestGroups {
		if g.Curve != "secp256r1" || g.Encoding != "ecpoint" {
			t.Fatalf("ecpoint group %s/%s", g.Curve, g.Encoding)
		}
		for i := range g.Tests {
			tc := &g.Tests[i]
			for _, f := range tc.Flags {
				flags[f]++
			}
			judge("ecpoint", tc, tc.Public, confECDH(t, confPrivate(t, tc.Private), tc.Public))
		}
	}
	if flags["InvalidCurveAttack"] != 16 || flags["WrongCurve"] != 6 {
		t.Errorf("ecpoint: %d InvalidCurveAttack and %d WrongCurve cases, want 16 and 6", flags["InvalidCurveAttack"], flags["WrongCurve"])
	}
	ecpointCases := cases

	// SubjectPublicKeyInfo: crypto/x509 takes the point out, then the same
	// two paths.
	var fa wycheproof.File[wycheproof.ECDHGroup]
	wycheproof.Require(t, "ecdh_secp256r1_test.json", &fa)
	spkiRefused, acceptableAccepted := 0, 0
	for _, g := range fa.TestGroups {
		if g.Curve != "secp256r1" || g.Encoding != "asn" {
			t.Fatalf("asn group %s/%s", g.Curve, g.Encoding)
		}
		for i := range g.Tests {
			tc := &g.Tests[i]
			var point []byte
			if k, err := x509.ParsePKIXPublicKey(tc.Public); err == nil {
				if pub, ok := k.(*ecdsa.PublicKey); ok && pub.Curve == elliptic.P256() {
					point, _ = pub.Bytes()
				}
			}
			if point == nil {
				spkiRefused++
			}
			o := confECDH(t, confPrivate(t, tc.Private), point)
			if tc.Result == wycheproof.Acceptable && o.fullErr == nil {
				acceptableAccepted++
				if testing.Verbose() {
					t.Logf("asn %s: accepted by crypto/x509", tc)
				}
			}
			judge("asn", tc, point, o)
		}
	}

	t.Logf("C4: cases=%d (ecpoint=%d asn=%d) valid=%d invalid=%d acceptable=%d invalid_accepted=%d shared_mismatches=%d compact_cases=%d compact_refused_invalid=%d compact_remapped_invalid=%d spki_refused=%d acceptable_accepted=%d",
		cases, ecpointCases, cases-ecpointCases, results[wycheproof.Valid], results[wycheproof.Invalid], results[wycheproof.Acceptable],
		invalidAccepted, secretMismatches, compactCases, compactRefused, remapped, spkiRefused, acceptableAccepted)
}

// TestConformanceC8Hashes runs the CAVP SHAVS files for SHA-1 and SHA-256
// (ShortMsg, LongMsg and the Monte Carlo test), and the identity hash of the
// vectors' keys against an independent SHA-256 of the blob's two parts.
func TestConformanceC8Hashes(t *testing.T) {
	t.Parallel()
	var cases, mismatches int
	perFile := map[string]int{}
	// A subtest, so that a missing Debian package skips only this part.
	t.Run("CAVP-SHAVS", func(st *testing.T) {
		for _, h := range []struct {
			name, dir string
			size      int
			new       func() hash.Hash
		}{
			{"SHA1", "SHA1", sha1.Size, sha1.New},
			{"SHA256", "SHA2", sha256.Size, sha256.New},
		} {
			for _, kind := range []string{"ShortMsg", "LongMsg"} {
				file := h.name + kind + ".rsp"
				recs, err := wycheproof.ReadRSP(wycheproof.RequireDebian(st, "hashes/"+h.dir+"/"+file))
				if err != nil {
					st.Fatal(err)
				}
				if len(recs) == 0 || recs[0].Section != "L = "+strconv.Itoa(h.size) {
					st.Fatalf("%s: unexpected layout", file)
				}
				for _, r := range recs {
					bits, err := strconv.Atoi(r.Fields["Len"])
					if err != nil || bits%8 != 0 {
						st.Fatalf("%s line %d: Len %q", file, r.Line, r.Fields["Len"])
					}
					msg := confUnhex(st, r.Fields["Msg"])[:bits/8] // Len = 0 is written as Msg = 00
					want := confUnhex(st, r.Fields["MD"])
					d := h.new()
					d.Write(msg)
					cases++
					perFile[file]++
					if got := d.Sum(nil); !bytes.Equal(got, want) {
						mismatches++
						st.Errorf("%s line %d: got %x, want %x", file, r.Line, got, want)
					}
				}
			}

			// SHAVS Monte Carlo: from Seed, 100 checkpoints of 1000 iterations,
			// each hashing the concatenation of the last three digests.
			file := h.name + "Monte.rsp"
			recs, err := wycheproof.ReadRSP(wycheproof.RequireDebian(st, "hashes/"+h.dir+"/"+file))
			if err != nil {
				st.Fatal(err)
			}
			if len(recs) != 101 || recs[0].Fields["Seed"] == "" {
				st.Fatalf("%s: %d records, want Seed + 100", file, len(recs))
			}
			seed := confUnhex(st, recs[0].Fields["Seed"])
			for j, r := range recs[1:] {
				if r.Fields["COUNT"] != strconv.Itoa(j) {
					st.Fatalf("%s line %d: COUNT %q, want %d", file, r.Line, r.Fields["COUNT"], j)
				}
				md := [3][]byte{seed, seed, seed}
				buf := make([]byte, 0, 3*h.size)
				for range 1000 {
					buf = slices.Concat(buf[:0], md[0], md[1], md[2])
					d := h.new()
					d.Write(buf)
					md = [3][]byte{md[1], md[2], d.Sum(nil)}
				}
				seed = md[2]
				cases++
				perFile[file]++
				if want := confUnhex(st, r.Fields["MD"]); !bytes.Equal(seed, want) {
					mismatches++
					st.Errorf("%s COUNT %d: got %x, want %x", file, j, seed, want)
					break // later checkpoints chain from this one
				}
			}
		}
	})

	// The identity hash (protocol.md §2.2): SHA-256 of blob[5:72] ‖
	// blob[75:249], against the vectors' recorded value.
	b, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]struct {
		Blob wycheproof.Hex `json:"public_message_identity_key_hex"`
		Hash wycheproof.Hex `json:"identity_hash_sha256_hex"`
	}
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for name, k := range keys {
		cases++
		p, err := ParsePublic(k.Blob)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		independent := sha256.Sum256(slices.Concat(k.Blob[5:72], k.Blob[75:249]))
		if got := p.Hash(); !bytes.Equal(got[:], k.Hash) || independent != got {
			mismatches++
			t.Errorf("%s: identity hash %x, independent %x, vectors %x", name, got, independent, k.Hash)
		}
	}

	var files []string
	for f, n := range perFile {
		files = append(files, fmt.Sprintf("%s=%d", strings.TrimSuffix(f, ".rsp"), n))
	}
	slices.Sort(files)
	t.Logf("C8: cases=%d mismatches=%d identity_hashes=%d %s", cases, mismatches, len(keys), strings.Join(files, " "))
}

func confUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
