package pair_test

// Benchmarks of Seal and Open and, in the same run, of every primitive they
// perform, so that internal/benchratio can report each operation's cost as a
// ratio to the mathematics it cannot avoid. See BENCHMARKS.md.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./pair ./pairec | tee /tmp/sealpost-bench-payload.txt
//	go run ./internal/benchratio < /tmp/sealpost-bench-payload.txt
//
// Sub-benchmark names end in the plaintext size of the operation they belong
// to (100B, 4KiB, 16KiB); SetBytes reports the exact number of bytes each
// primitive processes for that plaintext size, which bnSizes documents.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/benchratio/cpuclock"
	"github.com/sealpost/sealpost/internal/testkit"
	"github.com/sealpost/sealpost/pair"
)

// bnSize is one plaintext size and the byte counts the primitives of Seal
// and Open process for it (protocol.md §1.1).
type bnSize struct {
	name string
	// plaintext is L, the bytes AES-128-CTR runs over.
	plaintext int
	// hmacInput is L + 1 + 32 + 32: M ‖ 0x02 ‖ H(sender) ‖ H(receiver).
	hmacInput int
	// body is the signed data, 160 + max(0, L−100): RSA block ‖ C[100:].
	body int
	// wrapped is the RSA-OAEP plaintext, 16 + min(L, 100): K ‖ C[:100].
	wrapped int
}

func bnSizeOf(name string, l int) bnSize {
	return bnSize{name: name, plaintext: l, hmacInput: l + 65, body: 160 + max(0, l-100), wrapped: 16 + min(l, 100)}
}

var bnSizes = []bnSize{
	bnSizeOf("100B", 100),
	bnSizeOf("4KiB", 4<<10),
	bnSizeOf("16KiB", 16<<10),
}

var (
	bnSinkBytes  []byte
	bnSinkBool   bool
	bnSinkDigest [32]byte
)

func BenchmarkBnSeal(b *testing.B) {
	alice, bob, _ := testkit.Parties(b)
	for _, sz := range bnSizes {
		b.Run(sz.name, func(b *testing.B) {
			pt := testkit.Filler(sz.plaintext)
			b.SetBytes(int64(sz.plaintext))
			cpuclock.Loop(b, func() error {
				out, err := pair.Seal(alice, bob.Public(), pt)
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
			pt := testkit.Filler(sz.plaintext)
			payload, err := pair.Seal(alice, bob.Public(), pt)
			if err != nil {
				b.Fatal(err)
			}
			if got, err := pair.Open(bob, alice.Public(), payload); err != nil || !bytes.Equal(got, pt) {
				b.Fatalf("round trip failed: %v", err)
			}
			b.SetBytes(int64(sz.plaintext))
			cpuclock.Loop(b, func() error {
				out, err := pair.Open(bob, alice.Public(), payload)
				if err != nil {
					return err
				}
				bnSinkBytes = out
				return nil
			})
		})
	}
}

// BenchmarkBnPrim measures the primitives of Seal and Open alone, through the
// same standard-library calls, with the same keys and input sizes.
func BenchmarkBnPrim(b *testing.B) {
	alice, bob, _ := testkit.Parties(b)
	rsaPub := bob.Public().EncryptionKey()
	rsaPriv := bob.EncryptionKey()
	signer := alice.SigningKey()
	verifier := alice.Public().SigningKey()

	b.Run("rand-11B", func(b *testing.B) {
		var seed [11]byte
		cpuclock.Loop(b, func() error {
			_, err := rand.Read(seed[:])
			return err
		})
	})

	// RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) of K ‖ C[:100]: 116 bytes
	// for every plaintext of 100 bytes or more, which all sizes here are.
	wrapped := testkit.Filler(bnSizes[0].wrapped)
	block, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, rsaPub, wrapped, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("RSA-OAEP-SHA1-encrypt", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			out, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, rsaPub, wrapped, nil)
			if err != nil {
				return err
			}
			bnSinkBytes = out
			return nil
		})
	})
	b.Run("RSA-OAEP-SHA1-decrypt", func(b *testing.B) {
		cpuclock.Loop(b, func() error {
			out, err := rsa.DecryptOAEP(sha1.New(), nil, rsaPriv, block, nil)
			if err != nil {
				return err
			}
			bnSinkBytes = out
			return nil
		})
	})

	// ECDSA P-256 over a SHA-1 digest, DER signatures.
	digest := sha1.Sum(wrapped)
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
		// SHA-1 over the signed body.
		b.Run("SHA-1/"+sz.name, func(b *testing.B) {
			in := testkit.Filler(sz.body)
			b.SetBytes(int64(sz.body))
			cpuclock.Loop(b, func() error {
				d := sha1.Sum(in)
				copy(bnSinkDigest[:], d[:])
				return nil
			})
		})
		// HMAC-SHA256 keyed with the 11-byte seed over M ‖ 0x02 ‖ H ‖ H.
		b.Run("HMAC-SHA256/"+sz.name, func(b *testing.B) {
			in := testkit.Filler(sz.hmacInput)
			key := make([]byte, 11)
			b.SetBytes(int64(sz.hmacInput))
			cpuclock.Loop(b, func() error {
				m := hmac.New(sha256.New, key)
				m.Write(in)
				m.Sum(bnSinkDigest[:0])
				return nil
			})
		})
		// AES-128-CTR over the plaintext, key schedule included.
		b.Run("AES-128-CTR/"+sz.name, func(b *testing.B) {
			in := testkit.Filler(sz.plaintext)
			out := make([]byte, sz.plaintext)
			key := make([]byte, 16)
			iv := make([]byte, 16)
			b.SetBytes(int64(sz.plaintext))
			cpuclock.Loop(b, func() error {
				c, err := aes.NewCipher(key)
				if err != nil {
					return err
				}
				cipher.NewCTR(c, iv).XORKeyStream(out, in)
				return nil
			})
		})
	}
}
