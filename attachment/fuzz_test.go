package attachment

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// FuzzDecrypt checks that Decrypt and a Decrypter give back what Encrypt was
// given, and that both refuse the ciphertext with any one byte changed,
// removed or inserted (Decrypt without releasing a byte).
func FuzzDecrypt(f *testing.F) {
	key := testKey()
	f.Fuzz(func(t *testing.T, pt []byte, pos uint, delta byte) {
		var buf bytes.Buffer
		sum, err := Encrypt(&buf, bytes.NewReader(pt), key)
		if err != nil {
			t.Fatal(err)
		}
		ct := buf.Bytes()
		if !bytes.Equal(ct, refCTR(t, key, pt)) || sum.Signature != refSignature(ct) || !slices.Equal(sum.Chunks, refChunks(ct)) {
			t.Fatal("Encrypt differs from the reference")
		}
		var out bytes.Buffer
		if err := Decrypt(&out, bytes.NewReader(ct), int64(len(ct)), key, sum.Signature); err != nil || !bytes.Equal(out.Bytes(), pt) {
			t.Fatalf("round trip failed: %v", err)
		}
		out.Reset()
		d := NewDecrypter(&out, key, int64(len(ct)), sum.Signature)
		if _, err := d.ReadFrom(bytes.NewReader(ct)); err != nil || d.Close() != nil || !bytes.Equal(out.Bytes(), pt) {
			t.Fatalf("Decrypter round trip failed: %v", err)
		}

		refuse := func(what string, bad []byte) {
			t.Helper()
			var w countingWriter
			if err := Decrypt(&w, bytes.NewReader(bad), int64(len(bad)), key, sum.Signature); err != ErrCannotOpen || w.n != 0 {
				t.Fatalf("%s: Decrypt = %v after %d bytes", what, err, w.n)
			}
			d := NewDecrypter(io.Discard, key, int64(len(ct)), sum.Signature)
			d.Write(bad)
			if err := d.Close(); err != ErrCannotOpen {
				t.Fatalf("%s: Decrypter.Close = %v", what, err)
			}
		}
		if delta == 0 {
			delta = 1
		}
		if len(ct) > 0 {
			i := int(pos % uint(len(ct)))
			changed := bytes.Clone(ct)
			changed[i] ^= delta
			refuse("changed byte", changed)
			refuse("removed byte", slices.Delete(bytes.Clone(ct), i, i+1))
		}
		i := int(pos % uint(len(ct)+1))
		refuse("inserted byte", slices.Insert(bytes.Clone(ct), i, delta))
	})
}
