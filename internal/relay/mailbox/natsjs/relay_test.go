package natsjs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/relay"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/testrig"
)

// memTokens is a TokenStore shared by the test's relay nodes (in a real
// deployment, the shared token registry).
type memTokens struct {
	mu  sync.Mutex
	tok map[mailbox.Token][32]byte
}

func (m *memTokens) Issue(_ context.Context, keyHash [32]byte, _ int) (mailbox.Token, error) {
	var t mailbox.Token
	rand.Read(t[:])
	m.mu.Lock()
	m.tok[t] = keyHash
	m.mu.Unlock()
	return t, nil
}

func (m *memTokens) Lookup(_ context.Context, t mailbox.Token) ([32]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.tok[t]
	return k, ok, nil
}

func (m *memTokens) Close() error { return nil }

// relayNode is a relay.Service on a natsjs Store, serving the courier
// protocol on a loopback TLS listener.
type relayNode struct {
	svc  *relay.Service
	mb   *Store
	ln   net.Listener
	addr string
}

func startNode(t *testing.T, opt Options, ca *pki.CA, tokens relay.TokenStore) *relayNode {
	t.Helper()
	mb, err := Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := relay.New(relay.Options{DeviceCAs: []*x509.Certificate{ca.Cert}, Mailbox: mb, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		NextProtos: []string{"apns-security-v3"}})
	if err != nil {
		t.Fatal(err)
	}
	n := &relayNode{svc: svc, mb: mb, ln: ln, addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if err := c.(*tls.Conn).Handshake(); err != nil {
					c.Close()
					return
				}
				svc.ServeConn(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		svc.Close()
		mb.Close()
	})
	return n
}

// A device connected to node B receives at once what a device connected
// to node A sends it, through the relay and this mailbox on one NATS
// stream; its ack on B deletes the delivery; a delivery sent while it is
// offline reaches it when it connects to node A.
func TestRelayAcrossNodes(t *testing.T) {
	url := testURL(t)
	opt := testOptions(url, "relay_"+uniq())
	defer dropStream(t, url, opt.Stream)
	ca, err := pki.LoadOrCreate(t.TempDir(), "device-ca", "test device CA")
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{tok: map[mailbox.Token][32]byte{}}
	a := startNode(t, opt, ca, tokens)
	b := startNode(t, opt, ca, tokens)
	keys, err := testrig.PushKeys(2)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	topic := courier.TopicOf(courier.TopicIMessage)
	type dev struct {
		cert  []byte
		token []byte
	}
	devs := make([]dev, 2)
	for i := range devs {
		c, err := ca.Sign(&x509.Certificate{Subject: pkix.Name{CommonName: "device"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &keys[i].PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		devs[i].cert = c.Raw
	}
	connect := func(n *relayNode, i int) *courier.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := courier.Dial(ctx, n.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"apns-security-v3"}})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := c.Connect(devs[i].cert, keys[i], devs[i].token)
		if err != nil || ack.Status != courier.StatusOK {
			t.Fatalf("connect: %+v %v", ack, err)
		}
		devs[i].token = ack.Token
		if err := c.Filter(ack.Token, topic); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// next reads frames until a delivery.
	next := func(c *courier.Conn) (courier.Message, error) {
		c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return courier.Message{}, err
			}
			if f.Command == courier.CmdSendMessage {
				return courier.ParseMessage(f)
			}
		}
	}
	sender := connect(a, 0)
	defer sender.Close()
	go func() { // the sender's acks from the relay: drain
		for {
			if _, err := sender.ReadFrame(); err != nil {
				return
			}
		}
	}()
	receiver := connect(b, 1)
	// Online: A → NATS → B.
	var lat []time.Duration
	for i := range 5 {
		payload := []byte{byte(i), 1, 2, 3}
		start := time.Now()
		if err := sender.Send(topic, devs[1].token, payload, [4]byte{0, 0, 0, byte(i + 1)}); err != nil {
			t.Fatal(err)
		}
		m, err := next(receiver)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if string(m.Payload) != string(payload) {
			t.Fatalf("delivery %d: payload %x", i, m.Payload)
		}
		if err := receiver.Ack(devs[1].token, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	receiver.Close()
	// Acks applied on B: nothing queued any more.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var dev mailbox.Token
		copy(dev[:], devs[1].token)
		n := 0
		for _, err := range a.mb.Pending(context.Background(), dev, 0) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued after the acks", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Offline: sent through A, received on connecting to A (whether the
	// delivery is stored before the connection reads its queue or after).
	if err := sender.Send(topic, devs[1].token, []byte("offline"), [4]byte{0, 0, 1, 0}); err != nil {
		t.Fatal(err)
	}
	receiver = connect(a, 1)
	defer receiver.Close()
	m, err := next(receiver)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "offline" {
		t.Fatalf("offline delivery: %q", m.Payload)
	}
	t.Logf("relay across nodes: online deliveries A→B=5, latency max %v; offline delivery on reconnect ok", maxDur(lat).Round(100*time.Microsecond))
}
