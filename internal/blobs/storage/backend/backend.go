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

// Spec is a parsed blob store setting: a folder, or an S3 bucket.
type Spec struct {
	Dir string     // files in this folder, when S3 is nil
	S3  *s3.Config // an S3-compatible object store
}

// Parse reads a blob store setting without touching anything:
//
//	""                          files in <dataDir>/blobs
//	/path or file:///path       files in that folder
//	s3://KEY:SECRET@host:port/bucket[/prefix]?region=R&tls=false
//	                            an S3-compatible object store (see package s3)
func Parse(spec, dataDir string) (Spec, error) {
	switch {
	case spec == "":
		return Spec{Dir: filepath.Join(dataDir, DefaultDir)}, nil
	case strings.HasPrefix(spec, "file://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host != "" || u.Path == "" {
			return Spec{}, fmt.Errorf("blob store %q: want file:///absolute/path", spec)
		}
		return Spec{Dir: u.Path}, nil
	case strings.HasPrefix(spec, "s3://"):
		cfg, err := s3.ParseURL(spec)
		if err != nil {
			return Spec{}, err
		}
		return Spec{S3: &cfg}, nil
	case strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "."):
		return Spec{Dir: spec}, nil
	}
	return Spec{}, fmt.Errorf("blob store %q: want a folder, file:///path or s3://key:secret@host/bucket", spec)
}

// Open opens the store that spec names (see Parse). It returns the store
// and a short description of it for logs (without credentials).
func Open(ctx context.Context, spec, dataDir string) (storage.Store, string, error) {
	sp, err := Parse(spec, dataDir)
	if err != nil {
		return nil, "", err
	}
	if sp.S3 != nil {
		s, err := s3.Open(ctx, *sp.S3)
		return s, sp.S3.String(), err
	}
	s, err := fs.Open(sp.Dir)
	return s, "files in " + sp.Dir, err
}
