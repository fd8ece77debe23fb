// Package storage defines what the identity directory keeps and the
// contract every backend honours. The backends are
// internal/directory/storage/sqlite (the default, a file in the data
// folder) and internal/directory/storage/postgres; Open in
// internal/directory/storage/backend picks one from a DSN. The conformance
// suite in internal/directory/storage/storagetest checks every contract
// below against each backend.
//
// The model:
//
//	account 1──* handle      a handle (normalised mailto:/tel:) belongs to at most one account
//	account 1──* device      a device (id = its identity hash) belongs to exactly one account
//	(handle, device) ── pending verification code (at most one)
//
// General contracts:
//
//   - Every method is safe for concurrent use, from several processes too
//     (PostgreSQL: several sealpostd nodes share one database).
//   - Methods that change several rows do so atomically: either all of the
//     change is visible or none of it.
//   - A missing row is ErrNotFound (wrapped or not; test with errors.Is).
//   - Times are stored with millisecond precision.
//   - Byte slices passed in are not retained. Those returned are the
//     caller's, read-only: a device listed under several handles by Lookup
//     may share them between its entries.
//   - ctx cancels a call; a cancelled call changes nothing.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors of the contract.
var (
	ErrNotFound       = errors.New("storage: not found")
	ErrHandleTaken    = errors.New("storage: handle belongs to another account")
	ErrPushTokenTaken = errors.New("storage: push token is registered to another device")
	ErrTooManyDevices = errors.New("storage: account has its maximum number of devices")
	ErrCodeExpired    = errors.New("storage: verification code expired or used up")
	ErrCodeMismatch   = errors.New("storage: verification code does not match")
	// ErrSchemaTooNew is returned by a backend's Open when the database
	// was migrated by a newer version of Sealpost.
	ErrSchemaTooNew = errors.New("storage: database schema is newer than this program")
)

// DeviceID is a device's identity hash (identity.Public.Hash).
type DeviceID [32]byte

// Device is one registered device.
type Device struct {
	ID      DeviceID
	Account string
	// Identity is the 249-byte public identity blob.
	Identity []byte
	// DeviceKey is the 32-byte compact pair-ec device key.
	DeviceKey []byte
	// SignedPrekey is the PublicDevicePrekey record.
	SignedPrekey []byte
	// PushToken is 32 bytes, unique among devices.
	PushToken []byte
	// Schemes lists the payload schemes, sorted ("pair", "pair-ec").
	Schemes []string
	// MaxPayload is the largest payload the device accepts, in bytes.
	MaxPayload int
	Name       string
	// Registered is when the device first registered; Updated when its
	// fields last changed. Both are set by the store.
	Registered time.Time
	Updated    time.Time
}

// Code is a pending verification code for one handle and one device.
type Code struct {
	Handle string
	Device DeviceID
	// Digest is what the service keeps of the code (never the code
	// itself); the store only compares it through the service's match
	// function.
	Digest  []byte
	Expires time.Time
	// Attempts counts wrong guesses so far.
	Attempts int
}

// Registration is the outcome of Register.
type Registration struct {
	Account string
	// NewAccount is true if Register created the account.
	NewAccount bool
	// NewDevice is true if the device was not registered before.
	NewDevice bool
}

// Store is the directory's storage.
type Store interface {
	// Register puts dev under handle, in one transaction:
	//
	//   - handle unowned, dev unknown: a new account (id newAccount) gets
	//     both;
	//   - handle owned by account A, dev unknown: dev joins A;
	//   - handle unowned, dev in account A: the handle joins A;
	//   - handle owned by A, dev in A: dev's fields are replaced;
	//   - handle owned by A, dev in another account B: ErrHandleTaken.
	//
	// A device joining an account that already has maxDevices devices gets
	// ErrTooManyDevices; a push token that another device holds gets
	// ErrPushTokenTaken. dev.Account, Registered and Updated are ignored;
	// when dev is already registered its Registered time is kept.
	Register(ctx context.Context, handle string, dev Device, newAccount string, maxDevices int, now time.Time) (Registration, error)

	// UpdateDevice replaces the published fields of a registered device
	// (device key, prekey, push token, schemes, max payload, name); its
	// identity, account and Registered time stay. ErrNotFound if dev.ID is
	// not registered; ErrPushTokenTaken as for Register.
	UpdateDevice(ctx context.Context, dev Device, now time.Time) error

	// Device returns the registered device with id, or ErrNotFound.
	Device(ctx context.Context, id DeviceID) (Device, error)

	// DeviceByPushToken returns the device holding token, or ErrNotFound.
	DeviceByPushToken(ctx context.Context, token []byte) (Device, error)

	// AccountDevices returns the devices of account, oldest registration
	// first (ties by id); an unknown account has none.
	AccountDevices(ctx context.Context, account string) ([]Device, error)

	// AccountHandles returns the handles of account, sorted; an unknown
	// account has none.
	AccountHandles(ctx context.Context, account string) ([]string, error)

	// RemoveDevice removes device id from account. ErrNotFound if it is
	// not a device of that account. The account and its handles stay,
	// even with no devices left. Pending codes of the device are removed.
	RemoveDevice(ctx context.Context, account string, id DeviceID) error

	// Lookup returns, for each handle in handles that has devices, its
	// devices in the order of AccountDevices. Handles without devices, or
	// unknown, are absent from the map. Handles are not normalised here;
	// duplicates in handles are harmless.
	Lookup(ctx context.Context, handles []string) (map[string][]Device, error)

	// PutCode stores c as the pending code for (c.Handle, c.Device),
	// replacing any earlier one (its attempts are forgotten).
	PutCode(ctx context.Context, c Code) error

	// TryCode spends one attempt on the pending code for (handle, device),
	// atomically, so concurrent guesses cannot exceed maxAttempts:
	//
	//   - no pending code, or it expired (Expires ≤ now), or it has
	//     maxAttempts wrong guesses already: the code is deleted and
	//     ErrCodeExpired is returned;
	//   - match(code.Digest) is true: the code is deleted (single use) and
	//     nil is returned;
	//   - otherwise its attempt count grows by one and ErrCodeMismatch is
	//     returned.
	//
	// match must be quick and must not call the store.
	TryCode(ctx context.Context, handle string, device DeviceID, now time.Time, maxAttempts int, match func(digest []byte) bool) error

	// DeleteExpiredCodes removes codes whose Expires ≤ now and returns how
	// many it removed.
	DeleteExpiredCodes(ctx context.Context, now time.Time) (int, error)

	// Secret returns the secret stored under name; if there is none it
	// stores candidate and returns it. Concurrent callers (several nodes)
	// all get the same value: the first stored wins.
	Secret(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// Close releases the store. Calls after Close fail.
	Close() error
}
