package courier

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// ALPN is the protocol a courier client offers in its TLS handshake.
const ALPN = "apns-security-v3"

// Conn is the device side of a courier connection: frames in, frames out,
// and helpers for the commands a device sends. Reads must come from one
// goroutine; writes may come from any (each frame is one Write).
type Conn struct {
	nc   net.Conn
	rbuf []byte
	wmu  sync.Mutex
	wbuf []byte
}

// Dial opens a TLS 1.3 connection to a relay with ALPN apns-security-v3.
// cfg supplies the roots and server name; it is cloned.
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*Conn, error) {
	c := cfg.Clone()
	c.MinVersion = tls.VersionTLS13
	c.NextProtos = []string{ALPN}
	d := tls.Dialer{Config: c}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if nc.(*tls.Conn).ConnectionState().NegotiatedProtocol != ALPN {
		nc.Close()
		return nil, errors.New("courier: server did not select ALPN " + ALPN)
	}
	return NewConn(nc), nil
}

// NewConn wraps an established connection.
func NewConn(nc net.Conn) *Conn { return &Conn{nc: nc} }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// WriteFrame writes f with a single Write.
func (c *Conn) WriteFrame(f *Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = f.AppendTo(c.wbuf[:0])
	_, err := c.nc.Write(c.wbuf)
	return err
}

// WriteRaw writes b, one or more encoded frames, with a single Write.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// ReadFrame reads the next frame. Its fields are valid until the next
// ReadFrame.
func (c *Conn) ReadFrame() (Frame, error) {
	f, buf, err := ReadFrame(c.nc, c.rbuf, MaxFrameSize)
	c.rbuf = buf
	return f, err
}

// Connect sends a Connect for the device (push certificate DER and key;
// token nil the first time) and returns the ConnectAck, skipping any other
// frame that arrives first.
func (c *Conn) Connect(cert []byte, key *rsa.PrivateKey, token []byte) (ConnectAck, error) {
	f, err := ConnectFrame(cert, key, token, time.Now())
	if err != nil {
		return ConnectAck{}, err
	}
	if err := c.WriteFrame(&f); err != nil {
		return ConnectAck{}, err
	}
	for {
		r, err := c.ReadFrame()
		if err != nil {
			return ConnectAck{}, err
		}
		if r.Command == CmdConnectAck {
			return ParseConnectAck(r)
		}
	}
}

// Filter enables exactly the given topics for token.
func (c *Conn) Filter(token []byte, enabled ...Topic) error {
	f := Frame{Command: CmdFilter}
	f.Add(FilterToken, token)
	for i := range enabled {
		f.Add(FilterEnabled, enabled[i][:])
	}
	return c.WriteFrame(&f)
}

// Send sends a SendMessage: a direct send to another device's token, or a
// fan-out send (to = the sender's own token, payload an IDS dictionary).
func (c *Conn) Send(topic Topic, to, payload []byte, id [IDSize]byte) error {
	f := Frame{Command: CmdSendMessage}
	f.Add(SendTopic, topic[:]).Add(SendTo, to).Add(SendPayload, payload).Add(SendID, id[:])
	return c.WriteFrame(&f)
}

// Ack acknowledges the delivery with id, which deletes it from the
// device's queue.
func (c *Conn) Ack(token []byte, id [IDSize]byte) error {
	f := Frame{Command: CmdSendMessageAck}
	f.Add(SendAckToken, token).Add(SendAckID, id[:]).Add(SendAckStatus, []byte{SendStored})
	return c.WriteFrame(&f)
}

// KeepAlive sends a KeepAlive; the relay answers KeepAliveAck.
func (c *Conn) KeepAlive() error {
	return c.WriteFrame(&Frame{Command: CmdKeepAlive})
}
