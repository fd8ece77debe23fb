package backend

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	for spec, dir := range map[string]string{
		"":                              filepath.Join(data, DefaultDir),
		"file://" + data + "/elsewhere": data + "/elsewhere",
		data + "/plain":                 data + "/plain",
	} {
		s, desc, err := Open(ctx, spec, data)
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		if got := s.(*fs.Store).Root(); got != dir || !strings.Contains(desc, dir) {
			t.Errorf("%q: folder %s (%s), want %s", spec, got, desc, dir)
		}
		s.Close()
	}
	for _, bad := range []string{"ftp://x", "file://host/x", "s3://nobucket", "blobs", "s3://AK:SK@127.0.0.1:1/b?tls=false&x=1"} {
		if _, _, err := Open(ctx, bad, data); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
