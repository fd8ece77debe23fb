// Package backend is the one place where a blob storage backend is chosen
// from configuration. Only the server links it (and through it the S3
// client); the SDK and the CLI never do.
package backend

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
	"github.com/sealpost/sealpost/internal/blobs/storage/s3"
)

// DefaultDir is the folder of the default backend inside the data folder.
const DefaultDir = "blobs"

// Open opens the store that spec names:
//
//	""                          files in <dataDir>/blobs
//	/path or file:///path       files in that folder
//	s3://KEY:SECRET@host:port/bucket[/prefix]?region=R&tls=false
//	                            an S3-compatible object store (see package s3)
//
// It returns the store and a short description of it for logs (without
// credentials).
func Open(ctx context.Context, spec, dataDir string) (storage.Store, string, error) {
	switch {
	case spec == "":
		dir := filepath.Join(dataDir, DefaultDir)
		s, err := fs.Open(dir)
		return s, "files in " + dir, err
	case strings.HasPrefix(spec, "file://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host != "" || u.Path == "" {
			return nil, "", fmt.Errorf("blob store %q: want file:///absolute/path", spec)
		}
		s, err := fs.Open(u.Path)
		return s, "files in " + u.Path, err
	case strings.HasPrefix(spec, "s3://"):
		cfg, err := s3.ParseURL(spec)
		if err != nil {
			return nil, "", err
		}
		s, err := s3.Open(ctx, cfg)
		return s, cfg.String(), err
	case strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "."):
		s, err := fs.Open(spec)
		return s, "files in " + spec, err
	}
	return nil, "", fmt.Errorf("blob store %q: want a folder, file:///path or s3://key:secret@host/bucket", spec)
}
