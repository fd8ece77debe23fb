package attachment

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/sealpost/sealpost/internal/benchratio/cpuclock"
)

// The streaming benchmarks process 1 MiB per operation (SetBytes), so their
// MB/s figures compare directly. They loop over b.N rather than use b.Loop:
// with b.Loop, the testing package may keep the measurement taken during its
// first probe run, under the default GOMAXPROCS, for the first -cpu value,
// which would mislabel a parallel figure as a -cpu 1 one. The primitives alone come first; the ratio of
// BenchmarkEncryptSignatureOnly to the slower of BenchmarkAES256CTR and
// BenchmarkSHA1 is the figure recorded in BENCHMARKS.md.

const benchWrite = 1 << 20

// Besides wall time, every benchmark reports the process's CPU time per
// operation (cpu-ns/op) and the throughput per CPU second (cpu-MB/s). On a
// shared machine these exclude the time other processes held the CPU. With
// -cpu 1 they measure the one core; with more, cpu-MB/s counts the work of
// all helper goroutines, so parallel speed-ups show only in the wall-time
// MB/s.

// startCPU resets the benchmark timer and starts measuring CPU time for
// b.N operations of n bytes each.
func startCPU(b *testing.B, n int64) *cpuclock.Meter {
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	return cpuclock.Start(b, n)
}

func BenchmarkAES256CTR(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, 32))
	s := cipher.NewCTR(block, make([]byte, 16))
	src, dst := make([]byte, benchWrite), make([]byte, benchWrite)
	m := startCPU(b, benchWrite)
	for range b.N {
		s.XORKeyStream(dst, src)
	}
	m.Stop()
}

func BenchmarkSHA1(b *testing.B) {
	h := sha1.New()
	buf := make([]byte, benchWrite)
	m := startCPU(b, benchWrite)
	for range b.N {
		h.Write(buf)
	}
	m.Stop()
}

func BenchmarkSHA256(b *testing.B) {
	h := sha256.New()
	buf := make([]byte, benchWrite)
	m := startCPU(b, benchWrite)
	for range b.N {
		h.Write(buf)
	}
	m.Stop()
}

// benchEncrypter streams b.N writes of 1 MiB through one Encrypter; Close,
// which waits for the hashes still in flight, is inside the timed region.
func benchEncrypter(b *testing.B, opts Options) {
	buf := make([]byte, benchWrite)
	e := NewEncrypterOptions(io.Discard, NewKey(), opts)
	m := startCPU(b, benchWrite)
	for range b.N {
		e.Write(buf)
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	m.Stop()
}

// BenchmarkEncrypt is the whole pipeline: AES-256-CTR, signature (SHA-1) and
// chunk checksums (SHA-256).
func BenchmarkEncrypt(b *testing.B) { benchEncrypter(b, Options{}) }

// BenchmarkEncryptSignatureOnly is AES-256-CTR and the signature.
func BenchmarkEncryptSignatureOnly(b *testing.B) {
	benchEncrypter(b, Options{SkipChunkChecksums: true})
}

// BenchmarkHasher is the signature and chunk checksums of ciphertext, as a
// blob store computes them.
func BenchmarkHasher(b *testing.B) {
	h := NewHasher()
	buf := make([]byte, benchWrite)
	m := startCPU(b, benchWrite)
	for range b.N {
		h.Write(buf)
	}
	m.Stop()
}

// benchCiphertext is 16 MiB of ciphertext for the decryption benchmarks,
// small enough that one operation stays well under the benchmark time (the
// testing package keeps a first probe run that exceeds it, and that probe
// runs under the default GOMAXPROCS whatever -cpu says).
func benchCiphertext(b *testing.B) ([]byte, Key, Signature) {
	key := NewKey()
	var ct bytes.Buffer
	sum, err := Encrypt(&ct, io.LimitReader(zeroReader{}, 16<<20), key)
	if err != nil {
		b.Fatal(err)
	}
	return ct.Bytes(), key, sum.Signature
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkDecrypt is both passes (verify, then decrypt and re-hash) over an
// in-memory 16 MiB ciphertext; MB/s counts each ciphertext byte once.
func BenchmarkDecrypt(b *testing.B) {
	ct, key, sig := benchCiphertext(b)
	r := bytes.NewReader(ct)
	m := startCPU(b, int64(len(ct)))
	for range b.N {
		if err := Decrypt(io.Discard, r, int64(len(ct)), key, sig); err != nil {
			b.Fatal(err)
		}
	}
	m.Stop()
}

// BenchmarkVerify is the first pass alone.
func BenchmarkVerify(b *testing.B) {
	ct, _, sig := benchCiphertext(b)
	r := bytes.NewReader(ct)
	m := startCPU(b, int64(len(ct)))
	for range b.N {
		if err := Verify(r, int64(len(ct)), sig); err != nil {
			b.Fatal(err)
		}
	}
	m.Stop()
}

// BenchmarkDecrypter is the one-pass download path: AES-256-CTR and the
// signature (SHA-1) over a stream written 1 MiB at a time. The signature
// does not match (the input is zeros); Close still does all the work.
func BenchmarkDecrypter(b *testing.B) {
	buf := make([]byte, benchWrite)
	d := NewDecrypter(io.Discard, NewKey(), int64(b.N)*benchWrite, Signature{})
	m := startCPU(b, benchWrite)
	for range b.N {
		if _, err := d.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(); err != ErrCannotOpen {
		b.Fatal(err)
	}
	m.Stop()
}
