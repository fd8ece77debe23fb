// Package backend opens the directory's storage from one DSN. It is the
// one place that knows every backend, and with the server assembly the
// only importer of database drivers:
//
//	""                          SQLite at <data>/directory.db (the default)
//	sqlite:///abs/path.db       SQLite at that path
//	sqlite:relative/path.db     SQLite at that path, relative to the data folder
//	/path/file.db, file.db      SQLite (a bare path; relative to the data folder)
//	postgres://..., postgresql://...   PostgreSQL (pgx connection string)
package backend

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/postgres"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlite"
)

// DefaultFile is the SQLite file in the data folder when the DSN is empty.
const DefaultFile = "directory.db"

// Open opens and migrates the store named by dsn; relative SQLite paths
// are taken from dataDir.
func Open(ctx context.Context, dsn, dataDir string) (storage.Store, error) {
	kind, target, err := Parse(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return postgres.Open(ctx, target)
	}
	return sqlite.Open(ctx, target)
}

// Parse returns the backend ("sqlite" or "postgres") and its target (a
// file path or a pgx DSN) for dsn.
func Parse(dsn, dataDir string) (kind, target string, err error) {
	switch {
	case dsn == "":
		return "sqlite", filepath.Join(dataDir, DefaultFile), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		dsn = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		dsn = strings.TrimPrefix(dsn, "sqlite:")
	case strings.Contains(dsn, "://"):
		return "", "", errors.New("directory DSN: unknown scheme; use sqlite:///path/file.db, a file path, or postgres://user@host/db")
	}
	if dsn == "" || strings.ContainsAny(dsn, "?#") {
		return "", "", errors.New("directory DSN: a SQLite path must be non-empty and must not contain ? or #")
	}
	if !filepath.IsAbs(dsn) {
		dsn = filepath.Join(dataDir, dsn)
	}
	return "sqlite", dsn, nil
}
