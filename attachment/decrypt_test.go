package attachment

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sealed is an encrypted test file.
type sealed struct {
	pt, ct []byte
	key    Key
	sig    Signature
}

func seal(t testing.TB, n int, seed uint64) sealed {
	t.Helper()
	s := sealed{pt: randomBytes(n, seed), key: NewKey()}
	var ct bytes.Buffer
	sum, err := Encrypt(&ct, bytes.NewReader(s.pt), s.key)
	if err != nil {
		t.Fatal(err)
	}
	s.ct, s.sig = ct.Bytes(), sum.Signature
	if s.sig != refSignature(s.ct) {
		t.Fatal("signature differs from reference")
	}
	return s
}

func TestDecryptRoundTrip(t *testing.T) {
	for _, n := range testSizes {
		s := seal(t, n, uint64(n)+100)
		modes(t, func(t *testing.T, parallel bool) {
			var out bytes.Buffer
			if err := decrypt(&out, bytes.NewReader(s.ct), int64(n), s.key, s.sig, parallel); err != nil {
				t.Fatalf("size %d: %v", n, err)
			}
			if !bytes.Equal(out.Bytes(), s.pt) {
				t.Fatalf("size %d: plaintext differs", n)
			}
			if err := verify(bytes.NewReader(s.ct), int64(n), s.sig, parallel); err != nil {
				t.Fatalf("size %d: verify: %v", n, err)
			}
		})
		// And through the exported functions.
		var out bytes.Buffer
		if err := Decrypt(&out, bytes.NewReader(s.ct), int64(n), s.key, s.sig); err != nil || !bytes.Equal(out.Bytes(), s.pt) {
			t.Fatalf("size %d: Decrypt = %v", n, err)
		}
		if err := Verify(bytes.NewReader(s.ct), int64(n), s.sig); err != nil {
			t.Fatalf("size %d: Verify = %v", n, err)
		}
	}
}

// tamperCases are the E9 attacks on a stored attachment. Each returns the
// ciphertext, stated size, key and signature the recipient is handed, and the
// reason the package must find.
func tamperCases(s, other sealed) []struct {
	name   string
	ct     []byte
	size   int64
	key    Key
	sig    Signature
	reason error
} {
	n := len(s.ct)
	ext := append(bytes.Clone(s.ct), 0x00)
	return []struct {
		name   string
		ct     []byte
		size   int64
		key    Key
		sig    Signature
		reason error
	}{
		{"flip first byte", flipped(s.ct, 0), int64(n), s.key, s.sig, failSignature},
		{"flip middle byte", flipped(s.ct, n/2), int64(n), s.key, s.sig, failSignature},
		{"flip last byte", flipped(s.ct, n-1), int64(n), s.key, s.sig, failSignature},
		{"truncated, true size", s.ct[:n-1], int64(n - 1), s.key, s.sig, failSignature},
		{"truncated, stated size", s.ct[:n-1], int64(n), s.key, s.sig, failShort},
		{"extended, true size", ext, int64(n + 1), s.key, s.sig, failSignature},
		{"extended, stated size", ext, int64(n), s.key, s.sig, failLong},
		{"another file's ciphertext", other.ct, int64(len(other.ct)), s.key, s.sig, failSignature},
		{"another file's signature", s.ct, int64(n), s.key, other.sig, failSignature},
		{"another file, its key, our signature", other.ct, int64(len(other.ct)), other.key, s.sig, failSignature},
		{"signature type byte changed", s.ct, int64(n), s.key, Signature(append([]byte{0x80}, s.sig[1:]...)), failSignature},
		{"zero signature", s.ct, int64(n), s.key, Signature{}, failSignature},
		{"negative size", s.ct, -1, s.key, s.sig, failSize},
	}
}

func TestTamperRefused(t *testing.T) {
	defer waitStageGoroutines(t, 0)
	for _, n := range []int{1000, 3*blockSize + 5} {
		s, other := seal(t, n, 1), seal(t, n, 2)
		for _, c := range tamperCases(s, other) {
			t.Run(c.name, func(t *testing.T) {
				modes(t, func(t *testing.T, parallel bool) {
					var w countingWriter
					if err := decrypt(&w, bytes.NewReader(c.ct), c.size, c.key, c.sig, parallel); err != c.reason {
						t.Fatalf("reason %v, want %v", err, c.reason)
					}
					if w.n != 0 {
						t.Fatalf("%d plaintext bytes released", w.n)
					}
					if err := verify(bytes.NewReader(c.ct), c.size, c.sig, parallel); err != c.reason {
						t.Fatalf("verify reason %v, want %v", err, c.reason)
					}
				})
				var w countingWriter
				if err := Decrypt(&w, bytes.NewReader(c.ct), c.size, c.key, c.sig); err != ErrCannotOpen {
					t.Fatalf("Decrypt = %v, want ErrCannotOpen", err)
				}
				if w.n != 0 {
					t.Fatalf("%d plaintext bytes released", w.n)
				}
				if err := Verify(bytes.NewReader(c.ct), c.size, c.sig); err != ErrCannotOpen {
					t.Fatalf("Verify = %v, want ErrCannotOpen", err)
				}
				dir := t.TempDir()
				final := filepath.Join(dir, "photo.jpg")
				if err := DecryptFile(final, bytes.NewReader(c.ct), c.size, c.key, c.sig); err != ErrCannotOpen {
					t.Fatalf("DecryptFile = %v, want ErrCannotOpen", err)
				}
				assertDirEntries(t, dir)
			})
		}
	}
}

// A key that does not belong to the file is not detected here: the signature
// covers the ciphertext only. The result is garbage of the right length; the
// message layer, which authenticates key and signature together, is what
// catches a swapped key.
func TestWrongKeyYieldsGarbage(t *testing.T) {
	s := seal(t, 1000, 3)
	var out bytes.Buffer
	if err := Decrypt(&out, bytes.NewReader(s.ct), int64(len(s.ct)), NewKey(), s.sig); err != nil {
		t.Fatalf("Decrypt with wrong key = %v (documented: nil)", err)
	}
	if out.Len() != len(s.pt) || bytes.Equal(out.Bytes(), s.pt) {
		t.Fatal("wrong key gave the plaintext back")
	}
}

// changingReaderAt serves data, and right before the second read at offset 0
// (the start of the second pass) applies change to it.
type changingReaderAt struct {
	data   []byte
	change func([]byte) []byte
	starts int
}

func (r *changingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		r.starts++
		if r.starts == 2 {
			r.data = r.change(r.data)
		}
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

func TestChangedBetweenPasses(t *testing.T) {
	s := seal(t, 3*blockSize+5, 4)
	changes := map[string]func([]byte) []byte{
		"flip last byte":  func(b []byte) []byte { return flipped(b, len(b)-1) },
		"flip first byte": func(b []byte) []byte { return flipped(b, 0) },
		"truncate":        func(b []byte) []byte { return b[:len(b)-1] },
		"replace":         func(b []byte) []byte { return randomBytes(len(b), 5) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			modes(t, func(t *testing.T, parallel bool) {
				r := &changingReaderAt{data: bytes.Clone(s.ct), change: change}
				if err := decrypt(io.Discard, r, int64(len(s.ct)), s.key, s.sig, parallel); err != failChanged {
					t.Fatalf("reason %v, want %v", err, failChanged)
				}
			})
			r := &changingReaderAt{data: bytes.Clone(s.ct), change: change}
			if err := Decrypt(io.Discard, r, int64(len(s.ct)), s.key, s.sig); err != ErrCannotOpen {
				t.Fatalf("Decrypt = %v", err)
			}
			dir := t.TempDir()
			r = &changingReaderAt{data: bytes.Clone(s.ct), change: change}
			if err := DecryptFile(filepath.Join(dir, "f"), r, int64(len(s.ct)), s.key, s.sig); err != ErrCannotOpen {
				t.Fatalf("DecryptFile = %v", err)
			}
			assertDirEntries(t, dir)
		})
	}
}

func TestDecryptFile(t *testing.T) {
	s := seal(t, 2*blockSize+7, 6)
	dir := t.TempDir()
	final := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The source is a file too, as after a download.
	srcPath := filepath.Join(dir, "download.bin")
	if err := os.WriteFile(srcPath, s.ct, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := DecryptFile(final, f, int64(len(s.ct)), s.key, s.sig); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(final)
	if err != nil || !bytes.Equal(got, s.pt) {
		t.Fatalf("final file wrong: %v", err)
	}
	fi, err := os.Stat(final)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	assertDirEntries(t, dir, "download.bin", "photo.jpg")

	// A directory that does not exist: an ordinary error, not ErrCannotOpen.
	if err := DecryptFile(filepath.Join(dir, "no", "such"), f, int64(len(s.ct)), s.key, s.sig); err == nil || err == ErrCannotOpen {
		t.Fatalf("DecryptFile into missing dir = %v", err)
	}
}

// assertDirEntries checks that dir holds exactly the named entries: no final
// file and no temporary file after a refusal.
func assertDirEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}

// failingReaderAt is a source of size bytes that fails for reads past after.
type failingReaderAt struct{ after, size int64 }

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	if off+int64(len(p)) > r.after {
		return 0, errTest
	}
	return len(p), nil
}

func TestDecryptIOErrors(t *testing.T) {
	defer waitStageGoroutines(t, 0)
	s := seal(t, 2*blockSize, 7)
	// Reader errors pass through (wrapped), they are not verification failures.
	for _, after := range []int64{0, blockSize + 1} {
		err := Decrypt(io.Discard, failingReaderAt{after, int64(len(s.ct))}, int64(len(s.ct)), s.key, s.sig)
		if !errors.Is(err, errTest) || err == ErrCannotOpen {
			t.Fatalf("reader failing after %d: %v", after, err)
		}
	}
	// A failing length probe too.
	if err := Decrypt(io.Discard, failingReaderAt{0, 1 << 40}, int64(len(s.ct)), s.key, s.sig); !errors.Is(err, errTest) {
		t.Fatalf("failing probe: %v", err)
	}
	// Writer errors likewise.
	err := Decrypt(&errWriter{limit: 10, err: errTest}, bytes.NewReader(s.ct), int64(len(s.ct)), s.key, s.sig)
	if !errors.Is(err, errTest) {
		t.Fatalf("failing writer: %v", err)
	}
	if err := Decrypt(shortWriter{}, bytes.NewReader(s.ct), int64(len(s.ct)), s.key, s.sig); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short writer: %v", err)
	}
}
