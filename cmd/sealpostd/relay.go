package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/embedded"
	"github.com/sealpost/sealpost/internal/relay/mailbox/natsjs"
	"github.com/sealpost/sealpost/internal/server"
)

// The push relay: courier connections (ALPN apns-security-v3 on --listen,
// and optionally on an address of their own), push-certificate issuance
// at POST /v1/push/certificate, and the mailbox in the data folder.
func init() {
	parts = append(parts, part{name: "relay", flags: relayFlags, attach: relayAttach})
}

var relayCfg struct {
	courierListen string
	deviceCAs     stringList
	mailbox       string
	queueTTL      time.Duration
	tokensPerKey  int
	certRate      string
	cpuProfile    string
	revoked       string
	fanoutCheck   bool
}

func relayFlags(fs *flag.FlagSet) {
	fs.StringVar(&relayCfg.courierListen, "courier-listen", "",
		"also serve the push protocol on this TLS address of its own (e.g. :5223; ALPN optional there); --listen serves it by ALPN apns-security-v3 in any case")
	fs.Var(&relayCfg.deviceCAs, "device-ca",
		"PEM file of an extra CA whose device push certificates may connect, beside <data>/device-ca.pem (repeatable)")
	fs.StringVar(&relayCfg.mailbox, "mailbox", "embedded",
		"relay mailbox: embedded (in <data>/relay/mailbox), embedded:DIR, or nats://host:port[,nats://host2:port][?stream=S&subject=P&wake=W&tokens=B] for NATS JetStream, shared by several nodes (device tokens then live in the NATS key-value bucket B, default "+natsjs.DefaultTokenBucket+")")
	fs.DurationVar(&relayCfg.queueTTL, "queue-ttl", relay.DefaultTTL, "how long a delivery waits for an offline device before it is deleted unseen")
	fs.IntVar(&relayCfg.tokensPerKey, "tokens-per-key", relay.DefaultMaxTokensPerKey, "most device tokens one push key can obtain")
	fs.StringVar(&relayCfg.certRate, "push-cert-rate", relay.DefaultCertRate.String(),
		"push-certificate issuance per client address: RATE:BURST (per second : burst) or off")
	fs.StringVar(&relayCfg.revoked, "revoked-devices", "",
		"file of revoked device push keys, one hex SHA-256 of the certificate's SubjectPublicKeyInfo per line; re-read when it changes")
	fs.BoolVar(&relayCfg.fanoutCheck, "relay-fanout-check", true,
		"refuse sends that miss a device registered in the directory or include one that is not (K6; one directory lookup per send); off only for load tests with devices the directory does not know")
	fs.StringVar(&relayCfg.cpuProfile, "relay-cpuprofile", "", "write a CPU profile of the whole process to this file until shutdown (for load tests)")
}

// attachedRelay and attachedMailbox are the relay service and its mailbox
// once the relay part has attached (nil before, or if it failed), for
// parts that report on them (metrics, readiness).
var (
	attachedRelay   *relay.Service
	attachedMailbox mailbox.Mailbox
)

// mailboxSpec is a parsed --mailbox: the embedded mailbox's folder, or the
// options of the NATS JetStream one.
type mailboxSpec struct {
	dir  string
	nats *natsjs.Options
}

// parseMailbox reads a --mailbox value without touching anything; it is
// the one place a mailbox backend is chosen (openMailbox opens what it
// names, checkconfig reports its error).
func parseMailbox(spec, dataDir string) (mailboxSpec, error) {
	switch {
	case strings.HasPrefix(spec, "nats://") || strings.HasPrefix(spec, "tls://"):
		opt, err := natsjs.OptionsFromURL(spec)
		if err != nil {
			return mailboxSpec{}, err
		}
		return mailboxSpec{nats: &opt}, nil
	case spec == "" || spec == "embedded":
		return mailboxSpec{dir: filepath.Join(dataDir, "relay", "mailbox")}, nil
	case strings.HasPrefix(spec, "embedded:"):
		if dir := strings.TrimPrefix(spec, "embedded:"); dir != "" {
			return mailboxSpec{dir: dir}, nil
		}
		return mailboxSpec{}, errors.New("embedded:DIR needs a folder")
	}
	return mailboxSpec{}, errors.New("want embedded, embedded:DIR or nats://host:port")
}

// openMailbox opens the mailbox that spec names. The device token
// registry lives beside the mailbox: a file in the data folder with the
// embedded mailbox, a key-value bucket on the NATS server with the
// JetStream one, so that every node of a cluster knows every token.
func openMailbox(spec, dataDir string, ttl time.Duration, log *slog.Logger) (mailbox.Mailbox, relay.TokenStore, error) {
	ms, err := parseMailbox(spec, dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("--mailbox: %w", err)
	}
	if opt := ms.nats; opt != nil {
		opt.TTL, opt.Logger = ttl, log
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := natsjs.Open(ctx, *opt)
		if err != nil {
			return nil, nil, fmt.Errorf("--mailbox: %w", err)
		}
		tokens, err := st.Tokens(ctx)
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("--mailbox: %w", err)
		}
		return st, tokens, nil
	}
	mb, err := embedded.Open(ms.dir, embedded.Options{})
	if err != nil {
		return nil, nil, err
	}
	tokens, err := relay.OpenTokens(filepath.Join(dataDir, "relay", "tokens"))
	if err != nil {
		mb.Close()
		return nil, nil, err
	}
	return mb, tokens, nil
}

func loadCAs(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--device-ca: %w", err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("--device-ca %s: %w", p, err)
			}
			out = append(out, c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("--device-ca %s: no PEM certificate", p)
		}
	}
	return out, nil
}

type relayCloser struct {
	svc     *relay.Service
	ln      net.Listener
	mb      mailbox.Mailbox
	tokens  relay.TokenStore
	profile *os.File
	log     *slog.Logger
}

func (c *relayCloser) Close() error {
	if c.ln != nil {
		c.ln.Close()
	}
	c.svc.Close()
	if c.profile != nil {
		pprof.StopCPUProfile()
		c.profile.Close()
	}
	if st, ok := c.mb.(*natsjs.Store); ok {
		s := st.Stats()
		c.log.Info("relay: mailbox", "enqueued", s.Enqueued, "duplicates", s.Duplicates, "conflicts", s.Conflicts,
			"acked", s.Acked, "acks_dropped", s.AckDropped)
	}
	if st, ok := c.mb.(*embedded.Store); ok {
		s := st.Stats()
		c.log.Info("relay: mailbox", "groups", s.Batches, "syncs", s.Syncs, "enqueued", s.Enqueued, "duplicates", s.Duplicates,
			"acked", s.Acked, "expired", s.Expired, "compactions", s.Compactions, "sync_p50", s.SyncP50, "sync_p99", s.SyncP99)
	}
	rs := c.svc.Stats()
	c.log.Info("relay: connections", "connects", rs.Connects, "refused", rs.Refused, "sends", rs.Sends, "deliveries", rs.Deliveries, "acks", rs.Acks)
	return errors.Join(c.tokens.Close(), c.mb.Close())
}

func relayAttach(srv *server.Server) (io.Closer, error) {
	limit, err := ratelimit.ParseLimit(relayCfg.certRate)
	if err != nil {
		return nil, fmt.Errorf("--push-cert-rate: %w", err)
	}
	extra, err := loadCAs(relayCfg.deviceCAs)
	if err != nil {
		return nil, err
	}
	var revoked func([32]byte) bool
	if relayCfg.revoked != "" {
		rl := &revocations{path: relayCfg.revoked}
		if err := rl.load(); err != nil {
			return nil, fmt.Errorf("--revoked-devices: %w", err)
		}
		revoked = rl.has
	}
	dataDir := srv.Config().DataDir
	mb, tokens, err := openMailbox(relayCfg.mailbox, dataDir, relayCfg.queueTTL, srv.Logger())
	if err != nil {
		return nil, err
	}
	var check func(context.Context, mailbox.Token, *ids.Outgoing) []int
	if relayCfg.fanoutCheck {
		if attachedDirectoryStore == nil {
			mb.Close()
			tokens.Close()
			return nil, errors.New("--relay-fanout-check needs the directory")
		}
		check = server.FanoutCheck(attachedDirectoryStore)
	}
	svc, err := relay.New(relay.Options{
		CheckFanout:     check,
		DeviceCAs:       append([]*x509.Certificate{srv.DeviceCA().Cert}, extra...),
		Mailbox:         mb,
		Tokens:          tokens,
		TTL:             relayCfg.queueTTL,
		MaxTokensPerKey: relayCfg.tokensPerKey,
		Revoked:         revoked,
		Logger:          srv.Logger(),
	})
	if err != nil {
		mb.Close()
		tokens.Close()
		return nil, err
	}
	attachedRelay, attachedMailbox = svc, mb
	srv.SetCourier(func(c *tls.Conn) { svc.ServeConn(c) })
	srv.OnShutdown(func() { svc.Close() })
	srv.Mux().Handle("POST "+relay.CertificatePath, relay.NewIssuer(srv.DeviceCA(), limit, nil))
	cl := &relayCloser{svc: svc, mb: mb, tokens: tokens, log: srv.Logger()}
	if relayCfg.cpuProfile != "" {
		f, err := os.Create(relayCfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("--relay-cpuprofile: %w", err)
		}
		cl.profile = f
	}
	if relayCfg.courierListen != "" {
		ln, err := net.Listen("tcp", relayCfg.courierListen)
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("--courier-listen: %w", err)
		}
		cl.ln = ln
		cfg := srv.TLSConfig()
		cfg.NextProtos = []string{server.ALPNCourier}
		go serveCourier(ln, cfg, svc)
		srv.Logger().Info("relay: courier listener", "addr", ln.Addr().String())
	}
	go tidyMemory(srv.Logger(), svc)
	return cl, nil
}

// tidyMemory gives memory back to the operating system after a burst of
// connections: a TLS handshake leaves several kilobytes of garbage per
// connection, which the collector would otherwise keep as heap headroom
// for a long time on an idle relay. Every 30 s, if the number of
// connections moved by 500 or more since the last time it did so, it runs
// a collection that returns freed memory (about 100 ms of CPU for 20,000
// connections). At debug level it logs the connections and the memory.
func tidyMemory(log *slog.Logger, svc *relay.Service) {
	last := 0
	for range time.Tick(30 * time.Second) {
		n := svc.Online()
		if n-last >= 500 || last-n >= 500 {
			debug.FreeOSMemory()
			last = n
		}
		if log.Enabled(context.Background(), slog.LevelDebug) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			log.Debug("relay: memory", "online", n, "heap_inuse", m.HeapInuse, "stack_inuse", m.StackInuse,
				"sys", m.Sys, "goroutines", runtime.NumGoroutine(), "gc", m.NumGC)
		}
	}
}

// revocations is the --revoked-devices file, re-read when its
// modification time changes (checked at each Connect).
type revocations struct {
	path  string
	mu    sync.Mutex
	mtime time.Time
	keys  map[[32]byte]bool
}

func (r *revocations) load() error {
	st, err := os.Stat(r.path)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	keys := map[[32]byte]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		h, err := hex.DecodeString(line)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("%s:%d: not a hex SHA-256", r.path, i+1)
		}
		keys[[32]byte(h)] = true
	}
	r.mu.Lock()
	r.keys, r.mtime = keys, st.ModTime()
	r.mu.Unlock()
	return nil
}

func (r *revocations) has(keyHash [32]byte) bool {
	if st, err := os.Stat(r.path); err == nil {
		r.mu.Lock()
		changed := !st.ModTime().Equal(r.mtime)
		r.mu.Unlock()
		if changed {
			r.load() // a broken file keeps the previous list
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys[keyHash]
}

// serveCourier accepts push connections on a listener of their own.
func serveCourier(ln net.Listener, cfg *tls.Config, svc *relay.Service) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		go func() {
			tc := tls.Server(c, cfg)
			tc.SetDeadline(time.Now().Add(relay.DefaultConnectTimeout))
			if err := tc.Handshake(); err != nil {
				tc.Close()
				return
			}
			tc.SetDeadline(time.Time{})
			svc.ServeConnDetached(tc)
		}()
	}
}
