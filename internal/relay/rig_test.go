package relay

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/embedded"
	"github.com/sealpost/sealpost/internal/server"
)

var (
	keysOnce sync.Once
	testKeys []*rsa.PrivateKey
)

// keys returns the RSA-2048 test keys in testdata (generating keys is
// slow: about 160 ms each here).
func keys(t testing.TB) []*rsa.PrivateKey {
	keysOnce.Do(func() {
		b, err := os.ReadFile("testdata/keys.pem")
		if err != nil {
			panic(err)
		}
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k.(*rsa.PrivateKey))
		}
	})
	return testKeys
}

func loadKey(t testing.TB, path string) *rsa.PrivateKey {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// issue makes a device certificate for key from ca.
func issue(t testing.TB, ca *pki.CA, key *rsa.PrivateKey, notBefore, notAfter time.Time) []byte {
	c, err := ca.Sign(&x509.Certificate{Subject: pkix.Name{CommonName: "test device"}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return c.Raw
}

// rig is a sealpostd node in the test process: the real server assembly
// (TLS 1.3 listener, ALPN routing) with the relay attached.
type rig struct {
	t      testing.TB
	dir    string
	srv    *server.Server
	svc    *Service
	mb     *embedded.Store
	tokens *FileTokens
	addr   string
	tlsCfg *tls.Config
	done   chan error
}

func newRig(t testing.TB, tweak func(*Options)) *rig {
	t.Helper()
	dir := t.TempDir()
	return startRig(t, dir, "127.0.0.1:0", tweak)
}

func startRig(t testing.TB, dir, listen string, tweak func(*Options)) *rig {
	t.Helper()
	srv, err := server.New(server.Config{DataDir: dir, Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := embedded.Open(filepath.Join(dir, "relay", "mailbox"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := OpenTokens(filepath.Join(dir, "relay", "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{DeviceCAs: []*x509.Certificate{srv.DeviceCA().Cert}, Mailbox: mb, Tokens: tokens}
	if tweak != nil {
		tweak(&opt)
	}
	svc, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetCourier(func(c *tls.Conn) { svc.ServeConn(c) })
	srv.Mux().Handle("POST "+CertificatePath, NewIssuer(srv.DeviceCA(), DefaultCertRate, nil))
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.CA().Cert)
	r := &rig{t: t, dir: dir, srv: srv, svc: svc, mb: mb, tokens: tokens, addr: ln.Addr().String(),
		tlsCfg: &tls.Config{RootCAs: roots, ServerName: "localhost"}, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ln) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	if r.svc == nil {
		return
	}
	r.svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.srv.Shutdown(ctx)
	<-r.done
	r.mb.Close()
	r.tokens.Close()
	r.svc = nil
}

// device is a test device: a key, its certificate and, once connected, its
// token.
type device struct {
	key   *rsa.PrivateKey
	cert  []byte
	token []byte
}

func (r *rig) device(i int) *device {
	k := keys(r.t)[i]
	now := time.Now()
	return &device{key: k, cert: issue(r.t, r.srv.DeviceCA(), k, now.Add(-time.Hour), now.Add(24*time.Hour))}
}

func (r *rig) dial() *courier.Conn {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := courier.Dial(ctx, r.addr, r.tlsCfg)
	if err != nil {
		r.t.Fatal(err)
	}
	c.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// connect dials and authenticates d, keeping the token it gets.
func (r *rig) connect(d *device) *courier.Conn {
	r.t.Helper()
	c := r.dial()
	ack, err := c.Connect(d.cert, d.key, d.token)
	if err != nil {
		r.t.Fatal(err)
	}
	if ack.Status != courier.StatusOK {
		r.t.Fatalf("connect refused")
	}
	d.token = ack.Token
	return c
}

// online connects d and enables topics.
func (r *rig) online(d *device, topics ...courier.Topic) *courier.Conn {
	r.t.Helper()
	c := r.connect(d)
	if err := c.Filter(d.token, topics...); err != nil {
		r.t.Fatal(err)
	}
	return c
}

var madrid = courier.TopicOf(courier.TopicIMessage)

// next reads frames until one with cmd arrives.
func next(t testing.TB, c *courier.Conn, cmd byte) courier.Frame {
	t.Helper()
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for command %d: %v", cmd, err)
		}
		if f.Command == cmd {
			return f
		}
	}
}

func tok(b []byte) mailbox.Token { return mailbox.Token(b) }
