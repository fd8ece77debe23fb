package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlstore"
	"github.com/sealpost/sealpost/internal/directory/storage/storagetest"
)

// testDSN returns SEALPOST_TEST_POSTGRES, skipping the test when it is
// unset, except under CI, where a missing database is a failure.
func testDSN(t *testing.T) string {
	dsn := os.Getenv("SEALPOST_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SEALPOST_TEST_POSTGRES is not set under CI; .ci/setup.d/postgres.sh should export it")
		}
		t.Skip("SEALPOST_TEST_POSTGRES is not set; export a DSN to run the PostgreSQL tests")
	}
	return dsn
}

// freshSchema creates a uniquely named schema, drops it at cleanup, and
// returns a DSN whose search_path is that schema.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "sealpost_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("SEALPOST_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(context.Background(), freshSchema(t, dsn))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t, testDSN(t))
	newer := append(append([]string{}, Migrations...), "CREATE TABLE future (x INTEGER)")
	s, err := OpenWith(ctx, dsn, newer)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sqlstore.SchemaVersion(ctx, s.DB()); v != len(newer) {
		t.Fatalf("version %d, want %d", v, len(newer))
	}
	s.Close()
	if _, err := Open(ctx, dsn); !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("older program on newer schema: %v, want ErrSchemaTooNew", err)
	}
	// Concurrent openers of a fresh schema migrate once.
	dsn2 := freshSchema(t, testDSN(t))
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := Open(ctx, dsn2)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
}
