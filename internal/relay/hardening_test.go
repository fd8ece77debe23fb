package relay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// outgoingOfSize builds a fan-out payload of exactly n bytes for dest.
func outgoingOfSize(t *testing.T, n int, dest []byte) []byte {
	t.Helper()
	o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: 1, Sender: "mailto:a@example.com", Scheme: ids.SchemePair}
	rand.Read(o.UUID[:])
	o.Destinations = []ids.Destination{{URI: "mailto:b@example.com", Token: dest}}
	for pad := range 64 {
		o.Sender = "mailto:a@example.com" + string(bytes.Repeat([]byte("x"), pad))
		p := n - 200
		for range 8 {
			o.Destinations[0].Payload = make([]byte, p)
			b := o.Marshal()
			if len(b) == n {
				return b
			}
			p += n - len(b)
			if p < 0 {
				break
			}
		}
	}
	t.Fatalf("no outgoing of %d bytes", n)
	return nil
}

// H3: both payload limits at limit−1, limit and limit+1.
func TestH3PayloadLimits(t *testing.T) {
	r := newRig(t, nil)
	alice, bob := r.device(6), r.device(7)
	ca := r.online(alice, madrid)
	defer ca.Close()
	r.connect(bob).Close()
	wrong := 0
	stored := 0
	check := func(what string, size int, st byte, want byte) {
		verdict := "ok"
		if st != want {
			wrong++
			verdict = "WRONG"
		}
		t.Logf("H3: %s %d bytes: status %02x (want %02x) %s", what, size, st, want, verdict)
	}
	for i, n := range []int{courier.MaxPayload - 1, courier.MaxPayload, courier.MaxPayload + 1} {
		ca.Send(madrid, bob.token, make([]byte, n), [4]byte{1, 0, 0, byte(i)})
		a, _ := courier.ParseSendAck(next(t, ca, courier.CmdSendMessageAck))
		want := courier.SendStored
		if n > courier.MaxPayload {
			want = courier.SendTooLarge
		} else {
			stored++
		}
		check("direct", n, a.Status, want)
	}
	for i, n := range []int{courier.LargePayload - 1, courier.LargePayload, courier.LargePayload + 1} {
		ca.Send(madrid, alice.token, outgoingOfSize(t, n, bob.token), [4]byte{2, 0, 0, byte(i)})
		var st byte
		destStatus := -1
		for {
			f, err := ca.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if f.Command == courier.CmdSendMessage {
				m, _ := courier.ParseMessage(f)
				if a, err := ids.ParseServerAck(m.Payload); err == nil {
					destStatus = a.Status
				}
				continue
			}
			if f.Command == courier.CmdSendMessageAck {
				a, _ := courier.ParseSendAck(f)
				st = a.Status
				break
			}
		}
		want := courier.SendStored
		if n > courier.LargePayload {
			want = courier.SendTooLarge
		} else if destStatus == ids.StatusAccepted {
			stored++
		}
		check("fan-out", n, st, want)
		if n <= courier.LargePayload && destStatus != ids.StatusAccepted {
			wrong++
			t.Logf("H3: fan-out %d bytes: destination status %d", n, destStatus)
		}
	}
	// What was accepted is queued, nothing else.
	got := len(collect(t, r, bob))
	fmt.Printf("H3: limits=4096,16384 cases=6 wrong_verdicts=%d stored=%d queued=%d\n", wrong, stored, got)
	if wrong != 0 || got != stored || stored != 4 {
		t.Fatalf("H3: %d wrong verdicts, %d queued for %d accepted", wrong, got, stored)
	}
}

func collect(t testing.TB, r *rig, d *device) []mailbox.Delivery {
	var out []mailbox.Delivery
	for del, err := range r.mb.Pending(t.Context(), tok(d.token), 0) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, del)
	}
	return out
}

// pipeConnect runs one Connect against svc over an in-memory pipe (the
// authentication logic is above TLS; the TLS path is covered by the other
// tests) and returns the status.
func pipeConnect(svc *Service, frame []byte) (byte, []byte, error) {
	cl, sv := net.Pipe()
	defer cl.Close()
	go svc.ServeConn(sv)
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := cl.Write(frame); err != nil {
		return 0, nil, err
	}
	c := courier.NewConn(cl)
	f, err := c.ReadFrame()
	if err != nil {
		return 0, nil, err
	}
	a, err := courier.ParseConnectAck(f)
	return a.Status, a.Token, err
}

// H6: 10,000 bad Connects of every kind are refused and 10,000 good ones
// accepted.
func TestH6ConnectAuth(t *testing.T) {
	ks := keys(t)
	revokedKey := sha256.Sum256(x509.MarshalPKCS1PublicKey(&ks[21].PublicKey))
	r := newRig(t, func(o *Options) {
		o.Revoked = func(h [32]byte) bool { return h == revokedKey }
	})
	now := time.Now()
	// The revocation list names keys by the SHA-256 of the certificate's
	// SubjectPublicKeyInfo.
	spki, _ := x509.MarshalPKIXPublicKey(&ks[21].PublicKey)
	revokedKey = sha256.Sum256(spki)
	good := make([]*device, 8)
	for i := range good {
		good[i] = r.device(8 + i)
		st, tk, err := pipeConnect(r.svc, mustConnect(t, good[i], nil, now))
		if err != nil || st != courier.StatusOK {
			t.Fatalf("setup connect: %v", err)
		}
		good[i].token = tk
	}
	otherCA, err := pki.LoadOrCreate(t.TempDir(), "other", "Other CA")
	if err != nil {
		t.Fatal(err)
	}
	weak := loadKey(t, "testdata/weak1024.pem")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert, _ := r.srv.DeviceCA().Sign(&x509.Certificate{Subject: pkix.Name{CommonName: "ec"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, &ec.PublicKey)
	k0 := ks[8]
	wrongCA := issue(t, otherCA, k0, now.Add(-time.Hour), now.Add(time.Hour))
	expired := issue(t, r.srv.DeviceCA(), k0, now.Add(-48*time.Hour), now.Add(-time.Hour))
	notYet := issue(t, r.srv.DeviceCA(), k0, now.Add(time.Hour), now.Add(48*time.Hour))
	weakCert := issue(t, r.srv.DeviceCA(), weak, now.Add(-time.Hour), now.Add(time.Hour))
	replayed := mustConnect(t, good[0], good[0].token, now)
	if st, _, _ := pipeConnect(r.svc, replayed); st != courier.StatusOK {
		t.Fatal("the frame to replay was refused the first time")
	}
	// Pre-signed frames for the classes refused before or regardless of
	// the signature.
	withNonce := func(d *device, token []byte, ts time.Time, mutate func(f *courier.Frame)) []byte {
		nonce := courier.NewNonce(ts)
		sig, _ := courier.SignNonce(d.key, nonce[:])
		f := courier.Frame{Command: courier.CmdConnect}
		if token != nil {
			f.Add(courier.ConnectToken, token)
		}
		f.Add(courier.ConnectCertificate, d.cert).Add(courier.ConnectNonce, nonce[:]).Add(courier.ConnectSignature, sig)
		if mutate != nil {
			mutate(&f)
		}
		return f.Marshal()
	}
	set := func(id byte, v []byte) func(f *courier.Frame) {
		return func(f *courier.Frame) {
			for i := range f.Fields {
				if f.Fields[i].ID == id {
					f.Fields[i].Value = v
				}
			}
		}
	}
	flip := func(f *courier.Frame) {
		for i := range f.Fields {
			if f.Fields[i].ID == courier.ConnectSignature {
				v := bytes.Clone(f.Fields[i].Value)
				v[100] ^= 1
				f.Fields[i].Value = v
			}
		}
	}
	g := good[1]
	type class struct {
		name  string
		frame func(i int) []byte
	}
	pool := func(n int, mk func() []byte) func(int) []byte {
		fs := make([][]byte, n)
		for i := range fs {
			fs[i] = mk()
		}
		return func(i int) []byte { return fs[i%n] }
	}
	classes := []class{
		{"no certificate", pool(4, func() []byte {
			return withNonce(g, g.token, time.Now(), func(f *courier.Frame) {
				f.Fields = slices.DeleteFunc(f.Fields, func(x courier.Field) bool { return x.ID == courier.ConnectCertificate })
			})
		})},
		{"unknown CA", pool(4, func() []byte { return withNonce(g, nil, time.Now(), set(courier.ConnectCertificate, wrongCA)) })},
		{"expired certificate", pool(4, func() []byte { return withNonce(g, nil, time.Now(), set(courier.ConnectCertificate, expired)) })},
		{"certificate not yet valid", pool(4, func() []byte { return withNonce(g, nil, time.Now(), set(courier.ConnectCertificate, notYet)) })},
		{"RSA-1024 key", pool(4, func() []byte { return withNonce(&device{key: weak, cert: weakCert}, nil, time.Now(), nil) })},
		{"ECDSA key", pool(4, func() []byte { return withNonce(g, nil, time.Now(), set(courier.ConnectCertificate, ecCert.Raw)) })},
		{"stale nonce", pool(16, func() []byte { return withNonce(g, g.token, time.Now().Add(-6*time.Minute), nil) })},
		{"future nonce", pool(16, func() []byte { return withNonce(g, g.token, time.Now().Add(6*time.Minute), nil) })},
		{"nonce version 1", pool(4, func() []byte {
			n := courier.NewNonce(time.Now())
			n[0] = 1
			sig, _ := courier.SignNonce(g.key, n[:])
			return withNonce(g, g.token, time.Now(), func(f *courier.Frame) { set(courier.ConnectNonce, n[:])(f); set(courier.ConnectSignature, sig)(f) })
		})},
		{"bad signature", pool(16, func() []byte { return withNonce(g, g.token, time.Now(), flip) })},
		{"signature prefix", pool(4, func() []byte {
			return withNonce(g, g.token, time.Now(), func(f *courier.Frame) {
				for i := range f.Fields {
					if f.Fields[i].ID == courier.ConnectSignature {
						v := bytes.Clone(f.Fields[i].Value)
						v[0] = 2
						f.Fields[i].Value = v
					}
				}
			})
		})},
		{"signed by another key", pool(16, func() []byte {
			return withNonce(g, g.token, time.Now(), func(f *courier.Frame) {
				nonce, _ := f.Get(courier.ConnectNonce)
				sig, _ := courier.SignNonce(ks[20], nonce)
				set(courier.ConnectSignature, sig)(f)
			})
		})},
		{"replayed Connect", func(int) []byte { return replayed }},
		{"revoked device", pool(4, func() []byte {
			return withNonce(&device{key: ks[21], cert: issue(t, r.srv.DeviceCA(), ks[21], now.Add(-time.Hour), now.Add(time.Hour))}, nil, time.Now(), nil)
		})},
		// Fresh nonce, valid signature, but the token of another device.
		{"token of another device", nil},
	}
	// The revoked class is refused for that reason, not another one.
	{
		f, _ := courier.Parse(classes[len(classes)-2].frame(0))
		if _, err := r.svc.auth.verify(&f); err != errRevoked {
			t.Fatalf("revoked device: %v", err)
		}
	}
	const bad, goodN = 10000, 10000
	per := bad / len(classes)
	// Fresh signatures are the slow part (3 ms each): make them in parallel.
	workers := runtime.GOMAXPROCS(0)
	steal := make(chan []byte, 64)
	go func() {
		var wg sync.WaitGroup
		n := per + bad - per*len(classes)
		var made atomic.Int64
		for w := range workers {
			wg.Go(func() {
				for made.Add(1) <= int64(n) {
					steal <- withNonce(good[2+w%4], good[3+w%4].token, time.Now(), nil)
				}
			})
		}
		wg.Wait()
		close(steal)
	}()
	accepted := map[string]int{}
	total := 0
	for ci, c := range classes {
		n := per
		if ci == len(classes)-1 {
			n = bad - per*(len(classes)-1)
		}
		for i := range n {
			var frame []byte
			if c.frame == nil {
				frame = <-steal
			} else {
				frame = c.frame(i)
			}
			st, _, err := pipeConnect(r.svc, frame)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if st != courier.StatusRefused {
				accepted[c.name]++
			}
			total++
		}
	}
	// 10,000 good ones from 8 devices, signed in parallel.
	var refusedGood atomic.Int64
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= goodN {
					return
				}
				d := good[(int(i)*workers+w)%len(good)]
				st, tk, err := pipeConnect(r.svc, mustConnect(t, d, d.token, time.Now()))
				if err != nil || st != courier.StatusOK || !bytes.Equal(tk, d.token) {
					refusedGood.Add(1)
				}
			}
		})
	}
	wg.Wait()
	nAcc := 0
	for _, n := range accepted {
		nAcc += n
	}
	fmt.Printf("H6: bad=%d classes=%d bad_accepted=%d good=%d good_refused=%d\n", total, len(classes), nAcc, goodN, refusedGood.Load())
	if nAcc != 0 || refusedGood.Load() != 0 {
		t.Fatalf("H6: accepted %v; good refused %d", accepted, refusedGood.Load())
	}
}

func mustConnect(t testing.TB, d *device, token []byte, now time.Time) []byte {
	f, err := courier.ConnectFrame(d.cert, d.key, token, now)
	if err != nil {
		t.Fatal(err)
	}
	return f.Marshal()
}

// H8: a captured submission replayed 10,000 times stores one copy; acks
// for ids in another device's queue delete nothing.
func TestH8ReplayAndAckAbuse(t *testing.T) {
	r := newRig(t, nil)
	alice, bob, mallory := r.device(16), r.device(17), r.device(18)
	ca := r.online(alice, madrid)
	defer ca.Close()
	r.connect(bob).Close()
	cm := r.online(mallory, madrid)
	defer cm.Close()
	o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: 5, Sender: "mailto:alice@example.com", Scheme: ids.SchemePairEC,
		Destinations: []ids.Destination{{Token: bob.token, Payload: []byte("once")}}}
	rand.Read(o.UUID[:])
	fan := courier.Frame{Command: courier.CmdSendMessage}
	fan.Add(courier.SendTopic, madrid[:]).Add(courier.SendTo, alice.token).Add(courier.SendPayload, o.Marshal()).Add(courier.SendID, []byte{0, 0, 0, 1})
	direct := courier.Frame{Command: courier.CmdSendMessage}
	direct.Add(courier.SendTopic, madrid[:]).Add(courier.SendTo, bob.token).Add(courier.SendPayload, []byte("direct once")).Add(courier.SendID, []byte{0, 0, 0, 2})
	raw := append(fan.Marshal(), direct.Marshal()...)
	const replays = 10000
	go func() {
		for i := 0; i < replays; i += 50 {
			ca.WriteRaw(bytes.Repeat(raw, 50))
		}
	}()
	acks := 0
	for acks < 2*replays {
		f, err := ca.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.Command == courier.CmdSendMessageAck {
			acks++
		}
	}
	queued := collect(t, r, bob)
	extra := len(queued) - 2
	// Mallory acks every id Bob could have, naming his token and hers.
	for id := uint32(0); id < 64; id++ {
		var b [4]byte
		b[3] = byte(id)
		cm.Ack(bob.token, b)
		cm.Ack(mallory.token, b)
	}
	cm.KeepAlive()
	next(t, cm, courier.CmdKeepAliveAck)
	after := collect(t, r, bob)
	foreign := len(queued) - len(after)
	fmt.Printf("H8: replays=%d extra_copies_stored=%d foreign_acks=128 foreign_deleted=%d\n", 2*replays, extra, foreign)
	if extra != 0 || foreign != 0 {
		t.Fatal("H8 failed")
	}
}
