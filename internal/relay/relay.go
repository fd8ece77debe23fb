// Package relay is Sealpost's push relay, the part that plays APNs: it
// holds each device's courier connection (TLS 1.3, ALPN apns-security-v3,
// framing in package courier), authenticates devices by their push
// certificate, splits a device's send into one delivery per receiving
// device, stores each durably in the mailbox, pushes it to the device when
// it is online and deletes it on the device's acknowledgement.
//
// # Pipeline
//
//	device ──TLS──▶ ServeConn: read frame ──▶ Connect: certificate → CA, nonce window + replay, RSA-SHA1
//	                                      │            signature, token bound to the key ──▶ ConnectAck
//	                                      ├─▶ Filter: topics; rescan the queue ──▶ pump (or NoStorage)
//	                                      ├─▶ SendMessage ─▶ direct: one Delivery
//	                                      │                └▶ fan-out: IDS dtl → one Delivery per device
//	                                      │                   ─▶ mailbox.Enqueue (durable, group commit)
//	                                      │                   ─▶ c=255 per destination + SendMessageAck
//	                                      ├─▶ SendMessageAck (device's ack) ─▶ mailbox.Ack (own queue only)
//	                                      └─▶ KeepAlive ─▶ KeepAliveAck; SetState, others ignored
//
//	mailbox wake-up (Watch) ─▶ conn.kick ─▶ pump goroutine (only while there is work):
//	    mailbox.Pending(token, cursor) ─▶ enabled topic? ─▶ delivery frames, many per Write
//
// A connection has one goroutine while idle (its reader); the pump runs
// only while there is something to push. ServeConn keeps the caller's
// goroutine (internal/server's, which did the TLS handshake);
// ServeConnDetached, for listeners the relay owns, moves the connection to
// a fresh goroutine once Connect is verified, so an idle connection keeps
// a small stack. Each device's sends are handled
// in order, one at a time; many devices' sends share the mailbox's group
// commit.
//
// # Decisions
//
//   - Delivery ids (field 4) are the mailbox's per-device Seq, so an id is
//     the same on every connection and an acknowledgement needs no state;
//     the answers the relay sends the sender (c = 255) use ids with the high
//     bit set, which are never queued.
//   - A device acknowledges with SendMessageAck; the relay deletes from the
//     queue of the connection's own token only, whatever token the ack
//     names (H8).
//   - A device has at most MaxInflight deliveries unacknowledged on a
//     connection; more wait for acks. Unacknowledged ones are delivered
//     again, with the same id, on the next connection.
//   - Direct sends (field 2 another device's token) take payloads up to
//     courier.MaxPayload (4096); fan-out sends and deliveries up to
//     courier.LargePayload (16384). Above that: status 03, nothing stored.
//     A direct send's dedup key is SHA-256(sender token ‖ topic ‖ id ‖
//     payload), so a retried frame is stored once.
//   - An IDS message with eX = 0 is ephemeral (typing indicators): pushed
//     to destinations online at that moment, never stored. eX > 0 shortens
//     the delivery's life and is reported in field 5.
//   - Destination tokens are checked against the token registry, and a
//     fan-out against the directory when Options.CheckFanout is set
//     (sealpostd sets it: server.FanoutCheck, K6). The session token sT is
//     not checked yet; the sender handle sP is passed on as claimed.
//
// # Lock order
//
// Service.mu (the connection registry) before conn.dmu (a connection's
// delivery state); conn.wmu (its writes) is a leaf. No lock is held while
// calling the mailbox or the token store, or while reading from a
// connection; conn.wmu is held while writing to one, with a deadline.
package relay

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Defaults.
const (
	DefaultTTL             = 720 * time.Hour
	DefaultConnectTimeout  = 10 * time.Second
	DefaultIdleTimeout     = 20 * time.Minute
	DefaultWriteTimeout    = 30 * time.Second
	DefaultNonceWindow     = 5 * time.Minute
	DefaultMaxInflight     = 256
	DefaultMaxTokensPerKey = 100
)

// Options configure a Service.
type Options struct {
	// DeviceCAs are the CAs whose certificates may connect: the node's
	// device CA and any extra CAs the operator names.
	DeviceCAs []*x509.Certificate
	// Mailbox stores deliveries; the Service does not close it.
	Mailbox mailbox.Mailbox
	// Tokens issues and checks device tokens; the Service does not close it.
	Tokens TokenStore
	// TTL is how long a delivery waits for its device (DefaultTTL).
	TTL time.Duration
	// ConnectTimeout bounds the time from the TLS handshake to a verified
	// Connect (DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// IdleTimeout closes an authenticated connection that sent nothing for
	// this long (DefaultIdleTimeout; clients ping every 30–60 s).
	IdleTimeout time.Duration
	// WriteTimeout closes a connection a write to which blocks this long.
	WriteTimeout time.Duration
	// NonceWindow is how far a Connect nonce's time may be from the
	// relay's clock (DefaultNonceWindow).
	NonceWindow time.Duration
	// MaxInflight bounds a connection's unacknowledged deliveries.
	MaxInflight int
	// MaxTokensPerKey bounds the tokens one push key can obtain.
	MaxTokensPerKey int
	// Revoked, if set, reports whether a device's push key (SHA-256 of its
	// certificate's SubjectPublicKeyInfo) is revoked; such a device cannot
	// connect. It is asked at every Connect.
	Revoked func(keyHash [32]byte) bool
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// CheckFanout, if set, is asked about every fan-out send before
	// anything is stored: the sender's token and the parsed IDS message.
	// It returns nil (all fine) or one status per destination; a
	// destination whose status is not ids.StatusAccepted is answered with
	// it and not stored. The server assembly sets it from the directory,
	// so that a send missing a registered device or including a removed
	// one is refused and the sender looks the handle up again (K6). It is
	// called on the connection's goroutine.
	CheckFanout func(ctx context.Context, sender mailbox.Token, o *ids.Outgoing) []int
}

// Service is the relay. Create it with New, give it connections with
// ServeConn, stop it with Close.
type Service struct {
	opt    Options
	log    *slog.Logger
	mbox   mailbox.Mailbox
	tokens TokenStore
	auth   *authenticator
	now    func() time.Time

	mu      sync.Mutex
	online  map[mailbox.Token]*conn
	all     map[*conn]struct{}
	closing bool
	ctx     context.Context
	cancel  context.CancelFunc
	connWG  sync.WaitGroup

	nConnects, nRefused, nDeliveries, nAcks, nSends atomic.Int64
}

// Stats are counters for tests and the load generator.
type Stats struct {
	Connects, Refused, Deliveries, Acks, Sends int64
}

// New returns a relay.
func New(opt Options) (*Service, error) {
	if opt.Mailbox == nil || opt.Tokens == nil {
		return nil, errors.New("relay: a mailbox and a token store are required")
	}
	if len(opt.DeviceCAs) == 0 {
		return nil, errors.New("relay: no device CA")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.TTL, DefaultTTL)
	def(&opt.ConnectTimeout, DefaultConnectTimeout)
	def(&opt.IdleTimeout, DefaultIdleTimeout)
	def(&opt.WriteTimeout, DefaultWriteTimeout)
	def(&opt.NonceWindow, DefaultNonceWindow)
	if opt.MaxInflight <= 0 {
		opt.MaxInflight = DefaultMaxInflight
	}
	if opt.MaxTokensPerKey <= 0 {
		opt.MaxTokensPerKey = DefaultMaxTokensPerKey
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		opt: opt, log: opt.Logger, mbox: opt.Mailbox, tokens: opt.Tokens, now: opt.Now,
		auth:   newAuthenticator(opt.DeviceCAs, opt.NonceWindow, opt.Now, opt.Revoked),
		online: make(map[mailbox.Token]*conn),
		all:    make(map[*conn]struct{}),
		ctx:    ctx, cancel: cancel,
	}, nil
}

// ServeConn runs the courier protocol on nc (normally a *tls.Conn whose
// handshake is done) until the device disconnects, breaks the protocol or
// the relay closes. It closes nc.
func (s *Service) ServeConn(nc net.Conn) {
	c := &conn{s: s, nc: nc}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.all[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer s.connWG.Done()
	c.serve()
}

// ServeConnDetached is ServeConn for a listener the relay owns: it runs the
// Connect in the calling goroutine, then the rest of the connection in a
// new goroutine, and returns. The deep stack of the TLS handshake and of
// the certificate checks goes with the calling goroutine, so an idle
// connection keeps only a small one.
func (s *Service) ServeConnDetached(nc net.Conn) {
	c := &conn{s: s, nc: nc}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.all[c] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	if !c.handshake() {
		c.close()
		s.connWG.Done()
		return
	}
	go func() {
		defer s.connWG.Done()
		defer c.close()
		c.loop()
	}()
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Connects: s.nConnects.Load(), Refused: s.nRefused.Load(), Deliveries: s.nDeliveries.Load(),
		Acks: s.nAcks.Load(), Sends: s.nSends.Load()}
}

// Online returns the number of authenticated connections.
func (s *Service) Online() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.online)
}

// Close closes every connection and waits for their goroutines. The
// mailbox and token store stay open (their owner closes them after).
func (s *Service) Close() error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.all))
	for c := range s.all {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.close()
	}
	s.connWG.Wait()
	return nil
}

// register makes c the device's connection, closing an older one.
func (s *Service) register(c *conn) {
	s.mu.Lock()
	old := s.online[c.token]
	s.online[c.token] = c
	s.mu.Unlock()
	s.nConnects.Add(1)
	if old != nil {
		old.close()
	}
}

func (s *Service) unregister(c *conn) {
	s.mu.Lock()
	if c.authed && s.online[c.token] == c {
		delete(s.online, c.token)
	}
	delete(s.all, c)
	s.mu.Unlock()
}

func (s *Service) lookupOnline(t mailbox.Token) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online[t]
}

// topic converts a wire topic.
func topicOf(b []byte) (courier.Topic, bool) {
	var t courier.Topic
	if len(b) != courier.TopicSize {
		return t, false
	}
	copy(t[:], b)
	return t, true
}

// failed logs an error of the store or the token registry: at error level,
// or at debug level once the service is closing, when a cancelled request
// is expected and the device retries what was not acknowledged.
func (s *Service) failed(msg string, err error) {
	if s.ctx.Err() != nil {
		s.log.Debug(msg, "err", err)
		return
	}
	s.log.Error(msg, "err", err)
}
