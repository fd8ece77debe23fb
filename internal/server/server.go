// Package server assembles sealpostd: it owns the data folder, the node's
// certificate authorities and its one TLS listener, and routes each
// connection by ALPN: "apns-security-v3" to the push relay's courier
// handler, everything else (h2, http/1.1) to the HTTP API of the directory
// and the blob store under /v1/.
//
//	TLS 1.3 listener ──ALPN apns-security-v3──▶ courier handler (relay)
//	                 └─h2 / http/1.1──▶ request observer ──▶ http.ServeMux: /v1/... , /healthz
//
// The request observer (ObserveRequests) reports each answered request's
// route pattern, status and stable error code, for metrics.
//
// Only this package and cmd/sealpostd import storage backends; the client
// SDK and the CLI never do.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sealpost/sealpost/internal/pki"
)

// ALPNCourier is the ALPN protocol of the push (courier) protocol.
const ALPNCourier = "apns-security-v3"

// Defaults for a node started with no flags.
const (
	DefaultDataDir = "sealpost-data"
	DefaultListen  = "127.0.0.1:7443"
)

// Timeouts of the HTTP side. Courier connections set their own deadlines.
const (
	handshakeTimeout = 10 * time.Second
	idleTimeout      = 2 * time.Minute
)

// Config is what a node needs to start.
type Config struct {
	// DataDir holds the embedded stores, and the CAs unless CADir is set.
	DataDir string
	// CADir holds the server and device CAs (ca.pem, ca.key,
	// device-ca.pem, device-ca.key; DataDir if empty). Nodes of one
	// deployment share them: point each node at one folder, or copy the
	// files. They are created there on first start.
	CADir string
	// Listen is the TLS address.
	Listen string
	// TLSNames are extra DNS names or IP addresses for the server
	// certificate, beyond localhost, the loopback addresses, the host name
	// and the listen host.
	TLSNames []string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Server is one sealpostd node.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ca       *pki.CA
	deviceCA *pki.CA
	mux      *http.ServeMux
	http     *http.Server
	courier  func(*tls.Conn)
	observe  func(Request)
}

// New prepares a node: it creates the data folder and the CAs if needed and
// issues the TLS certificate. Services attach to Mux and SetCourier before
// Serve.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.CADir == "" {
		cfg.CADir = cfg.DataDir
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := os.MkdirAll(cfg.CADir, 0o700); err != nil {
		return nil, fmt.Errorf("CA folder: %w", err)
	}
	ca, err := pki.LoadOrCreate(cfg.CADir, "ca", "Sealpost server CA")
	if err != nil {
		return nil, fmt.Errorf("server CA: %w", err)
	}
	deviceCA, err := pki.LoadOrCreate(cfg.CADir, "device-ca", "Sealpost device CA")
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	cert, err := ca.ServerCertificate(certNames(cfg))
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	s := &Server{cfg: cfg, log: log, ca: ca, deviceCA: deviceCA, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.http = &http.Server{
		Handler: http.HandlerFunc(s.serveHTTP),
		TLSConfig: &tls.Config{
			MinVersion:                  tls.VersionTLS13,
			Certificates:                []tls.Certificate{cert},
			NextProtos:                  []string{ALPNCourier, "h2", "http/1.1"},
			DynamicRecordSizingDisabled: true,
		},
		ReadHeaderTimeout: handshakeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){
			ALPNCourier: func(_ *http.Server, c *tls.Conn, _ http.Handler) { s.serveCourier(c) },
		},
	}
	return s, nil
}

func certNames(cfg Config) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
		names = append(names, h)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	return append(names, cfg.TLSNames...)
}

// Mux is where HTTP services register their routes.
func (s *Server) Mux() *http.ServeMux { return s.mux }

// CA returns the server CA, whose certificate clients trust.
func (s *Server) CA() *pki.CA { return s.ca }

// DeviceCA returns the CA that issues device push certificates.
func (s *Server) DeviceCA() *pki.CA { return s.deviceCA }

// Config returns the node's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Logger returns the node's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// SetCourier sets the handler of push connections. It owns the connection
// and must close it.
func (s *Server) SetCourier(h func(*tls.Conn)) { s.courier = h }

// OnShutdown registers f to run when Shutdown begins. Courier connections
// are long-lived and Shutdown waits for them, so the relay closes them
// from here.
func (s *Server) OnShutdown(f func()) { s.http.RegisterOnShutdown(f) }

// TLSConfig returns a copy of the listener's TLS configuration (the node's
// certificate, TLS 1.3 only), for a part that also serves on an address of
// its own.
func (s *Server) TLSConfig() *tls.Config { return s.http.TLSConfig.Clone() }

func (s *Server) serveCourier(c *tls.Conn) {
	if s.courier == nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{}) // the courier handler sets its own deadlines
	s.courier(c)
}

// ListenAndServe listens on the configured address and serves until
// Shutdown. The listener address is reported through ready, if not nil.
func (s *Server) ListenAndServe(ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(ln)
}

// Serve accepts TLS connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for HTTP requests in
// flight, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }
