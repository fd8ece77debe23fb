// Package testrig runs a whole Sealpost server in the test's process: the
// directory (SQLite in a temporary data folder), the push relay (embedded
// mailbox) and the blob store (files in the data folder), on one loopback TLS port
// behind the real server assembly (internal/server: one listener, ALPN
// routing). Tests of the client SDK and the CLI drive it as they would a
// running sealpostd. The relay checks each fan-out against the directory
// (server.FanoutCheck, K6) unless Options.NoFanoutCheck.
//
//	rig := testrig.Start(t, testrig.Options{})
//	// rig.URL, rig.CAPEM (what sealpost init --ca takes), rig.Code(handle)
//
// Verification codes are captured in memory (Code) and also written to
// <data>/outbox/<handle>, as sealpostd does, for scripts. Rate limits are
// off unless Options ask for the defaults. Start registers a cleanup that
// stops the server. A Rig is safe for concurrent use.
//
// Only tests (and the demo build of the CLI) import this package: it links
// every server part.
package testrig

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/backend"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/embedded"
	"github.com/sealpost/sealpost/internal/server"
)

// Options configure a Rig.
type Options struct {
	// DataDir is the data folder; a new temporary folder if empty.
	DataDir string
	// DefaultLimits turns on sealpostd's default rate limits (directory
	// and push certificates); by default every limit is off.
	DefaultLimits bool
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// NoFanoutCheck turns off the relay's check of fan-outs against the
	// directory (server.FanoutCheck: removed devices and handles whose
	// devices are missing are refused, K6), which the rig has by default.
	NoFanoutCheck bool
}

// TB is the part of testing.TB a Rig needs; a demo passes its own.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Fatalf(format string, args ...any)
}

// Rig is a running server.
type Rig struct {
	// URL is the server's base URL (https://127.0.0.1:PORT).
	URL string
	// Addr is its host:port.
	Addr string
	// DataDir is its data folder; CAPath its ca.pem.
	DataDir string
	CAPath  string
	// CAPEM is the server CA certificate in PEM.
	CAPEM []byte

	srv     *server.Server
	dir     *directory.Service
	store   storage.Store
	relay   *relay.Service
	mbox    *embedded.Store
	tokens  *relay.FileTokens
	closers []io.Closer
	blobs   bool
	done    chan error

	mu    sync.Mutex
	codes map[string]string
	wait  map[string]chan struct{}
	once  sync.Once
}

// Start starts a server and stops it when the test ends.
func Start(t TB, opt Options) *Rig {
	t.Helper()
	r, err := New(opt, t.TempDir)
	if err != nil {
		t.Fatalf("testrig: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// New starts a server; tempDir makes its data folder if opt has none.
// The caller must Close it.
func New(opt Options, tempDir func() string) (*Rig, error) {
	dataDir := opt.DataDir
	if dataDir == "" {
		if tempDir == nil {
			return nil, errors.New("testrig: no data folder")
		}
		dataDir = tempDir()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := server.New(server.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Logger: log})
	if err != nil {
		return nil, err
	}
	r := &Rig{srv: srv, DataDir: dataDir, CAPath: filepath.Join(dataDir, "ca.pem"), CAPEM: srv.CA().CertPEM(),
		codes: map[string]string{}, wait: map[string]chan struct{}{}, done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			r.closeParts()
		}
	}()

	// Directory: SQLite in the data folder, codes captured and written
	// to the outbox.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.store, err = backend.Open(ctx, "", dataDir); err != nil {
		return nil, fmt.Errorf("directory storage: %w", err)
	}
	limits := directory.Limits{}
	if opt.DefaultLimits {
		limits = directory.DefaultLimits
	}
	outbox := directory.Outbox{Dir: filepath.Join(dataDir, "outbox"), Log: log}
	if r.dir, err = directory.New(ctx, directory.Config{Store: r.store, Sender: capture{r, outbox}, Logger: log, Limits: &limits}); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	r.dir.Register(srv.Mux())

	// Relay: embedded mailbox and token file in the data folder.
	if r.mbox, err = embedded.Open(filepath.Join(dataDir, "relay", "mailbox"), embedded.Options{}); err != nil {
		return nil, fmt.Errorf("relay mailbox: %w", err)
	}
	if r.tokens, err = relay.OpenTokens(filepath.Join(dataDir, "relay", "tokens")); err != nil {
		return nil, fmt.Errorf("relay tokens: %w", err)
	}
	ropt := relay.Options{DeviceCAs: []*x509.Certificate{srv.DeviceCA().Cert}, Mailbox: r.mbox, Tokens: r.tokens, Logger: log}
	if !opt.NoFanoutCheck {
		ropt.CheckFanout = server.FanoutCheck(r.store)
	}
	if r.relay, err = relay.New(ropt); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	srv.SetCourier(func(c *tls.Conn) { r.relay.ServeConn(c) })
	srv.OnShutdown(func() { r.relay.Close() })
	certLimit := ratelimit.Limit{}
	if opt.DefaultLimits {
		certLimit = relay.DefaultCertRate
	}
	srv.Mux().Handle("POST "+relay.CertificatePath, relay.NewIssuer(srv.DeviceCA(), certLimit, nil))

	// Blob store: files in the data folder.
	if err := r.attachBlobs(srv, dataDir, log, opt.DefaultLimits); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Addr = ln.Addr().String()
	r.URL = "https://" + r.Addr
	go func() { r.done <- srv.Serve(ln) }()
	ok = true
	return r, nil
}

// capture records codes for Code and passes them on to the outbox.
type capture struct {
	r      *Rig
	outbox directory.Outbox
}

func (c capture) SendCode(ctx context.Context, h dirapi.Handle, code string, expires time.Time) error {
	c.r.mu.Lock()
	c.r.codes[string(h)] = code
	if ch, ok := c.r.wait[string(h)]; ok {
		close(ch)
		delete(c.r.wait, string(h))
	}
	c.r.mu.Unlock()
	return c.outbox.SendCode(ctx, h, code, expires)
}

// Code returns the latest verification code sent to handle (in any
// form), waiting up to 5 seconds for one. Codes are bound to the device
// that asked, and the rig keeps only the latest per handle: devices that
// register the same handle must take turns.
func (r *Rig) Code(handle string) (string, error) {
	h, err := dirapi.ParseHandle(handle)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	code, ok := r.codes[string(h)]
	var ch chan struct{}
	if !ok {
		ch = r.wait[string(h)]
		if ch == nil {
			ch = make(chan struct{})
			r.wait[string(h)] = ch
		}
	}
	r.mu.Unlock()
	if ok {
		return code, nil
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("no code was sent to %s", h)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codes[string(h)], nil
}

// Queued returns the UUIDs of the deliveries waiting in the relay for the
// device with push token, oldest first.
func (r *Rig) Queued(token []byte) ([][16]byte, error) {
	if len(token) != 32 {
		return nil, errors.New("testrig: a push token is 32 bytes")
	}
	var out [][16]byte
	for d, err := range r.mbox.Pending(context.Background(), mailbox.Token(token), 0) {
		if err != nil {
			return nil, err
		}
		out = append(out, [16]byte(d.UUID))
	}
	return out, nil
}

// Online returns how many devices are connected to the relay.
func (r *Rig) Online() int { return r.relay.Online() }

// Close stops the server and closes its stores.
func (r *Rig) Close() {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.relay.Close()
		r.srv.Shutdown(ctx)
		<-r.done
		r.closeParts()
	})
}

func (r *Rig) closeParts() {
	if r.relay != nil {
		r.relay.Close()
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i].Close()
	}
	if r.mbox != nil {
		r.mbox.Close()
	}
	if r.tokens != nil {
		r.tokens.Close()
	}
	if r.dir != nil {
		r.dir.Close()
	}
	if r.store != nil {
		r.store.Close()
	}
}

// PushKeys returns n RSA-2048 push keys for test devices, from
// testdata/pushkeys.pem (making keys takes about 0.2 s each); more than the
// file holds is an error.
func PushKeys(n int) ([]*rsa.PrivateKey, error) {
	keysOnce.Do(loadKeys)
	if keysErr != nil {
		return nil, keysErr
	}
	if n > len(pushKeys) {
		return nil, fmt.Errorf("testrig: %d push keys asked for, %d in testdata", n, len(pushKeys))
	}
	return pushKeys[:n], nil
}

var (
	keysOnce sync.Once
	pushKeys []*rsa.PrivateKey
	keysErr  error
	// keysNext hands out keys one at a time (NextPushKey).
	keysMu   sync.Mutex
	keysNext int
)

// NextPushKey returns a test push key not handed out before in this
// process, cycling through the file once it is used up (a relay token is
// per device, so reusing a key across rigs is fine).
func NextPushKey() (*rsa.PrivateKey, error) {
	keysOnce.Do(loadKeys)
	if keysErr != nil {
		return nil, keysErr
	}
	keysMu.Lock()
	defer keysMu.Unlock()
	k := pushKeys[keysNext%len(pushKeys)]
	keysNext++
	return k, nil
}

func loadKeys() {
	b := pushKeysPEM
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			keysErr = err
			return
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			keysErr = errors.New("testrig: push key is not RSA")
			return
		}
		pushKeys = append(pushKeys, rk)
	}
	if len(pushKeys) == 0 {
		keysErr = errors.New("testrig: no push keys")
	}
}

// ReadOutbox returns the code sealpostd's outbox holds for handle.
func ReadOutbox(dataDir, handle string) (string, error) {
	h, err := dirapi.ParseHandle(handle)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "outbox", string(h)))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
