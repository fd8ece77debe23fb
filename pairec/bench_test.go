package pairec_test

// Benchmarks of Seal and Open and, in the same run, of every primitive they
// perform, so that internal/benchratio can report each operation's cost as a
// ratio to the mathematics it cannot avoid. See BENCHMARKS.md.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./pair ./pairec | tee /tmp/sealpost-bench-payload.txt
//	go run ./internal/benchratio < /tmp/sealpost-bench-payload.txt
//
// Sub-benchmark names end in the size of the application message of the
// operation they belong to (100B, 4KiB, 16KiB); SetBytes reports the exact
// number of bytes each primitive processes for that size, which bnSizes
// documents.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/benchratio/cpuclock"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/pairec"
)

// bnSize is one message size and the byte counts the primitives of Seal and
// Open process for it (protocol.md §1.2), for an Inner holding only the
// message and a counter below 128.
type bnSize struct {
	name    string
	message int
	// padded is the encrypted length: InnerMessage ‖ R ‖ LE32(len R), with
	// len(InnerMessage) = 1 + len(varint(L)) + L + 2.
	padded int
	// pad is len R, the random padding bytes Seal draws.
	pad int
	// signed is 4·32 + padded: S ‖ prekey ‖ ephemeral ‖ device ‖ ciphertext.
	signed int
}

func bnSizeOf(name string, l int) bnSize {
	varint := 1
	for v := l; v >= 0x80; v >>= 7 {
		varint++
	}
	inner := 1 + varint + l + 2
	pad := (16 - inner%16) % 16
	padded := inner + pad + 4
	return bnSize{name: name, message: l, padded: padded, pad: pad, signed: 128 + padded}
}

var bnSizes = []bnSize{
	bnSizeOf("100B", 100),
	bnSizeOf("4KiB", 4<<10),
	bnSizeOf("16KiB", 16<<10),
}

var (
	bnSinkBytes []byte
	bnSinkBool  bool
	bnSinkInner *pairec.Inner
	bnSinkAny   any
	bnSinkSum   [32]byte
)

func BenchmarkBnSeal(b *testing.B) {
	alice, bob, _ := testkit.Parties(b)
	to := tkRecipient(bob)
	for _, sz := range bnSizes {
		b.Run(sz.name, func(b *testing.B) {
			in := &pairec.Inner{Message: testkit.Filler(sz.message), Counter: 1}
			b.SetBytes(int64(sz.message))
			cpuclock.Loop(b, func() error {
				out, err := pairec.Seal(alice, to, in)
				if err != nil {
					return err
				}
				bnSinkBytes = out
				return nil
			})
		})
	}
}

func BenchmarkBnOpen(b *testing.B) {
	alice, bob, _ := testkit.Parties(b)
	for _, sz := range bnSizes {
		b.Run(sz.name, func(b *testing.B) {
			msg := testkit.Filler(sz.message)
			payload, err := pairec.Seal(alice, tkRecipient(bob), &pairec.Inner{Message: msg, Counter: 1})
			if err != nil {
				b.Fatal(err)
			}
			if got, err := pairec.Open(bob, alice.DeviceKey(), payload); err != nil || !bytes.Equal(got.Message, msg) {
				b.Fatalf("round trip failed: %v", err)
			}
			b.SetBytes(int64(sz.message))
			cpuclock.Loop(b, func() error {
				out, err := pairec.Open(bob, alice.DeviceKey(), payload)
				if err != nil {
					return err
				}
				bnSinkInner = out
				return nil
			})
		})
	}
}

// BenchmarkBnPrim measures the primitives of Seal and Open alone, through
// standard-library calls, with the same keys and input sizes.
func BenchmarkBnPrim(b *testing.B) {
	alice, bob, _ := testkit.Parties(b)
	signer := alice.DeviceSigningKey()
	verifier, err := alice.DeviceKey().PublicKey()
	if err != nil {
		b.Fatal(err)
	}
	prekey := bob.PrekeyECDH()
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}

	// One P-256 key generation (a random scalar and one fixed-base scalar
	// multiplication). Seal needs 2 on average for a compactable key, since
	// exactly one of d and n−d gives the smaller y; benchratio counts it ×2.
	b.Run("P256-keygen", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			k, err := ecdh.P256().GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			bnSinkAny = k
			return nil
		})
	})

	// Point decompression (a square root in the field): the only way the
	// standard library turns a compressed P-256 key into a point.
	compressed := elliptic.MarshalCompressed(elliptic.P256(), verifier.X, verifier.Y)
	b.Run("P256-decompress", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			x, _ := elliptic.UnmarshalCompressed(elliptic.P256(), compressed)
			if x == nil {
				return errors.New("decompress failed")
			}
			bnSinkAny = x
			return nil
		})
	})

	// ECDH: one variable-base scalar multiplication.
	b.Run("ECDH-P256", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			s, err := eph.ECDH(prekey.PublicKey())
			if err != nil {
				return err
			}
			bnSinkBytes = s
			return nil
		})
	})

	secret, err := eph.ECDH(prekey.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("HKDF-SHA256-48B", func(b *testing.B) {
		salt := []byte("LastPawn-MessageKeys")
		cpuclock.Loop(b, func() error {
			k, err := hkdf.Key(sha256.New, secret, salt, "", 48)
			if err != nil {
				return err
			}
			bnSinkBytes = k
			return nil
		})
	})

	// ECDSA P-256 over a SHA-256 digest. The standard library signs only to
	// DER (or to big.Int r, s by decoding that DER), so the DER calls are the
	// primitive; converting to and from raw r ‖ s is counted as overhead.
	digest := sha256.Sum256(secret)
	sig, err := ecdsa.SignASN1(rand.Reader, signer, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ECDSA-P256-sign-DER", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			out, err := ecdsa.SignASN1(rand.Reader, signer, digest[:])
			if err != nil {
				return err
			}
			bnSinkBytes = out
			return nil
		})
	})
	b.Run("ECDSA-P256-verify-DER", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			if bnSinkBool = ecdsa.VerifyASN1(verifier, digest[:], sig); !bnSinkBool {
				return errors.New("verify failed")
			}
			return nil
		})
	})

	for _, sz := range bnSizes {
		b.Run("rand-pad/"+sz.name, func(b *testing.B) {
			pad := make([]byte, sz.pad)
			cpuclock.Loop(b, func() error {
				_, err := rand.Read(pad)
				return err
			})
		})
		// SHA-256 over S ‖ prekey ‖ ephemeral ‖ device ‖ ciphertext.
		b.Run("SHA-256/"+sz.name, func(b *testing.B) {
			in := testkit.Filler(sz.signed)
			b.SetBytes(int64(sz.signed))
			cpuclock.Loop(b, func() error {
				bnSinkSum = sha256.Sum256(in)
				return nil
			})
		})
		// AES-256-CTR over the padded inner message, key schedule included.
		b.Run("AES-256-CTR/"+sz.name, func(b *testing.B) {
			buf := testkit.Filler(sz.padded)
			key := make([]byte, 32)
			iv := make([]byte, 16)
			b.SetBytes(int64(sz.padded))
			cpuclock.Loop(b, func() error {
				c, err := aes.NewCipher(key)
				if err != nil {
					return err
				}
				cipher.NewCTR(c, iv).XORKeyStream(buf, buf)
				return nil
			})
		})
	}
}
