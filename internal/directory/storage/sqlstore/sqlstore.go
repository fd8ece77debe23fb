// Package sqlstore implements storage.Store on database/sql, shared by the
// SQLite and PostgreSQL backends. A backend supplies a Dialect (placeholder
// style, locking, isolation, which errors to retry) and its own versioned
// migrations; this package runs the migrations and the queries.
//
// Queries are written with "?" placeholders and rebound once, at New, for
// dialects that number them ($1, $2, ...).
//
// Transactions: every change runs in one transaction through withTx, which
// retries (up to maxRetries times, with jittered backoff) when the dialect says an error is a
// transient conflict: a serialization failure or deadlock in PostgreSQL
// (which runs write transactions SERIALIZABLE), or a unique-key race. SQLite
// serializes writers itself (BEGIN IMMEDIATE, see the sqlite backend).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	// Name is used in errors ("sqlite", "postgres").
	Name string
	// Numbered is true if placeholders are $1, $2, ... rather than ?.
	Numbered bool
	// WriteTx are the options of write transactions.
	WriteTx *sql.TxOptions
	// Retryable reports whether a failed transaction may be retried.
	Retryable func(error) bool
	// IsUniqueViolation reports a unique-constraint error.
	IsUniqueViolation func(error) bool
	// LockMigrations, if set, runs first in the migration transaction to
	// keep concurrent migrators apart.
	LockMigrations string
}

// maxRetries bounds the attempts of one transaction; between attempts it
// waits a random time up to backoffCap, growing with each attempt, so that
// many conflicting writers (20 devices joining one account at once on
// SERIALIZABLE PostgreSQL) spread out instead of colliding again.
const (
	maxRetries = 50
	backoffCap = 50 * time.Millisecond
)

// Store is a storage.Store on a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect
	q  queries
	// handlesQ[n] finds the accounts of n handles; devicesQ[n] the devices
	// of n accounts (1 ≤ n ≤ maxLookup).
	handlesQ, devicesQ []string
	// stmts caches prepared statements by query text.
	stmts sync.Map
}

var _ storage.Store = (*Store)(nil)

type queries struct {
	handleAccount, deviceAccount, countDevices, pushTokenOwner,
	insertAccount, insertHandle, insertDevice, updateDevice,
	deviceByID, deviceByToken, accountDevices, accountHandles,
	deleteDevice, deleteDeviceCodes, putCode, getCode, deleteCode, bumpCode,
	deleteExpired, insertSecret, getSecret string
}

const deviceCols = "id, account, identity, device_key, signed_prekey, push_token, schemes, max_payload, name, registered, updated"

const maxLookup = 64

// New returns a Store on db, which must already be migrated.
func New(db *sql.DB, d Dialect) *Store {
	s := &Store{db: db, d: d}
	r := s.rebind
	s.q = queries{
		handleAccount:     r("SELECT account FROM handles WHERE handle = ?"),
		deviceAccount:     r("SELECT account FROM devices WHERE id = ?"),
		countDevices:      r("SELECT COUNT(*) FROM devices WHERE account = ?"),
		pushTokenOwner:    r("SELECT id FROM devices WHERE push_token = ?"),
		insertAccount:     r("INSERT INTO accounts (id, created) VALUES (?, ?)"),
		insertHandle:      r("INSERT INTO handles (handle, account, verified) VALUES (?, ?, ?)"),
		insertDevice:      r("INSERT INTO devices (" + deviceCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		updateDevice:      r("UPDATE devices SET device_key = ?, signed_prekey = ?, push_token = ?, schemes = ?, max_payload = ?, name = ?, updated = ? WHERE id = ?"),
		deviceByID:        r("SELECT " + deviceCols + " FROM devices WHERE id = ?"),
		deviceByToken:     r("SELECT " + deviceCols + " FROM devices WHERE push_token = ?"),
		accountDevices:    r("SELECT " + deviceCols + " FROM devices WHERE account = ? ORDER BY registered, id"),
		accountHandles:    r("SELECT handle FROM handles WHERE account = ? ORDER BY handle"),
		deleteDevice:      r("DELETE FROM devices WHERE account = ? AND id = ?"),
		deleteDeviceCodes: r("DELETE FROM codes WHERE device = ?"),
		putCode: r("INSERT INTO codes (handle, device, digest, expires, attempts) VALUES (?, ?, ?, ?, 0) " +
			"ON CONFLICT (handle, device) DO UPDATE SET digest = excluded.digest, expires = excluded.expires, attempts = 0"),
		getCode:       r("SELECT digest, expires, attempts FROM codes WHERE handle = ? AND device = ?"),
		deleteCode:    r("DELETE FROM codes WHERE handle = ? AND device = ?"),
		bumpCode:      r("UPDATE codes SET attempts = attempts + 1 WHERE handle = ? AND device = ?"),
		deleteExpired: r("DELETE FROM codes WHERE expires <= ?"),
		insertSecret:  r("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
		getSecret:     r("SELECT value FROM secrets WHERE name = ?"),
	}
	s.handlesQ = make([]string, maxLookup+1)
	s.devicesQ = make([]string, maxLookup+1)
	for n := 1; n <= maxLookup; n++ {
		in := strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
		s.handlesQ[n] = r("SELECT handle, account FROM handles WHERE handle IN (" + in + ")")
		s.devicesQ[n] = r("SELECT " + deviceCols + " FROM devices WHERE account IN (" + in + ") ORDER BY account, registered, id")
	}
	return s
}

// stmt returns a prepared statement for q, preparing it on first use
// (database/sql re-prepares it on each connection as needed). If
// preparing fails, it returns nil and the caller runs q directly.
func (s *Store) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if prev, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

// DB returns the underlying database.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) rebind(q string) string {
	if !s.d.Numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v) }

// withTx runs fn in a write transaction, retrying transient conflicts.
func (s *Store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < maxRetries; attempt++ {
		var tx *sql.Tx
		tx, err = s.db.BeginTx(ctx, s.d.WriteTx)
		if err != nil {
			if s.d.Retryable != nil && s.d.Retryable(err) {
				continue
			}
			return err
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
			if err == nil {
				return nil
			}
		} else {
			tx.Rollback()
		}
		if !s.retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := min(backoffCap, time.Millisecond<<min(attempt, 6))
		time.Sleep(rand.N(wait) + time.Millisecond)
	}
	return err
}

func (s *Store) retryable(err error) bool {
	if s.d.Retryable != nil && s.d.Retryable(err) {
		return true
	}
	return s.d.IsUniqueViolation != nil && s.d.IsUniqueViolation(err) && !isContract(err)
}

func isContract(err error) bool {
	return errors.Is(err, storage.ErrHandleTaken) || errors.Is(err, storage.ErrPushTokenTaken) ||
		errors.Is(err, storage.ErrTooManyDevices) || errors.Is(err, storage.ErrNotFound)
}

// Register implements storage.Store.
func (s *Store) Register(ctx context.Context, handle string, dev storage.Device, newAccount string, maxDevices int, now time.Time) (storage.Registration, error) {
	var reg storage.Registration
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		reg = storage.Registration{}
		var handleAcct, devAcct string
		hErr := tx.QueryRowContext(ctx, s.q.handleAccount, handle).Scan(&handleAcct)
		if hErr != nil && !errors.Is(hErr, sql.ErrNoRows) {
			return hErr
		}
		dErr := tx.QueryRowContext(ctx, s.q.deviceAccount, dev.ID[:]).Scan(&devAcct)
		if dErr != nil && !errors.Is(dErr, sql.ErrNoRows) {
			return dErr
		}
		handleKnown, devKnown := hErr == nil, dErr == nil
		if handleKnown && devKnown && handleAcct != devAcct {
			return storage.ErrHandleTaken
		}
		if err := s.checkPushToken(ctx, tx, dev); err != nil {
			return err
		}
		switch {
		case handleKnown:
			reg.Account = handleAcct
		case devKnown:
			reg.Account = devAcct
		default:
			reg.Account = newAccount
			reg.NewAccount = true
			if _, err := tx.ExecContext(ctx, s.q.insertAccount, newAccount, ms(now)); err != nil {
				return err
			}
		}
		if !handleKnown {
			if _, err := tx.ExecContext(ctx, s.q.insertHandle, handle, reg.Account, ms(now)); err != nil {
				return err
			}
		}
		if devKnown {
			_, err := tx.ExecContext(ctx, s.q.updateDevice, dev.DeviceKey, dev.SignedPrekey, dev.PushToken,
				strings.Join(dev.Schemes, ","), dev.MaxPayload, dev.Name, ms(now), dev.ID[:])
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q.countDevices, reg.Account).Scan(&n); err != nil {
			return err
		}
		if n >= maxDevices {
			return storage.ErrTooManyDevices
		}
		reg.NewDevice = true
		_, err := tx.ExecContext(ctx, s.q.insertDevice, dev.ID[:], reg.Account, dev.Identity, dev.DeviceKey,
			dev.SignedPrekey, dev.PushToken, strings.Join(dev.Schemes, ","), dev.MaxPayload, dev.Name, ms(now), ms(now))
		return err
	})
	return reg, err
}

func (s *Store) checkPushToken(ctx context.Context, tx *sql.Tx, dev storage.Device) error {
	var owner []byte
	err := tx.QueryRowContext(ctx, s.q.pushTokenOwner, dev.PushToken).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(owner) != string(dev.ID[:]) {
		return storage.ErrPushTokenTaken
	}
	return nil
}

// UpdateDevice implements storage.Store.
func (s *Store) UpdateDevice(ctx context.Context, dev storage.Device, now time.Time) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkPushToken(ctx, tx, dev); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q.updateDevice, dev.DeviceKey, dev.SignedPrekey, dev.PushToken,
			strings.Join(dev.Schemes, ","), dev.MaxPayload, dev.Name, ms(now), dev.ID[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		return nil
	})
}

type scanner interface{ Scan(...any) error }

func scanDevice(r scanner, extra ...any) (storage.Device, error) {
	var d storage.Device
	var id []byte
	var schemes string
	var reg, upd int64
	dest := append(extra, &id, &d.Account, &d.Identity, &d.DeviceKey, &d.SignedPrekey, &d.PushToken, &schemes, &d.MaxPayload, &d.Name, &reg, &upd)
	if err := r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return d, storage.ErrNotFound
		}
		return d, err
	}
	if len(id) != len(d.ID) {
		return d, fmt.Errorf("storage: device id of %d bytes in the database", len(id))
	}
	copy(d.ID[:], id)
	if schemes != "" {
		d.Schemes = strings.Split(schemes, ",")
	}
	d.Registered, d.Updated = fromMS(reg), fromMS(upd)
	return d, nil
}

// Device implements storage.Store.
func (s *Store) Device(ctx context.Context, id storage.DeviceID) (storage.Device, error) {
	return scanDevice(s.queryRow(ctx, s.q.deviceByID, id[:]))
}

// DeviceByPushToken implements storage.Store.
func (s *Store) DeviceByPushToken(ctx context.Context, token []byte) (storage.Device, error) {
	return scanDevice(s.queryRow(ctx, s.q.deviceByToken, token))
}

// AccountDevices implements storage.Store.
func (s *Store) AccountDevices(ctx context.Context, account string) ([]storage.Device, error) {
	rows, err := s.query(ctx, s.q.accountDevices, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// AccountHandles implements storage.Store.
func (s *Store) AccountHandles(ctx context.Context, account string) ([]string, error) {
	rows, err := s.query(ctx, s.q.accountHandles, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// RemoveDevice implements storage.Store.
func (s *Store) RemoveDevice(ctx context.Context, account string, id storage.DeviceID) error {
	return s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.deleteDevice, account, id[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, s.q.deleteDeviceCodes, id[:])
		return err
	})
}

// Lookup implements storage.Store. It runs two queries per chunk of
// handles: their accounts, then the devices of those accounts, so a device
// behind several of the handles is read once.
func (s *Store) Lookup(ctx context.Context, handles []string) (map[string][]storage.Device, error) {
	out := make(map[string][]storage.Device, len(handles))
	for len(handles) > 0 {
		n := min(len(handles), maxLookup)
		if err := s.lookupChunk(ctx, handles[:n], out); err != nil {
			return nil, err
		}
		handles = handles[n:]
	}
	return out, nil
}

func (s *Store) lookupChunk(ctx context.Context, handles []string, out map[string][]storage.Device) error {
	args := make([]any, len(handles))
	for i, h := range handles {
		args[i] = h
	}
	rows, err := s.query(ctx, s.handlesQ[len(handles)], args...)
	if err != nil {
		return err
	}
	byAccount := map[string][]string{}
	var accounts []any
	for rows.Next() {
		var h, a string
		if err := rows.Scan(&h, &a); err != nil {
			rows.Close()
			return err
		}
		if _, seen := byAccount[a]; !seen {
			accounts = append(accounts, a)
		}
		byAccount[a] = append(byAccount[a], h)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	rows.Close()
	if len(accounts) == 0 {
		return nil
	}
	rows, err = s.query(ctx, s.devicesQ[len(accounts)], accounts...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return err
		}
		for _, h := range byAccount[d.Account] {
			out[h] = append(out[h], d)
		}
	}
	return rows.Err()
}

// PutCode implements storage.Store.
func (s *Store) PutCode(ctx context.Context, c storage.Code) error {
	_, err := s.db.ExecContext(ctx, s.q.putCode, c.Handle, c.Device[:], c.Digest, ms(c.Expires))
	return err
}

// TryCode implements storage.Store.
func (s *Store) TryCode(ctx context.Context, handle string, device storage.DeviceID, now time.Time, maxAttempts int, match func([]byte) bool) error {
	var result error
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var digest []byte
		var expires int64
		var attempts int
		err := tx.QueryRowContext(ctx, s.q.getCode, handle, device[:]).Scan(&digest, &expires, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			result = storage.ErrCodeExpired
			return nil
		}
		if err != nil {
			return err
		}
		if expires <= ms(now) || attempts >= maxAttempts {
			result = storage.ErrCodeExpired
			_, err := tx.ExecContext(ctx, s.q.deleteCode, handle, device[:])
			return err
		}
		if match(digest) {
			result = nil
			_, err := tx.ExecContext(ctx, s.q.deleteCode, handle, device[:])
			return err
		}
		result = storage.ErrCodeMismatch
		_, err = tx.ExecContext(ctx, s.q.bumpCode, handle, device[:])
		return err
	})
	if err != nil {
		return err
	}
	return result
}

// DeleteExpiredCodes implements storage.Store.
func (s *Store) DeleteExpiredCodes(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q.deleteExpired, ms(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Secret implements storage.Store.
func (s *Store) Secret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, s.q.insertSecret, name, candidate); err != nil {
		return nil, err
	}
	var v []byte
	err := s.db.QueryRowContext(ctx, s.q.getSecret, name).Scan(&v)
	return v, err
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return s.db.Close()
}
