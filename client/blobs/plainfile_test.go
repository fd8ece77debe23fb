package blobs

import (
	"bytes"
	mrand "math/rand/v2"
	"os"
	"testing"

	"github.com/sealpost/sealpost/internal/directio"
)

// TestPlainFile writes files whose sizes are and are not multiples of the
// direct-I/O alignment and buffer, in odd pieces, on the test folder's file
// system and on a tmpfs when there is one, and reads them back.
func TestPlainFile(t *testing.T) {
	dirs := []string{t.TempDir()}
	if shm, err := os.MkdirTemp("/dev/shm", "sealpost-blobs-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dirs = append(dirs, shm)
	}
	for _, dir := range dirs {
		for _, size := range []int{0, 1, directio.Align, directio.Align + 1, directBufSize, 3*directBufSize + 5, 5<<20 + 1} {
			data := make([]byte, size)
			mrand.NewChaCha8([32]byte{byte(size)}).Read(data)
			f, err := os.CreateTemp(dir, "plain")
			if err != nil {
				t.Fatal(err)
			}
			p := newPlainFile(f)
			for rest := data; len(rest) > 0; {
				k := min(len(rest), 7919)
				if n, err := p.Write(rest[:k]); n != k || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				rest = rest[k:]
			}
			if err := p.finish(); err != nil {
				t.Fatal(err)
			}
			if err := p.finish(); err != nil {
				t.Fatalf("second finish: %v", err)
			}
			f.Close()
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: size %d (direct %v): the file holds %d bytes, not what was written (%v)", dir, size, p.free != nil, len(got), err)
			}
		}
	}
}

// TestPlainFileWriteError: a file that cannot be written makes Write or
// finish fail, whatever the mode.
func TestPlainFileWriteError(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlainFile(f)
	f.Close()
	_, werr := p.Write(make([]byte, 3*directBufSize+1))
	if ferr := p.finish(); werr == nil && ferr == nil {
		t.Fatal("writing to a closed file succeeded")
	}
}
