package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlstore"
	"github.com/sealpost/sealpost/internal/directory/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "dir.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dir.db")
	newer := append(append([]string{}, Migrations...), "CREATE TABLE future (x INTEGER)")
	s, err := OpenWith(ctx, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sqlstore.SchemaVersion(ctx, s.DB()); v != len(newer) {
		t.Fatalf("version %d, want %d", v, len(newer))
	}
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("older program on newer schema: %v, want ErrSchemaTooNew", err)
	}
	// Reopening at the same version is a no-op.
	s, err = OpenWith(ctx, path, newer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A failing migration leaves the last good version.
	path2 := filepath.Join(t.TempDir(), "dir2.db")
	bad := append(append([]string{}, Migrations...), "CREATE TABLE oops (")
	if _, err := OpenWith(ctx, path2, bad); err == nil {
		t.Fatal("bad migration accepted")
	}
	s, err = Open(ctx, path2)
	if err != nil {
		t.Fatalf("reopen after failed migration: %v", err)
	}
	if v, _ := sqlstore.SchemaVersion(ctx, s.DB()); v != len(Migrations) {
		t.Fatalf("version after failed migration %d, want %d", v, len(Migrations))
	}
	s.Close()
}
