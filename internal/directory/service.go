package directory

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Limits are the rate limits of the directory, each a token bucket per key
// (internal/ratelimit). A zero Limit is unlimited.
type Limits struct {
	// LookupDevice and LookupAddr are spent one token per handle looked up
	// (and one per account listing), per device and per client address.
	LookupDevice, LookupAddr ratelimit.Limit
	// RegisterDevice and RegisterAddr are spent one token per code
	// request, registration, device update or removal.
	RegisterDevice, RegisterAddr ratelimit.Limit
	// VerifyDevice and VerifyAddr are spent one token per code submitted.
	VerifyDevice, VerifyAddr ratelimit.Limit
	// CodesPerHandle bounds how often a code is sent to one handle, so
	// nobody can flood someone's inbox.
	CodesPerHandle ratelimit.Limit
}

// DefaultLimits are the limits sealpostd starts with.
var DefaultLimits = Limits{
	LookupDevice:   ratelimit.Limit{Rate: 2, Burst: 200},
	LookupAddr:     ratelimit.Limit{Rate: 20, Burst: 1000},
	RegisterDevice: ratelimit.Limit{Rate: 1.0 / 60, Burst: 10},
	RegisterAddr:   ratelimit.Limit{Rate: 1.0 / 10, Burst: 30},
	VerifyDevice:   ratelimit.Limit{Rate: 1.0 / 60, Burst: 10},
	VerifyAddr:     ratelimit.Limit{Rate: 1.0 / 10, Burst: 30},
	CodesPerHandle: ratelimit.Limit{Rate: 1.0 / 120, Burst: 3},
}

// Defaults of Config.
const (
	DefaultCodeTTL     = 10 * time.Minute
	DefaultMaxAttempts = 5
	DefaultSessionTTL  = 24 * time.Hour
	// keyCacheTTL is how long a device's signing key stays cached; a
	// device removed on another node can sign for at most this long.
	keyCacheTTL  = 10 * time.Second
	keyCacheMax  = 100_000
	pruneEvery   = 10 * time.Minute
	codeKeyName  = "code-digest-key"
	secretLength = 32
)

// Config is what a Service needs. Store and Sender are required.
type Config struct {
	Store  storage.Store
	Sender Sender
	// Logger receives logs; nil discards them. Codes and keys are never
	// logged.
	Logger *slog.Logger
	// Now is the clock (time.Now if nil); tests inject one.
	Now func() time.Time
	// MaxDevices per account (dirapi.DefaultMaxDevices if 0).
	MaxDevices int
	// CodeTTL (10 minutes), MaxAttempts (5 wrong codes) and SessionTTL
	// (24 hours) if zero.
	CodeTTL     time.Duration
	MaxAttempts int
	SessionTTL  time.Duration
	// Limits; a nil pointer means DefaultLimits.
	Limits *Limits
	// ReplayWindow of signed requests (reqsign.DefaultWindow if 0).
	ReplayWindow time.Duration
}

// Service is the identity directory. Create it with New, serve its
// Handler, Close it at shutdown.
type Service struct {
	store      storage.Store
	sender     Sender
	log        *slog.Logger
	now        func() time.Time
	maxDevices int
	codeTTL    time.Duration
	maxTries   int
	sessionTTL time.Duration
	verifier   *reqsign.Verifier
	session    sessionKey
	codeKey    []byte

	lookupDev, lookupAddr, regDev, regAddr, verifyDev, verifyAddr, perHandle *ratelimit.Limiter

	fragments fragmentCache

	cacheMu sync.RWMutex
	cache   map[storage.DeviceID]cachedKey

	stop chan struct{}
	done chan struct{}
}

type cachedKey struct {
	pub     *identity.Public
	account string
	expires time.Time
}

// New prepares the service: it loads (or creates, on first start) the
// session-token and code-digest secrets from the store and starts a
// goroutine that deletes expired codes every 10 minutes.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sender == nil {
		return nil, errors.New("directory: Store and Sender are required")
	}
	s := &Service{
		store: cfg.Store, sender: cfg.Sender, log: cfg.Logger, now: cfg.Now,
		maxDevices: cfg.MaxDevices, codeTTL: cfg.CodeTTL, maxTries: cfg.MaxAttempts, sessionTTL: cfg.SessionTTL,
		cache: make(map[storage.DeviceID]cachedKey),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxDevices <= 0 {
		s.maxDevices = dirapi.DefaultMaxDevices
	}
	if s.codeTTL <= 0 {
		s.codeTTL = DefaultCodeTTL
	}
	if s.maxTries <= 0 {
		s.maxTries = DefaultMaxAttempts
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	lim := DefaultLimits
	if cfg.Limits != nil {
		lim = *cfg.Limits
	}
	if !lim.LookupDevice.Unlimited() && lim.LookupDevice.Burst < dirapi.MaxLookupHandles ||
		!lim.LookupAddr.Unlimited() && lim.LookupAddr.Burst < dirapi.MaxLookupHandles {
		return nil, fmt.Errorf("directory: lookup bursts must be at least %d (one full lookup)", dirapi.MaxLookupHandles)
	}
	nl := func(l ratelimit.Limit) *ratelimit.Limiter { return ratelimit.New(l, s.now) }
	s.lookupDev, s.lookupAddr = nl(lim.LookupDevice), nl(lim.LookupAddr)
	s.regDev, s.regAddr = nl(lim.RegisterDevice), nl(lim.RegisterAddr)
	s.verifyDev, s.verifyAddr = nl(lim.VerifyDevice), nl(lim.VerifyAddr)
	s.perHandle = nl(lim.CodesPerHandle)
	s.verifier = reqsign.NewVerifier(cfg.ReplayWindow, s.now)
	var err error
	if s.session.key, err = loadSecret(ctx, cfg.Store, sessionKeyName); err != nil {
		return nil, err
	}
	if s.codeKey, err = loadSecret(ctx, cfg.Store, codeKeyName); err != nil {
		return nil, err
	}
	go s.pruneLoop()
	return s, nil
}

func loadSecret(ctx context.Context, st storage.Store, name string) ([]byte, error) {
	candidate := make([]byte, secretLength)
	rand.Read(candidate)
	key, err := st.Secret(ctx, name, candidate)
	if err != nil {
		return nil, fmt.Errorf("directory: load %s: %w", name, err)
	}
	if len(key) != secretLength {
		return nil, fmt.Errorf("directory: stored %s has %d bytes, want %d", name, len(key), secretLength)
	}
	return key, nil
}

func (s *Service) pruneLoop() {
	defer close(s.done)
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			n, err := s.store.DeleteExpiredCodes(ctx, s.now())
			cancel()
			if err != nil {
				s.log.Warn("directory: deleting expired codes", "err", err)
			} else if n > 0 {
				s.log.Debug("directory: deleted expired codes", "count", n)
			}
		}
	}
}

// Close stops the background work. It does not close the store.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.done
	}
	return nil
}

// DeviceByPushToken returns the registered device holding a push token, or
// an error wrapping storage.ErrNotFound. For the relay: who is connecting.
func (s *Service) DeviceByPushToken(ctx context.Context, token []byte) (storage.Device, error) {
	return s.store.DeviceByPushToken(ctx, token)
}

// DeviceByIdentity returns the registered device with identity hash id, or
// an error wrapping storage.ErrNotFound.
func (s *Service) DeviceByIdentity(ctx context.Context, id storage.DeviceID) (storage.Device, error) {
	return s.store.Device(ctx, id)
}

// SigningKey resolves a signed request's key id (hex identity hash) to the
// registered device's signing key; it is a reqsign.KeyFunc, for other
// services that accept requests signed by registered devices:
//
//	id, err := verifier.Verify(r, body, dir.SigningKey)
//
// Unknown or removed devices get reqsign.ErrUnknown. Keys are cached for
// up to 10 seconds.
func (s *Service) SigningKey(keyID string) (*ecdsa.PublicKey, error) {
	id, derr := dirapi.ParseDeviceID(keyID)
	if derr != nil {
		return nil, reqsign.ErrMalformed
	}
	k, err := s.cachedDevice(context.Background(), storage.DeviceID(id))
	if err != nil {
		return nil, err
	}
	return k.pub.SigningKey(), nil
}

// CheckSessionToken reports whether token is a current session token that
// this directory issued to sender for recipient (both identity hashes):
// nil, ErrSessionTokenExpired or ErrSessionTokenInvalid. It needs no
// database access.
func (s *Service) CheckSessionToken(token []byte, sender, recipient storage.DeviceID) error {
	return s.session.check(token, sender, recipient, s.now())
}

// cachedDevice returns the parsed identity and account of a registered
// device, from the cache or the store; reqsign.ErrUnknown if none.
func (s *Service) cachedDevice(ctx context.Context, id storage.DeviceID) (cachedKey, error) {
	now := s.now()
	s.cacheMu.RLock()
	k, ok := s.cache[id]
	s.cacheMu.RUnlock()
	if ok && now.Before(k.expires) {
		return k, nil
	}
	d, err := s.store.Device(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		s.forget(id)
		return cachedKey{}, reqsign.ErrUnknown
	}
	if err != nil {
		return cachedKey{}, err
	}
	pub, err := identity.ParsePublic(d.Identity)
	if err != nil {
		return cachedKey{}, fmt.Errorf("directory: stored identity of a device does not parse: %w", err)
	}
	k = cachedKey{pub: pub, account: d.Account, expires: now.Add(keyCacheTTL)}
	s.cacheMu.Lock()
	if len(s.cache) >= keyCacheMax {
		clear(s.cache)
	}
	s.cache[id] = k
	s.cacheMu.Unlock()
	return k, nil
}

func (s *Service) forget(id storage.DeviceID) {
	s.cacheMu.Lock()
	delete(s.cache, id)
	s.cacheMu.Unlock()
}
