package blobs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkUploadDownload moves one 256 MiB file up and down through an
// in-process server (fs backend) over TLS on loopback: client and server
// work together, for profiles. cmd/blobload measures them apart.
func BenchmarkUploadDownload(b *testing.B) {
	e := newEnv(b)
	src, _ := e.file("src", 1, 256<<20)
	ctx := context.Background()
	b.SetBytes(256 << 20)
	for b.Loop() {
		up, err := e.client.UploadFile(ctx, src, nil)
		if err != nil {
			b.Fatal(err)
		}
		dest := filepath.Join(e.dir, "dest")
		if err := e.client.DownloadFile(ctx, up.URI, up.Key, up.Signature, up.Size, dest, nil); err != nil {
			b.Fatal(err)
		}
		os.Remove(dest)
	}
}
