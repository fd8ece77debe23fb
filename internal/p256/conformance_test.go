package p256_test

// Primitive conformance tests C2 and C3 of shared/docs/testing.md: ECDSA
// P-256 verification over Wycheproof and NIST CAVP SigVer. Raw r ‖ s
// signatures (pair-ec, prekeys) go through p256.VerifyRaw; DER signatures go
// through ecdsa.VerifyASN1, the call pair.Open makes (pair has no wrapper of
// its own). Public keys are also decoded through identity.CompactKey where the
// compact form names them, since that is how pair-ec receives keys.
//
// This is an external test package: identity imports p256.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/p256"
	"github.com/sealpost/sealpost/internal/wycheproof"
)

// confTally counts cases and mismatches by flag.
type confTally struct {
	cases, mismatches int
	byResult          map[string]int
	byFlag            map[string][2]int // flag → {cases, mismatches}
}

func confNewTally() *confTally {
	return &confTally{byResult: map[string]int{}, byFlag: map[string][2]int{}}
}

func (c *confTally) add(tc *wycheproof.Test, mismatch bool) {
	c.cases++
	c.byResult[tc.Result]++
	m := 0
	if mismatch {
		c.mismatches++
		m = 1
	}
	for _, f := range tc.Flags {
		v := c.byFlag[f]
		c.byFlag[f] = [2]int{v[0] + 1, v[1] + m}
	}
}

// flags formats the per-flag counts as Flag=cases/mismatches, sorted.
func (c *confTally) flags() string {
	var out []string
	for f, v := range c.byFlag {
		out = append(out, fmt.Sprintf("%s=%d/%d", f, v[0], v[1]))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// confPublicKey decodes a Wycheproof group key with crypto/ecdsa, and also
// through our compact decoder. compact is nil when the key is not
// compactable (its y is the larger root): the compact form then names the
// negated point, which is checked instead.
func confPublicKey(t *testing.T, k wycheproof.ECPublicKey) (pub, compact *ecdsa.PublicKey) {
	t.Helper()
	if k.Curve != "secp256r1" {
		t.Fatalf("curve %q", k.Curve)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Uncompressed)
	if err != nil {
		t.Fatalf("public key %x: %v", k.Uncompressed, err)
	}
	ck, err := identity.ParseCompactKey(k.Uncompressed[1:33])
	if err != nil {
		t.Fatalf("compact key %x: %v", k.Uncompressed[1:33], err)
	}
	viaCompact, err := ck.PublicKey()
	if err != nil {
		t.Fatalf("compact key %x: %v", ck, err)
	}
	p := elliptic.P256().Params().P
	y := new(big.Int).SetBytes(k.Uncompressed[33:])
	smaller := new(big.Int).Lsh(y, 1).Cmp(p) <= 0
	switch {
	case viaCompact.X.Cmp(pub.X) != 0:
		t.Fatalf("compact key %x decodes to x=%x", ck, viaCompact.X)
	case smaller && viaCompact.Y.Cmp(y) == 0:
		return pub, viaCompact
	case !smaller && viaCompact.Y.Cmp(new(big.Int).Sub(p, y)) == 0:
		return pub, nil
	}
	t.Fatalf("compact key %x decodes to y=%x; the key's y is %x", ck, viaCompact.Y, y)
	return nil, nil
}

// TestConformanceC2ECDSAWycheproof runs Wycheproof ECDSA P-256/SHA-256: the
// DER file through ecdsa.VerifyASN1 and the P1363 file through VerifyRaw.
// Wycheproof has no P-256/SHA-1 file (pair's digest); C3 covers SHA-1 with
// CAVP.
func TestConformanceC2ECDSAWycheproof(t *testing.T) {
	t.Parallel()

	der := confNewTally()
	var f wycheproof.File[wycheproof.ECDSAGroup]
	wycheproof.Require(t, "ecdsa_secp256r1_sha256_test.json", &f)
	for _, g := range f.TestGroups {
		if g.SHA != "SHA-256" {
			t.Fatalf("DER group hash %q", g.SHA)
		}
		pub, _ := confPublicKey(t, g.PublicKey)
		for i := range g.Tests {
			tc := &g.Tests[i]
			digest := sha256.Sum256(tc.Msg)
			got := ecdsa.VerifyASN1(pub, digest[:], tc.Sig)
			mismatch := confMismatch(tc.Result, got)
			if mismatch {
				t.Errorf("DER %s: verified=%v", tc, got)
			}
			der.add(&tc.Test, mismatch)
		}
	}
	// The classes the bar names must all be there.
	for flag, n := range map[string]int{"InvalidEncoding": 92, "BerEncodedSignature": 7, "ModifiedSignature": 48} {
		if der.byFlag[flag][0] != n {
			t.Errorf("DER: %d %s cases, want %d", der.byFlag[flag][0], flag, n)
		}
	}

	raw, viaCompact := confNewTally(), 0
	var fr wycheproof.File[wycheproof.ECDSAGroup]
	wycheproof.Require(t, "ecdsa_secp256r1_sha256_p1363_test.json", &fr)
	for _, g := range fr.TestGroups {
		if g.SHA != "SHA-256" {
			t.Fatalf("P1363 group hash %q", g.SHA)
		}
		pub, compact := confPublicKey(t, g.PublicKey)
		for i := range g.Tests {
			tc := &g.Tests[i]
			digest := sha256.Sum256(tc.Msg)
			got := p256.VerifyRaw(pub, digest[:], tc.Sig)
			mismatch := confMismatch(tc.Result, got)
			if compact != nil {
				viaCompact++
				if c := p256.VerifyRaw(compact, digest[:], tc.Sig); c != got {
					mismatch = true
					t.Errorf("P1363 %s: VerifyRaw with the compact-decoded key says %v, with the full key %v", tc, c, got)
				}
			}
			if mismatch {
				t.Errorf("P1363 %s: verified=%v", tc, got)
			}
			raw.add(&tc.Test, mismatch)
		}
	}

	t.Logf("C2: der_cases=%d der_valid=%d der_invalid=%d der_mismatches=%d p1363_cases=%d p1363_valid=%d p1363_invalid=%d p1363_mismatches=%d p1363_via_compact_key=%d",
		der.cases, der.byResult[wycheproof.Valid], der.byResult[wycheproof.Invalid], der.mismatches,
		raw.cases, raw.byResult[wycheproof.Valid], raw.byResult[wycheproof.Invalid], raw.mismatches, viaCompact)
	t.Logf("C2 DER flags (cases/mismatches): %s", der.flags())
	t.Logf("C2 P1363 flags (cases/mismatches): %s", raw.flags())
}

// confMismatch reports whether a verification result contradicts the
// expected Wycheproof result. There are no "acceptable" ECDSA cases in these
// files; one would be a mismatch, so that a new one gets a written policy.
func confMismatch(result string, verified bool) bool {
	switch result {
	case wycheproof.Valid:
		return !verified
	case wycheproof.Invalid:
		return verified
	}
	return true
}

// confSigVerSection runs one SigVer section: each case through
// ecdsa.VerifyASN1 on a DER encoding of (R, S) (the pair path for SHA-1) and
// through VerifyRaw on R ‖ S. It returns the counts of expected passes and
// failures and the mismatches.
func confSigVerSection(t *testing.T, source string, recs []wycheproof.Record, section string, hash func([]byte) []byte) (pass, fail, mismatches int) {
	t.Helper()
	for _, r := range recs {
		if r.Section != section {
			continue
		}
		f := r.Fields
		msg, qx, qy, rr, ss := confUnhex(t, f["Msg"]), confUnhex(t, f["Qx"]), confUnhex(t, f["Qy"]), confUnhex(t, f["R"]), confUnhex(t, f["S"])
		var want bool
		switch {
		case strings.HasPrefix(f["Result"], "P"):
			want = true
			pass++
		case strings.HasPrefix(f["Result"], "F"):
			fail++
		default:
			t.Fatalf("%s line %d: Result %q", source, r.Line, f["Result"])
		}
		if len(qx) > 32 || len(qy) > 32 || len(rr) > 32 || len(ss) > 32 {
			t.Fatalf("%s line %d: field longer than 32 bytes", source, r.Line)
		}
		point := make([]byte, 65)
		point[0] = 4
		copy(point[33-len(qx):33], qx)
		copy(point[65-len(qy):], qy)
		digest := hash(msg)

		var gotDER, gotRaw bool
		if pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point); err == nil {
			sig, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(rr), new(big.Int).SetBytes(ss)})
			if err != nil {
				t.Fatal(err)
			}
			gotDER = ecdsa.VerifyASN1(pub, digest, sig)
			rs := make([]byte, 64)
			copy(rs[32-len(rr):32], rr)
			copy(rs[64-len(ss):], ss)
			gotRaw = p256.VerifyRaw(pub, digest, rs)
		} // a key that is not on the curve verifies nothing
		if gotDER != want || gotRaw != want {
			mismatches++
			t.Errorf("%s [%s] line %d (%s): VerifyASN1=%v VerifyRaw=%v", source, section, r.Line, f["Result"], gotDER, gotRaw)
		}
	}
	return pass, fail, mismatches
}

func confSHA1(b []byte) []byte   { h := sha1.Sum(b); return h[:] }
func confSHA256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func confUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceC3SigVer runs the CAVP ECDSA SigVer sections [P-256,SHA-1]
// (pair's signature) and [P-256,SHA-256] (pair-ec's) from GOROOT's
// SigVer.rsp.bz2, and the same sections of Debian's FIPS 186-3 file plus the
// FIPS 186-2 [P-256] section (SHA-1) when python3-cryptography-vectors is
// installed (optional: GOROOT's copy is the required source).
func TestConformanceC3SigVer(t *testing.T) {
	t.Parallel()
	goroot, err := wycheproof.GoEnv("GOROOT")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(goroot, "src", "crypto", "ecdsa", "testdata", "SigVer.rsp.bz2")
	recs, err := wycheproof.ReadRSP(path)
	if err != nil {
		t.Fatal(err)
	}
	p1, f1, m1 := confSigVerSection(t, "GOROOT SigVer.rsp", recs, "P-256,SHA-1", confSHA1)
	if p1 != 3 || f1 != 12 {
		t.Errorf("[P-256,SHA-1]: %d pass / %d fail, want exactly 3 / 12", p1, f1)
	}
	p2, f2, m2 := confSigVerSection(t, "GOROOT SigVer.rsp", recs, "P-256,SHA-256", confSHA256)
	if p2+f2 == 0 || p2 == 0 || f2 == 0 {
		t.Errorf("[P-256,SHA-256]: %d pass / %d fail", p2, f2)
	}
	t.Logf("C3: cases=%d pass=%d fail=%d mismatches=%d (SHA-1: %d/%d/%d, SHA-256: %d/%d/%d)",
		p1+f1+p2+f2, p1+p2, f1+f2, m1+m2, p1+f1, p1, f1, p2+f2, p2, f2)

	dir, err := wycheproof.DebianDir()
	if err != nil {
		t.Logf("C3 Debian: skipped (%v)", err)
		return
	}
	var cases, pass, fail, mismatches int
	for _, s := range []struct {
		file, section string
		hash          func([]byte) []byte
	}{
		{"FIPS_186-3/SigVer.rsp", "P-256,SHA-1", confSHA1},
		{"FIPS_186-3/SigVer.rsp", "P-256,SHA-256", confSHA256},
		{"FIPS_186-2/SigVer.rsp", "P-256", confSHA1}, // FIPS 186-2 signs with SHA-1
	} {
		recs, err := wycheproof.ReadRSP(filepath.Join(dir, "asymmetric", "ECDSA", filepath.FromSlash(s.file)))
		if err != nil {
			t.Fatal(err)
		}
		p, f, m := confSigVerSection(t, "Debian "+s.file, recs, s.section, s.hash)
		if p+f == 0 {
			t.Errorf("Debian %s: no [%s] cases", s.file, s.section)
		}
		cases, pass, fail, mismatches = cases+p+f, pass+p, fail+f, mismatches+m
	}
	t.Logf("C3 Debian: cases=%d pass=%d fail=%d mismatches=%d", cases, pass, fail, mismatches)
}
