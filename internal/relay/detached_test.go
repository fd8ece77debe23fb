package relay

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
)

// A listener of the relay's own (sealpostd --courier-listen): the TLS
// handshake and the Connect run in the accepting goroutine, the rest in a
// detached one. Devices see the same protocol.
func TestServeConnDetached(t *testing.T) {
	r := newRig(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := r.srv.TLSConfig()
	cfg.NextProtos = []string{courier.ALPN}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() != nil {
					tc.Close()
					return
				}
				tc.SetDeadline(time.Time{})
				r.svc.ServeConnDetached(tc)
			}()
		}
	}()
	r.addr = ln.Addr().String()
	alice, bob := r.device(0), r.device(1)
	ca := r.online(alice, madrid)
	defer ca.Close()
	next(t, ca, courier.CmdNoStorage)
	cb := r.online(bob, madrid)
	defer cb.Close()
	next(t, cb, courier.CmdNoStorage)
	ca.Send(madrid, bob.token, []byte("hello"), [4]byte{0, 0, 0, 1})
	if a, _ := courier.ParseSendAck(next(t, ca, courier.CmdSendMessageAck)); a.Status != courier.SendStored {
		t.Fatalf("ack %+v", a)
	}
	m, err := courier.ParseMessage(next(t, cb, courier.CmdSendMessage))
	if err != nil || string(m.Payload) != "hello" {
		t.Fatalf("delivery: %v %q", err, m.Payload)
	}
	// A refused Connect closes the connection there too.
	c := r.dial()
	c.WriteRaw(mustConnect(t, alice, []byte("not a token, 32 bytes long!!!!!"), time.Now().Add(-time.Hour)))
	if a, _ := courier.ParseConnectAck(next(t, c, courier.CmdConnectAck)); a.Status != courier.StatusRefused {
		t.Fatal("stale Connect accepted")
	}
	if _, err := c.ReadFrame(); err == nil {
		t.Fatal("open after a refusal")
	}
	// Close waits for detached connections too.
	r.stop()
}
