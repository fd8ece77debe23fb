package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

// Migrate brings db to the schema version len(migrations): migration i
// (0-based) takes the schema from version i to i+1; its statements are
// separated by semicolons (so none may contain one). The version lives in
// the one-row table schema_version. Each migration runs in its own
// transaction together with the version bump, so a failure leaves the
// database at the last good version.
//
// Migrate refuses (storage.ErrSchemaTooNew) to touch a database whose
// version is higher than len(migrations): it was written by a newer
// program, and running backwards could lose data.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, migrations []string) error {
	s := &Store{d: d}
	for {
		done, err := migrateOne(ctx, db, s, d, migrations)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, and reports whether the
// schema is up to date.
func migrateOne(ctx context.Context, db *sql.DB, s *Store, d Dialect, migrations []string) (bool, error) {
	tx, err := db.BeginTx(ctx, nil) // the migration lock serializes migrators
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, d.LockMigrations); err != nil {
			return false, fmt.Errorf("%s: lock for migration: %w", d.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return false, fmt.Errorf("%s: create schema_version: %w", d.Name, err)
	}
	var version int
	err = tx.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (0)"); err != nil {
			return false, err
		}
		version = 0
	case err != nil:
		return false, fmt.Errorf("%s: read schema version: %w", d.Name, err)
	}
	if version > len(migrations) {
		return false, fmt.Errorf("%w: the %s database is at schema version %d, this sealpostd knows up to %d; run a newer sealpostd or restore a backup",
			storage.ErrSchemaTooNew, d.Name, version, len(migrations))
	}
	if version == len(migrations) {
		return true, tx.Commit()
	}
	for _, stmt := range strings.Split(migrations[version], ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("%s: migration %d: %w", d.Name, version+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind("UPDATE schema_version SET version = ?"), version+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

// SchemaVersion returns the database's schema version (0 if none).
func SchemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
