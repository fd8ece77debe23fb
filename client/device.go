package client

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/client/blobs"
	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// configVersion is the version of config.json this package writes.
const configVersion = 1

// Config is the device's config.json.
type Config struct {
	Version int `json:"version"`
	// Server is the sealpostd base URL, e.g. https://127.0.0.1:7443.
	Server string `json:"server"`
	// DeviceName is the name other devices of the account see.
	DeviceName string `json:"device_name"`
	// PushToken is the relay token of this device (32 bytes).
	PushToken []byte `json:"push_token"`
	// Handles are the handles this device has verified, in the order they
	// were verified; the first is the one messages are sent from.
	Handles []string `json:"handles"`
	// AccountHandles are all the handles of the device's account, as the
	// directory last listed them: messages to any of them reach this device.
	AccountHandles []string `json:"account_handles,omitempty"`
	// ReadReceipts makes the device send read receipts (off by default).
	ReadReceipts bool `json:"read_receipts"`
	// MaxPayload is the largest payload the device announces it accepts.
	MaxPayload int `json:"max_payload"`
}

// Options tune an opened device. The zero value is fine.
type Options struct {
	// Now is the clock of the device's own decisions: lookup cache
	// lifetimes, the dedup horizon, pair-ec counters (time.Now if nil).
	// Requests to the server are always signed with the system clock,
	// which the server checks against its own.
	Now func() time.Time
	// Logger receives the device's local log: what was sent, received,
	// dropped and why, with message IDs and handles but never keys or
	// message content. nil discards it.
	Logger *slog.Logger
	// Progress, if set, is told how an attachment upload or download
	// advances.
	Progress ProgressFunc
	// DialTimeout bounds connecting to the server (10 s if zero).
	DialTimeout time.Duration
}

// ProgressFunc reports that done of total bytes of the file name have been
// uploaded ("upload") or downloaded ("download").
type ProgressFunc func(op, name string, done, total int64)

// Device is one device opened from its home folder: its keys, contacts,
// groups, lookup cache and message store, and (once used) its connection to
// the relay.
//
// A Device is safe for concurrent use: Send may be called from several
// goroutines while one Receive runs.
type Device struct {
	home    string
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	keys    *identity.Keys
	pushKey *rsa.PrivateKey
	cert    []byte // push certificate, DER
	tlsCfg  *tls.Config
	httpc   *http.Client
	dir     *dirapi.Client
	blobc   *blobs.Client
	addr    string // host:port of the server

	mu       sync.Mutex // guards cfg, contacts, groups and the files they live in
	cfg      Config
	contacts []Contact
	groups   []Group

	cache *lookupCache
	store *store

	linkMu  sync.Mutex
	link    *link
	closed  bool
	counter uint32 // pair-ec message counter, see nextCounter
	ctrMu   sync.Mutex

	pendingReceipts sync.WaitGroup
	accountChecked  time.Time // when ownHandles last asked the directory (mu)
}

// Open opens the device kept in home.
func Open(home string, opt Options) (*Device, error) {
	if _, err := os.Stat(filepath.Join(home, fileConfig)); errors.Is(err, fs.ErrNotExist) {
		return nil, withHint(fmt.Errorf("%w (%s)", ErrNotInitialised, home),
			"create one with: sealpost init --server URL --ca CA.pem (or name another folder with --home or $SEALPOST_HOME)")
	}
	var cfg Config
	if err := readJSON(filepath.Join(home, fileConfig), &cfg); err != nil {
		return nil, err
	}
	if cfg.Version > configVersion {
		return nil, fmt.Errorf("%s was written by a newer sealpost (version %d)", filepath.Join(home, fileConfig), cfg.Version)
	}
	keys, err := identity.Load(filepath.Join(home, fileKeys))
	if err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	pushKey, err := loadPushKey(filepath.Join(home, filePushKey))
	if err != nil {
		return nil, fmt.Errorf("push key: %w", err)
	}
	cert, err := readPEM(filepath.Join(home, filePushCert), "CERTIFICATE")
	if err != nil {
		return nil, fmt.Errorf("push certificate: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(home, fileCA))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d, err := newDevice(home, opt, cfg, keys, pushKey, cert, ca)
	if err != nil {
		return nil, err
	}
	if err := d.loadState(); err != nil {
		return nil, err
	}
	return d, nil
}

func newDevice(home string, opt Options, cfg Config, keys *identity.Keys, pushKey *rsa.PrivateKey, cert, ca []byte) (*Device, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 10 * time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsCfg, addr, err := tlsConfig(cfg.Server, ca)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg.Clone(),
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: opt.DialTimeout}).DialContext,
		TLSHandshakeTimeout: opt.DialTimeout,
		MaxIdleConnsPerHost: 8,
	}
	httpc := &http.Client{Transport: tr}
	d := &Device{
		home: home, opt: opt, log: log, now: opt.Now, keys: keys, pushKey: pushKey, cert: cert,
		tlsCfg: tlsCfg, httpc: httpc, addr: addr, cfg: cfg,
		dir: &dirapi.Client{BaseURL: strings.TrimSuffix(cfg.Server, "/"), HTTP: httpc, Keys: keys},
	}
	d.blobc = &blobs.Client{BaseURL: d.dir.BaseURL, HTTP: httpc, Keys: keys}
	d.cache = newLookupCache(d)
	return d, nil
}

// tlsConfig trusts the CA given in PEM if there is one, else the system
// roots, and returns the server's host:port.
func tlsConfig(server string, ca []byte) (*tls.Config, string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, "", withHint(fmt.Errorf("server %q is not an https:// URL", server), "sealpostd listens on https://127.0.0.1:7443 by default")
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: u.Hostname()}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, "", withHint(errors.New("the CA file holds no PEM certificate"), "pass the server's ca.pem (sealpost-data/ca.pem for a local sealpostd)")
		}
		cfg.RootCAs = pool
	}
	return cfg, addr, nil
}

func (d *Device) loadState() error {
	if err := readJSON(filepath.Join(d.home, fileContacts), &d.contacts); err != nil {
		return err
	}
	if err := readJSON(filepath.Join(d.home, fileGroups), &d.groups); err != nil {
		return err
	}
	if err := d.cache.load(); err != nil {
		return err
	}
	st, err := openStore(d.home, d.now)
	if err != nil {
		return err
	}
	d.store = st
	return nil
}

// Close closes the connection to the relay and the message store.
func (d *Device) Close() error {
	d.linkMu.Lock()
	d.closed = true
	l := d.link
	d.link = nil
	d.linkMu.Unlock()
	if l != nil {
		l.close()
	}
	d.httpc.CloseIdleConnections()
	if d.store != nil {
		return d.store.close()
	}
	return nil
}

// Home returns the device's home folder.
func (d *Device) Home() string { return d.home }

// ID returns the device id: the hex identity hash, as the directory knows it.
func (d *Device) ID() string { return dirapi.DeviceID(d.keys) }

// Name returns the device's display name.
func (d *Device) Name() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.DeviceName
}

// Server returns the server URL.
func (d *Device) Server() string { return d.cfg.Server }

// Handles returns the handles this device has verified; the first is the
// one it sends from.
func (d *Device) Handles() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.cfg.Handles...)
}

// ownHandles returns the handles this device answers to: those it
// verified and those of its account (verified by its other devices). With
// refresh, it asks the directory first, at most once a minute.
func (d *Device) ownHandles(ctx context.Context, refresh bool) []string {
	return d.ownHandlesFloor(ctx, refresh, time.Minute)
}

// ownHandlesFloor is ownHandles with the least time between two asks; a
// zero floor always asks (and does not count as an ask).
func (d *Device) ownHandlesFloor(ctx context.Context, refresh bool, floor time.Duration) []string {
	if refresh {
		d.mu.Lock()
		due := floor == 0 || d.now().Sub(d.accountChecked) > floor
		if due && floor > 0 {
			d.accountChecked = d.now()
		}
		d.mu.Unlock()
		if due {
			if hs, _, err := d.Account(ctx); err == nil {
				d.mu.Lock()
				d.cfg.AccountHandles = hs
				if err := d.saveConfigLocked(); err != nil {
					d.log.Warn("saving the account's handles", "err", err.Error())
				}
				d.mu.Unlock()
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := append([]string(nil), d.cfg.Handles...)
	for _, h := range d.cfg.AccountHandles {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// OwnHandles returns every handle this device answers to: those it
// verified, then the other handles of its account as last seen.
func (d *Device) OwnHandles() []string { return d.ownHandles(context.Background(), false) }

// PushToken returns the device's relay token.
func (d *Device) PushToken() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.cfg.PushToken...)
}

// SetReadReceipts turns read receipts on or off and saves the setting.
func (d *Device) SetReadReceipts(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg.ReadReceipts = on
	return d.saveConfigLocked()
}

// ReadReceipts reports whether the device sends read receipts.
func (d *Device) ReadReceipts() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.ReadReceipts
}

func (d *Device) saveConfigLocked() error {
	return writeJSON(filepath.Join(d.home, fileConfig), &d.cfg)
}

// self returns the device as envelope.Device, for opening copies sent by
// the device itself (never needed) and for tests.
func (d *Device) self() envelope.Device {
	sp := d.keys.SignedPrekey()
	return envelope.Device{Identity: d.keys.Public(), DeviceKey: d.keys.DeviceKey(), Prekey: sp.Prekey}
}

// serverError wraps an error reaching the server with a hint.
func (d *Device) serverError(err error) error {
	var de *dirapi.Error
	if errors.As(err, &de) {
		return directoryError(de)
	}
	var ue *url.Error
	var ne net.Error
	var ce x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ce):
		return withHint(fmt.Errorf("cannot reach %s: the server's certificate is not signed by a CA this device trusts", d.cfg.Server),
			"initialise the device with --ca pointing at the server's ca.pem (sealpost-data/ca.pem for a local sealpostd)")
	case errors.As(err, &he):
		return withHint(fmt.Errorf("cannot reach %s: %v", d.cfg.Server, he), "use the name the server certificate was made for (sealpostd --tls-name)")
	case errors.As(err, &ue), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return withHint(fmt.Errorf("cannot reach the server at %s: %w", d.cfg.Server, err), "is sealpostd running there? start it with: go run ./cmd/sealpostd")
	}
	return err
}

// directoryError turns a directory error code into a readable error.
func directoryError(e *dirapi.Error) error {
	switch e.Code {
	case dirapi.CodeUnknownDevice:
		return withHint(fmt.Errorf("the directory does not know this device (%s)", e.Message),
			"a device is registered by verifying a handle: sealpost register HANDLE, then sealpost verify HANDLE CODE; a removed device must be set up again with sealpost init in a new home folder")
	case dirapi.CodeWrongCode, dirapi.CodeCodeExpired:
		return withHint(fmt.Errorf("the code was not accepted: %s", e.Message), "ask for a new one with: sealpost register HANDLE")
	case dirapi.CodeInvalidHandle:
		return withHint(errors.New(e.Message), "a handle is an e-mail address (alice@example.org) or an international number (+15551234567)")
	case dirapi.CodeRateLimited:
		return withHint(fmt.Errorf("the directory asks to slow down: %s", e.Message), "try again in %s", max(e.RetryAfter, time.Second))
	case dirapi.CodeHandleTaken:
		return withHint(fmt.Errorf("%s", e.Message), "the handle belongs to another account")
	case dirapi.CodeTooManyDevices:
		return withHint(fmt.Errorf("%s", e.Message), "remove an old device first: sealpost devices, then sealpost devices remove ID")
	case dirapi.CodeStaleNonce:
		return withHint(fmt.Errorf("%s", e.Message), "check this computer's clock")
	}
	return e
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return blk.Bytes, nil
}

func loadPushKey(path string) (*rsa.PrivateKey, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, withHint(fmt.Errorf("%s is readable by others (mode %s)", path, info.Mode().Perm()), "run: chmod 600 %s", path)
	}
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return rk, nil
}

func marshalPushKey(k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("client: cannot encode an RSA key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// nextCounter returns the pair-ec counter for the next message: it only
// grows, across restarts too (it starts from the clock), so every
// recipient device sees increasing counters from this device.
func (d *Device) nextCounter() uint32 {
	d.ctrMu.Lock()
	defer d.ctrMu.Unlock()
	c := uint32(d.now().Unix())
	if c <= d.counter {
		c = d.counter + 1
	}
	d.counter = c
	return c
}
