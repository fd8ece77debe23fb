package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
)

// Item 1: the endpoint. TLS 1.3 with ALPN apns-security-v3 on the node's
// one address, any SNI, no client certificate asked for; HTTP still served
// beside it; unknown commands and fields ignored; a malformed frame closes
// the connection; a TCP close without close_notify is a plain disconnect.
func TestEndpoint(t *testing.T) {
	r := newRig(t, nil)
	cfg := r.tlsCfg.Clone()
	cfg.ServerName = "courier.push.apple.com"
	cfg.InsecureSkipVerify = true // the node's certificate does not name Apple's host
	asked := false
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		return &tls.Certificate{}, nil
	}
	c, err := courier.Dial(context.Background(), r.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := c.NetConn().(*tls.Conn).ConnectionState()
	if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != courier.ALPN || asked {
		t.Fatalf("TLS %x ALPN %q client cert asked %v", st.Version, st.NegotiatedProtocol, asked)
	}
	// TLS 1.2 is refused.
	c12 := r.tlsCfg.Clone()
	c12.MaxVersion = tls.VersionTLS12
	c12.NextProtos = []string{courier.ALPN}
	if conn, err := tls.Dial("tcp", r.addr, c12); err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 accepted")
	}
	// HTTP beside it.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tlsCfg}}
	resp, err := hc.Get("https://" + r.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()

	d := r.device(0)
	ack, err := c.Connect(d.cert, d.key, nil)
	if err != nil || ack.Status != courier.StatusOK {
		t.Fatalf("connect: %v %+v", err, ack)
	}
	// An unknown command and a known one with an unknown field: ignored.
	unknown := courier.Frame{Command: 99}
	unknown.Add(1, []byte("x"))
	ka := courier.Frame{Command: courier.CmdKeepAlive}
	ka.Add(200, []byte("unknown field"))
	if err := c.WriteRaw(append(unknown.Marshal(), ka.Marshal()...)); err != nil {
		t.Fatal(err)
	}
	if f := next(t, c, courier.CmdKeepAliveAck); len(f.Fields) != 0 {
		t.Fatal("KeepAliveAck with fields")
	}
	// A malformed frame (a field runs past the end) closes the connection.
	if err := c.WriteRaw([]byte{courier.CmdKeepAlive, 0, 0, 0, 4, 1, 0, 9, 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFrame(); err == nil {
		t.Fatal("connection open after a malformed frame")
	}
	// A frame longer than the limit too.
	c2 := r.connect(d)
	c2.WriteRaw([]byte{courier.CmdSendMessage, 0, 1, 0, 0})
	if _, err := c2.ReadFrame(); err == nil {
		t.Fatal("connection open after an oversized frame")
	}
	// TCP close without close_notify, then a normal reconnect.
	c3 := r.connect(d)
	c3.NetConn().(*tls.Conn).NetConn().Close()
	c4 := r.connect(d)
	defer c4.Close()
	if err := c4.KeepAlive(); err != nil {
		t.Fatal(err)
	}
	next(t, c4, courier.CmdKeepAliveAck)
	// A known command before Connect closes the connection.
	c5 := r.dial()
	c5.Filter(make([]byte, 32), madrid)
	if _, err := c5.ReadFrame(); err == nil {
		t.Fatal("Filter before Connect accepted")
	}
}

// Items 2 and 3: Connect and ConnectAck, field by field.
func TestConnectAndAck(t *testing.T) {
	r := newRig(t, nil)
	d := r.device(1)
	c := r.dial()
	f, err := courier.ConnectFrame(d.cert, d.key, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw := f.Marshal()
	c.WriteRaw(raw)
	ackF := next(t, c, courier.CmdConnectAck)
	checkAckWidths(t, ackF, true)
	ack, err := courier.ParseConnectAck(ackF)
	if err != nil {
		t.Fatal(err)
	}
	if ack.MaxSize != 4096 || ack.LargeSize != 16384 || time.Since(ack.ServerTime).Abs() > 5*time.Second {
		t.Fatalf("ack %+v", ack)
	}
	d.token = ack.Token
	c.Close()

	// The same Connect replayed on a new connection is refused, and the
	// connection closed.
	c = r.dial()
	c.WriteRaw(raw)
	refused := next(t, c, courier.CmdConnectAck)
	checkAckWidths(t, refused, false)
	if _, err := c.ReadFrame(); err == nil {
		t.Fatal("connection open after a refusal")
	}
	// Reconnecting with the token echoes it unchanged.
	c = r.dial()
	ack2, err := c.Connect(d.cert, d.key, d.token)
	if err != nil || ack2.Status != courier.StatusOK || !bytes.Equal(ack2.Token, d.token) {
		t.Fatalf("reconnect: %v %+v", err, ack2)
	}
	c.Close()
	// A 20-byte (old APNs) token is never echoed: a 32-byte one comes back.
	c = r.dial()
	ack3, err := c.Connect(d.cert, d.key, make([]byte, 20))
	if err != nil || len(ack3.Token) != 32 {
		t.Fatalf("20-byte token: %v %+v", err, ack3)
	}
	c.Close()
	// Informational fields may be absent: a Connect with only 12, 13, 14.
	c = r.dial()
	nonce := courier.NewNonce(time.Now())
	sig, _ := courier.SignNonce(d.key, nonce[:])
	bare := courier.Frame{Command: courier.CmdConnect}
	bare.Add(courier.ConnectSignature, sig).Add(courier.ConnectNonce, nonce[:]).Add(courier.ConnectCertificate, d.cert)
	c.WriteFrame(&bare)
	if a, _ := courier.ParseConnectAck(next(t, c, courier.CmdConnectAck)); a.Status != courier.StatusOK {
		t.Fatal("Connect without informational fields refused")
	}
	c.Close()
}

// checkAckWidths checks a raw ConnectAck: each field once, exactly as wide
// as the issue lists, token only on success.
func checkAckWidths(t *testing.T, f courier.Frame, ok bool) {
	t.Helper()
	want := map[byte]int{1: 1, 4: 2, 5: 2, 6: 3, 8: 2, 10: 8}
	if ok {
		want[3] = 32
	}
	seen := map[byte]int{}
	for _, fl := range f.Fields {
		seen[fl.ID]++
		w, known := want[fl.ID]
		if !known {
			t.Fatalf("unexpected ConnectAck field %d", fl.ID)
		}
		if len(fl.Value) != w {
			t.Fatalf("ConnectAck field %d is %d bytes, want %d", fl.ID, len(fl.Value), w)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("ConnectAck field %d appears %d times", id, seen[id])
		}
	}
	st, _ := f.Get(1)
	v4, _ := f.Get(4)
	v5, _ := f.Get(5)
	v8, _ := f.Get(8)
	wantStatus := byte(0)
	if !ok {
		wantStatus = 2
	}
	if st[0] != wantStatus || !bytes.Equal(v4, []byte{0x10, 0x00}) || !bytes.Equal(v5, []byte{0x00, 0x02}) || !bytes.Equal(v8, []byte{0x40, 0x00}) {
		t.Fatalf("ConnectAck values: status %x, 4=%x 5=%x 8=%x", st, v4, v5, v8)
	}
}

// Items 4–8: filter, liveness, direct send, fan-out, delivery and ack.
func TestSendDeliverAck(t *testing.T) {
	r := newRig(t, nil)
	alice, bob, carol := r.device(2), r.device(3), r.device(4)
	ca := r.online(alice, madrid)
	defer ca.Close()
	next(t, ca, courier.CmdNoStorage) // nothing queued
	// Bob and Carol register, then go offline.
	r.connect(bob).Close()
	r.connect(carol).Close()

	// Direct send, fields in reverse order.
	payload := []byte("direct payload")
	send := courier.Frame{Command: courier.CmdSendMessage}
	send.Add(courier.SendID, []byte{0, 0, 0, 7}).Add(courier.SendPayload, payload).Add(courier.SendTo, bob.token).Add(courier.SendTopic, madrid[:])
	ca.WriteFrame(&send)
	sa := next(t, ca, courier.CmdSendMessageAck)
	a, err := courier.ParseSendAck(sa)
	if err != nil || a.Status != courier.SendStored || a.ID != [4]byte{0, 0, 0, 7} || !bytes.Equal(a.Token, alice.token) {
		t.Fatalf("direct send ack %+v %v", a, err)
	}
	if st, _ := sa.Get(courier.SendAckStatus); len(st) != 1 {
		t.Fatal("status is not 1 byte")
	}
	// The same frame again (a retry) is stored once.
	ca.WriteFrame(&send)
	next(t, ca, courier.CmdSendMessageAck)

	// Fan-out to Bob, Carol and an unknown token.
	o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: 42, Sender: "mailto:alice@example.com", Scheme: ids.SchemePairEC}
	rand.Read(o.UUID[:])
	unknownTok := make([]byte, 32)
	rand.Read(unknownTok)
	o.Destinations = []ids.Destination{
		{URI: "mailto:bob@example.com", Token: bob.token, Payload: []byte("for bob")},
		{URI: "mailto:carol@example.com", Token: carol.token, Payload: []byte("for carol")},
		{URI: "mailto:who@example.com", Token: unknownTok, Payload: []byte("for nobody")},
	}
	ca.Send(madrid, alice.token, o.Marshal(), [4]byte{0, 0, 0, 8})
	statuses := map[string]int{}
	for range 3 {
		m, err := courier.ParseMessage(next(t, ca, courier.CmdSendMessage))
		if err != nil {
			t.Fatal(err)
		}
		sa, err := ids.ParseServerAck(m.Payload)
		if err != nil || sa.UUID != o.UUID || sa.ID != 42 {
			t.Fatalf("c=255 answer: %v %+v", err, sa)
		}
		statuses[string(sa.Token)] = sa.Status
		ca.Ack(alice.token, m.ID) // acks of answers are ignored
	}
	if statuses[string(bob.token)] != 0 || statuses[string(carol.token)] != 0 || statuses[string(unknownTok)] != ids.StatusUnknownToken {
		t.Fatalf("per-destination statuses %v", statuses)
	}
	if a, _ := courier.ParseSendAck(next(t, ca, courier.CmdSendMessageAck)); a.Status != 0 || a.ID != [4]byte{0, 0, 0, 8} {
		t.Fatalf("fan-out ack %+v", a)
	}

	// Bob comes online with the wrong topic enabled: nothing arrives but
	// NoStorage... no: something is queued, on another topic. Then the
	// right topic: both deliveries, oldest first.
	cb := r.connect(bob)
	other := courier.TopicOf("com.example.other")
	cb.Filter(bob.token, other)
	cb.KeepAlive()
	if f := next(t, cb, courier.CmdKeepAliveAck); f.Command != courier.CmdKeepAliveAck {
		t.Fatal()
	}
	cb.Filter(bob.token, madrid)
	var got []courier.Message
	for len(got) < 2 {
		f := next(t, cb, courier.CmdSendMessage)
		checkDeliveryWidths(t, f)
		m, err := courier.ParseMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		m.Payload = bytes.Clone(m.Payload)
		m.Token = bytes.Clone(m.Token)
		got = append(got, m)
	}
	if !bytes.Equal(got[0].Payload, payload) || !bytes.Equal(got[0].Token, bob.token) || got[0].Expiry != courier.NoExpiry {
		t.Fatalf("direct delivery %+v", got[0])
	}
	in, err := ids.ParseIncoming(got[1].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(in.Payload) != "for bob" || in.Sender != "mailto:alice@example.com" || !bytes.Equal(in.SenderToken, alice.token) ||
		in.UUID != o.UUID || in.Scheme != ids.SchemePairEC || in.Recipient != "mailto:bob@example.com" ||
		time.Since(time.Unix(0, in.Timestamp)).Abs() > time.Minute || in.Timestamp != got[1].Timestamp.UnixNano() {
		t.Fatalf("incoming %+v", in)
	}
	if binary.BigEndian.Uint32(got[0].ID[:]) >= binary.BigEndian.Uint32(got[1].ID[:]) {
		t.Fatal("ids not increasing")
	}
	// H8 in passing: Carol acks Bob's ids; Bob acks only the first.
	cc := r.online(carol, madrid)
	cm, _ := courier.ParseMessage(next(t, cc, courier.CmdSendMessage))
	for _, m := range got {
		cc.Ack(carol.token, m.ID)
		cc.Ack(bob.token, m.ID) // naming Bob's token does not help
	}
	cc.Ack(carol.token, cm.ID)
	cb.Ack(bob.token, got[0].ID)
	cb.KeepAlive()
	next(t, cb, courier.CmdKeepAliveAck)
	cb.Close()
	// Bob reconnects: only the unacknowledged one, with the same id.
	cb = r.online(bob, madrid)
	m, err := courier.ParseMessage(next(t, cb, courier.CmdSendMessage))
	if err != nil || m.ID != got[1].ID {
		t.Fatalf("redelivery: %v id %x want %x", err, m.ID, got[1].ID)
	}
	cb.Ack(bob.token, m.ID)
	cb.Close()
	cb = r.online(bob, madrid)
	next(t, cb, courier.CmdNoStorage)
	// An empty filter is valid: nothing is delivered.
	cb.Filter(bob.token)
	ca.Send(madrid, bob.token, []byte("later"), [4]byte{0, 0, 0, 9})
	next(t, ca, courier.CmdSendMessageAck)
	cb.KeepAlive()
	if f := next(t, cb, courier.CmdKeepAliveAck); f.Command != courier.CmdKeepAliveAck {
		t.Fatal()
	}
	// SetState is accepted; the connection stays.
	ss := courier.Frame{Command: courier.CmdSetState}
	ss.Add(courier.SetStateState, []byte{1}).Add(courier.SetStateValue, courier.U32(0x7FFFFFFF))
	cb.WriteFrame(&ss)
	cb.Filter(bob.token, madrid)
	if m, _ := courier.ParseMessage(next(t, cb, courier.CmdSendMessage)); string(m.Payload) != "later" {
		t.Fatal("delivery after re-enabling the topic")
	}
	cb.Close()
}

// checkDeliveryWidths checks a raw delivery frame field by field.
func checkDeliveryWidths(t *testing.T, f courier.Frame) {
	t.Helper()
	want := map[byte]int{1: 32, 2: 20, 4: 4, 5: 4, 6: 8}
	seen := map[byte]int{}
	for _, fl := range f.Fields {
		seen[fl.ID]++
		if w, ok := want[fl.ID]; ok && len(fl.Value) != w {
			t.Fatalf("delivery field %d is %d bytes, want %d", fl.ID, len(fl.Value), w)
		}
	}
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("delivery field %d appears %d times", id, seen[id])
		}
	}
	if seen[3] != 1 {
		t.Fatal("delivery without one payload")
	}
}

// Item 5: the relay does not cut an authenticated idle connection short,
// and its idle limit is at least 10 minutes.
func TestNoEarlyIdleCut(t *testing.T) {
	if DefaultIdleTimeout < 10*time.Minute {
		t.Fatalf("idle timeout %v", DefaultIdleTimeout)
	}
	r := newRig(t, func(o *Options) { o.ConnectTimeout = 200 * time.Millisecond })
	d := r.device(5)
	c := r.connect(d)
	time.Sleep(600 * time.Millisecond) // longer than the connect timeout
	c.KeepAlive()
	next(t, c, courier.CmdKeepAliveAck)
	c.Close()
}
