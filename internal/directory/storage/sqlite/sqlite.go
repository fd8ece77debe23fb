// Package sqlite is the directory's embedded storage backend: one SQLite
// database file in the data folder, through the pure-Go modernc.org/sqlite
// driver (no cgo).
//
// The database runs in WAL mode with synchronous=NORMAL (a committed
// registration survives a crash of the process; a power loss may lose the
// last transactions, as WAL allows), foreign keys on, and a 5-second busy
// timeout. Write transactions start with BEGIN IMMEDIATE, so writers queue
// for the one write lock instead of failing on an upgrade; readers never
// block. Several processes may open the same file, but one sealpostd per
// data folder is the intended use; for several nodes use PostgreSQL.
//
// Schema versions are the migrations below; Open refuses a database from a
// newer version (storage.ErrSchemaTooNew).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlstore"
)

// Migrations are the schema versions, oldest first. Never edit one that
// has shipped; append a new one.
var Migrations = []string{
	// 1: accounts, handles, devices, pending codes, secrets.
	`CREATE TABLE accounts (id TEXT PRIMARY KEY, created INTEGER NOT NULL);
	CREATE TABLE handles (handle TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), verified INTEGER NOT NULL);
	CREATE INDEX handles_account ON handles(account);
	CREATE TABLE devices (
		id BLOB PRIMARY KEY,
		account TEXT NOT NULL REFERENCES accounts(id),
		identity BLOB NOT NULL,
		device_key BLOB NOT NULL,
		signed_prekey BLOB NOT NULL,
		push_token BLOB NOT NULL UNIQUE,
		schemes TEXT NOT NULL,
		max_payload INTEGER NOT NULL,
		name TEXT NOT NULL,
		registered INTEGER NOT NULL,
		updated INTEGER NOT NULL
	);
	CREATE INDEX devices_account ON devices(account, registered, id);
	CREATE TABLE codes (
		handle TEXT NOT NULL,
		device BLOB NOT NULL,
		digest BLOB NOT NULL,
		expires INTEGER NOT NULL,
		attempts INTEGER NOT NULL,
		PRIMARY KEY (handle, device)
	);
	CREATE INDEX codes_expires ON codes(expires);
	CREATE INDEX codes_device ON codes(device);
	CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)`,
}

// Dialect is the SQLite dialect of sqlstore.
var Dialect = sqlstore.Dialect{
	Name:    "sqlite",
	WriteTx: nil, // BEGIN IMMEDIATE comes from the DSN's _txlock
	Retryable: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
	},
	IsUniqueViolation: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
}

// Open opens (creating if needed) the database file at path, migrates it
// and returns the store.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	return OpenWith(ctx, path, Migrations)
}

// OpenWith is Open with a given migration list (tests use it to simulate
// older and newer programs).
func OpenWith(ctx context.Context, path string, migrations []string) (*sqlstore.Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, Dialect, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(db, Dialect), nil
}

var _ storage.Store = (*sqlstore.Store)(nil)
