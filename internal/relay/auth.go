package relay

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Why a Connect was refused. The device sees only StatusRefused; the reason
// goes to the debug log and to tests.
var (
	errNoCert       = errors.New("no certificate")
	errBadCert      = errors.New("certificate does not parse")
	errUntrusted    = errors.New("certificate does not chain to a device CA")
	errExpired      = errors.New("certificate is expired or not yet valid")
	errWeakKey      = errors.New("certificate key is not RSA of 2048 to 8192 bits")
	errBadNonce     = errors.New("nonce is malformed")
	errStaleNonce   = errors.New("nonce is outside the accepted window")
	errReplay       = errors.New("nonce was already used")
	errBadSignature = errors.New("signature does not verify")
	errOtherKey     = errors.New("token is bound to another key")
	errRevoked      = errors.New("device key is revoked")
)

const (
	minRSABits = 2048
	maxRSABits = 8192
	// certCacheSize bounds the verified-certificate cache.
	certCacheSize = 4096
)

// verifiedCert is a certificate that chained to a trusted CA.
type verifiedCert struct {
	pub       *rsa.PublicKey
	keyHash   [32]byte // SHA-256 of the SubjectPublicKeyInfo
	notBefore time.Time
	notAfter  time.Time
}

// authenticator checks Connect frames. Safe for concurrent use.
type authenticator struct {
	roots   *x509.CertPool
	revoked func(keyHash [32]byte) bool
	window  time.Duration
	start   time.Time // nonces older than the process are refused
	now     func() time.Time

	mu    sync.Mutex
	certs map[[32]byte]*verifiedCert // by SHA-256 of the DER
	seen  map[int64]map[[courier.NonceSize]byte]struct{}
}

func newAuthenticator(cas []*x509.Certificate, window time.Duration, now func() time.Time, revoked func([32]byte) bool) *authenticator {
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	// Nonces carry milliseconds: the start is rounded down to match.
	return &authenticator{roots: pool, revoked: revoked, window: window, now: now, start: now().Truncate(time.Millisecond),
		certs: make(map[[32]byte]*verifiedCert), seen: make(map[int64]map[[courier.NonceSize]byte]struct{})}
}

// cert verifies a certificate (from the cache when it was seen before) at
// time now.
func (a *authenticator) cert(der []byte, now time.Time) (*verifiedCert, error) {
	if len(der) == 0 {
		return nil, errNoCert
	}
	sum := sha256.Sum256(der)
	a.mu.Lock()
	vc := a.certs[sum]
	a.mu.Unlock()
	if vc == nil {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errBadCert
		}
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits {
			return nil, errWeakKey
		}
		// Chain first at the certificate's own validity, so expiry is
		// checked below against our clock alone.
		if _, err := c.Verify(x509.VerifyOptions{Roots: a.roots, CurrentTime: c.NotBefore.Add(time.Second),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, errUntrusted
		}
		vc = &verifiedCert{pub: pub, keyHash: sha256.Sum256(c.RawSubjectPublicKeyInfo), notBefore: c.NotBefore, notAfter: c.NotAfter}
		a.mu.Lock()
		if len(a.certs) >= certCacheSize {
			for k := range a.certs { // drop an arbitrary entry
				delete(a.certs, k)
				break
			}
		}
		a.certs[sum] = vc
		a.mu.Unlock()
	}
	if now.Before(vc.notBefore) || now.After(vc.notAfter) {
		return nil, errExpired
	}
	if a.revoked != nil && a.revoked(vc.keyHash) {
		return nil, errRevoked
	}
	return vc, nil
}

// verify checks a Connect's certificate, nonce and signature and returns
// the verified certificate. The nonce is consumed only when everything
// else verified, so nobody can burn a device's nonces.
func (a *authenticator) verify(f *courier.Frame) (*verifiedCert, error) {
	now := a.now()
	der, _ := f.Get(courier.ConnectCertificate)
	nonce, _ := f.Get(courier.ConnectNonce)
	sig, _ := f.Get(courier.ConnectSignature)
	vc, err := a.cert(der, now)
	if err != nil {
		return nil, err
	}
	ts, err := courier.ParseNonce(nonce)
	if err != nil {
		return nil, errBadNonce
	}
	if ts.Before(now.Add(-a.window)) || ts.After(now.Add(a.window)) || ts.Before(a.start) {
		return nil, errStaleNonce
	}
	if courier.VerifyNonce(vc.pub, nonce, sig) != nil {
		return nil, errBadSignature
	}
	if !a.remember([courier.NonceSize]byte(nonce), ts, now) {
		return nil, errReplay
	}
	return vc, nil
}

// remember records a nonce stamped ts and reports whether it was new.
// Nonces are kept in buckets by minute and dropped once their time is out
// of the window, when they would be refused as stale anyway.
func (a *authenticator) remember(n [courier.NonceSize]byte, ts, now time.Time) bool {
	minute := ts.Unix() / 60
	oldest := now.Add(-a.window).Unix()/60 - 1
	a.mu.Lock()
	defer a.mu.Unlock()
	for m := range a.seen {
		if m < oldest {
			delete(a.seen, m)
		}
	}
	b := a.seen[minute]
	if b == nil {
		b = make(map[[courier.NonceSize]byte]struct{})
		a.seen[minute] = b
	}
	if _, dup := b[n]; dup {
		return false
	}
	b[n] = struct{}{}
	return true
}

// bindToken returns the device's token: the one it presented, if it is
// bound to this key; a new one if it presented none (or one this relay
// never issued). A token bound to another key is refused.
func (s *Service) bindToken(ctx context.Context, f *courier.Frame, vc *verifiedCert) (tok mailbox.Token, err error) {
	if v, ok := f.Get(courier.ConnectToken); ok && len(v) == courier.TokenSize {
		copy(tok[:], v)
		kh, ok, err := s.tokens.Lookup(ctx, tok)
		if err != nil {
			return tok, err
		}
		if ok {
			if kh != vc.keyHash {
				return tok, errOtherKey
			}
			return tok, nil
		}
	}
	return s.tokens.Issue(ctx, vc.keyHash, s.opt.MaxTokensPerKey)
}
