// Package postgres is the directory's storage backend for several
// sealpostd nodes: PostgreSQL through pgx (its database/sql adapter).
//
// Write transactions run SERIALIZABLE and are retried on serialization
// failures and deadlocks, so the contracts of storage.Store (for example
// "at most maxDevices devices per account" under concurrent registrations
// from several nodes) hold across nodes. Reads are single statements.
//
// The DSN is a pgx connection string, e.g.
// postgres://user@127.0.0.1:5432/sealpost?sslmode=disable; a search_path
// parameter selects a schema. Migrations hold a transaction-scoped advisory
// lock, so nodes starting together migrate once. Open refuses a database
// from a newer version (storage.ErrSchemaTooNew).
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/sealpost/sealpost/internal/directory/storage/sqlstore"
)

// Migrations are the schema versions, oldest first. Never edit one that
// has shipped; append a new one.
var Migrations = []string{
	// 1: accounts, handles, devices, pending codes, secrets.
	`CREATE TABLE accounts (id TEXT PRIMARY KEY, created BIGINT NOT NULL);
	CREATE TABLE handles (handle TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), verified BIGINT NOT NULL);
	CREATE INDEX handles_account ON handles(account);
	CREATE TABLE devices (
		id BYTEA PRIMARY KEY,
		account TEXT NOT NULL REFERENCES accounts(id),
		identity BYTEA NOT NULL,
		device_key BYTEA NOT NULL,
		signed_prekey BYTEA NOT NULL,
		push_token BYTEA NOT NULL UNIQUE,
		schemes TEXT NOT NULL,
		max_payload INTEGER NOT NULL,
		name TEXT NOT NULL,
		registered BIGINT NOT NULL,
		updated BIGINT NOT NULL
	);
	CREATE INDEX devices_account ON devices(account, registered, id);
	CREATE TABLE codes (
		handle TEXT NOT NULL,
		device BYTEA NOT NULL,
		digest BYTEA NOT NULL,
		expires BIGINT NOT NULL,
		attempts INTEGER NOT NULL,
		PRIMARY KEY (handle, device)
	);
	CREATE INDEX codes_expires ON codes(expires);
	CREATE INDEX codes_device ON codes(device);
	CREATE TABLE secrets (name TEXT PRIMARY KEY, value BYTEA NOT NULL)`,
}

// migrationLock is the advisory lock key migrations hold ("sealpost dir").
const migrationLock = 0x5ea1d1 << 8

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Dialect is the PostgreSQL dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:     "postgres",
	Numbered: true,
	WriteTx:  &sql.TxOptions{Isolation: sql.LevelSerializable},
	Retryable: func(err error) bool {
		c := pgCode(err)
		return c == "40001" || c == "40P01" // serialization_failure, deadlock_detected
	},
	IsUniqueViolation: func(err error) bool { return pgCode(err) == "23505" },
	LockMigrations:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
}

// Open connects to the database at dsn, migrates it and returns the store.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	return OpenWith(ctx, dsn, Migrations)
}

// OpenWith is Open with a given migration list (tests use it to simulate
// older and newer programs).
func OpenWith(ctx context.Context, dsn string, migrations []string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, Dialect, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(db, Dialect), nil
}
