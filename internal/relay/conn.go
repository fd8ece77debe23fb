package relay

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// ephemeralID marks delivery ids that are not in the queue (answers to
// the sender, ephemeral messages); acks of them are ignored.
const ephemeralID = 0x80000000

// conn is one device connection.
type conn struct {
	s      *Service
	nc     net.Conn
	hdr    [courier.HeaderSize]byte
	token  mailbox.Token
	authed bool // set once by the reader before register

	wmu    sync.Mutex // serializes writes; a leaf lock
	wdlSet time.Time  // when the write deadline was last moved (under wmu)
	rdlSet time.Time  // when the read deadline was last moved (reader only)

	// Delivery state (dmu).
	dmu       sync.Mutex
	topics    []courier.Topic
	filtered  bool
	rescan    bool
	reportNS  bool // after a Filter: send NoStorage if nothing is deliverable
	inflight  map[uint32]struct{}
	cursor    uint64 // pump-owned: the last seq pushed on this connection
	stalled   bool   // the pump stopped on MaxInflight
	stopWatch func()

	pump    atomic.Int32 // 0 idle, 1 running, 2 running and asked again
	ephSeq  atomic.Uint32
	closed  atomic.Bool
	closeMu sync.Mutex
}

var errViolation = errors.New("protocol violation")

func (c *conn) serve() {
	defer c.close()
	if c.handshake() {
		c.loop()
	}
}

// handshake runs the connection until a Connect verifies (true) or the
// connection must close (false).
func (c *conn) handshake() bool {
	s := c.s
	c.nc.SetDeadline(s.now().Add(s.opt.ConnectTimeout))
	for {
		f, _, err := c.read()
		if err != nil {
			return false
		}
		if f.Command != courier.CmdConnect {
			if isKnown(f.Command) {
				return false // a known command before Connect breaks the protocol
			}
			continue
		}
		if !c.connect(&f) {
			return false
		}
		c.nc.SetWriteDeadline(time.Time{})
		return true
	}
}

// loop reads and handles frames until the connection ends.
func (c *conn) loop() {
	s := c.s
	for {
		// Moving a deadline costs a timer update: it is moved at most
		// once every deadlineSlack, so the idle limit is IdleTimeout minus
		// up to that much.
		if now := s.now(); now.Sub(c.rdlSet) > deadlineSlack {
			c.nc.SetReadDeadline(now.Add(s.opt.IdleTimeout))
			c.rdlSet = now
		}
		f, buf, err := c.read()
		if err != nil {
			return
		}
		err = c.handle(&f)
		putBuf(buf, f.Fields)
		if err != nil {
			return
		}
	}
}

// deadlineSlack is how stale a moving deadline may get.
const deadlineSlack = time.Second

// Frame bodies and field lists are pooled: a frame is handled before the
// next is read, and nothing a handler keeps aliases the body. An idle
// connection holds neither.
var (
	bodyPool  = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}
	fieldPool = sync.Pool{New: func() any { f := make([]courier.Field, 0, 16); return &f }}
)

func putBuf(buf *[]byte, fields []courier.Field) {
	if buf != nil && cap(*buf) <= 64<<10 {
		bodyPool.Put(buf)
	}
	if cap(fields) <= 256 {
		clear(fields[:cap(fields)])
		fields = fields[:0]
		fieldPool.Put(&fields)
	}
}

func isKnown(cmd byte) bool {
	switch cmd {
	case courier.CmdConnect, courier.CmdConnectAck, courier.CmdFilter, courier.CmdSendMessage,
		courier.CmdSendMessageAck, courier.CmdKeepAlive, courier.CmdKeepAliveAck, courier.CmdNoStorage,
		courier.CmdScopedToken, courier.CmdScopedTokenAck, courier.CmdSetState:
		return true
	}
	return false
}

// read reads one frame into a pooled buffer, returned for putBuf.
func (c *conn) read() (courier.Frame, *[]byte, error) {
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return courier.Frame{}, nil, err
	}
	n := binary.BigEndian.Uint32(c.hdr[1:])
	if n > courier.MaxFrameSize {
		return courier.Frame{}, nil, courier.ErrTooLarge
	}
	buf := bodyPool.Get().(*[]byte)
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	body := (*buf)[:n]
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return courier.Frame{}, nil, err
	}
	fields := fieldPool.Get().(*[]courier.Field)
	f, err := courier.ParseBody(c.hdr[0], body, *fields)
	return f, buf, err
}

// connect verifies a Connect and answers it. It reports whether the
// connection goes on.
func (c *conn) connect(f *courier.Frame) bool {
	s := c.s
	vc, err := s.auth.verify(f)
	var tok mailbox.Token
	if err == nil {
		tok, err = s.bindToken(s.ctx, f, vc)
	}
	if err != nil {
		s.nRefused.Add(1)
		s.log.Debug("relay: connect refused", "remote", c.nc.RemoteAddr().String(), "reason", err.Error())
		c.write(connectAck(courier.StatusRefused, nil, s.now()))
		return false
	}
	c.token = tok
	c.authed = true
	s.register(c)
	if err := c.write(connectAck(courier.StatusOK, tok[:], s.now())); err != nil {
		return false
	}
	stop := s.mbox.Watch(tok, c.kick)
	c.dmu.Lock()
	if c.closed.Load() { // closed (a takeover) before the watch existed
		c.dmu.Unlock()
		stop()
		return false
	}
	c.stopWatch = stop
	c.dmu.Unlock()
	return true
}

// connectAck builds a ConnectAck with each field exactly once and exactly
// as wide as documented in package courier.
func connectAck(status byte, token []byte, now time.Time) []byte {
	f := courier.Frame{Command: courier.CmdConnectAck}
	f.Add(courier.AckStatus, []byte{status})
	if token != nil {
		f.Add(courier.AckToken, token)
	}
	f.Add(courier.AckMaxSize, courier.U16(courier.MaxPayload))
	f.Add(courier.AckField5, courier.AckField5Value[:])
	f.Add(courier.AckCapabilities, courier.AckCapabilitiesBits[:])
	f.Add(courier.AckLargeSize, courier.U16(courier.LargePayload))
	f.Add(courier.AckServerTime, courier.U64(uint64(now.UnixMilli())))
	return f.Marshal()
}

func (c *conn) handle(f *courier.Frame) error {
	switch f.Command {
	case courier.CmdKeepAlive:
		return c.write((&courier.Frame{Command: courier.CmdKeepAliveAck}).Marshal())
	case courier.CmdFilter:
		c.filter(f)
	case courier.CmdSendMessage:
		return c.send(f)
	case courier.CmdSendMessageAck:
		c.ack(f)
	case courier.CmdConnect:
		return errViolation // a second Connect
	}
	// SetState, NoStorage, ScopedToken and unknown commands: accepted,
	// nothing to do.
	return nil
}

// filter replaces the connection's enabled topics and rescans its queue.
func (c *conn) filter(f *courier.Frame) {
	var topics []courier.Topic
	for _, fl := range f.Fields {
		if fl.ID == courier.FilterEnabled {
			if t, ok := topicOf(fl.Value); ok {
				topics = append(topics, t)
			}
		}
	}
	c.dmu.Lock()
	c.topics = topics
	c.filtered = true
	c.rescan = true
	c.reportNS = true
	c.dmu.Unlock()
	c.kick()
}

// ack deletes an acknowledged delivery from the connection's own queue.
func (c *conn) ack(f *courier.Frame) {
	v, ok := f.Get(courier.SendAckID)
	if !ok || len(v) != courier.IDSize {
		return
	}
	id := binary.BigEndian.Uint32(v)
	if id&ephemeralID != 0 {
		return
	}
	c.dmu.Lock()
	_, was := c.inflight[id]
	delete(c.inflight, id)
	if len(c.inflight) == 0 {
		c.inflight = nil // an idle connection keeps no map
	}
	wake := was && c.stalled
	if wake {
		c.stalled = false
	}
	c.dmu.Unlock()
	c.s.nAcks.Add(1)
	c.s.mbox.Ack(c.s.ctx, c.token, uint64(id))
	if wake {
		c.kick()
	}
}

// write writes b (whole frames) with one Write.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.moveWriteDeadline()
	_, err := c.nc.Write(b)
	if err != nil {
		c.closeAsync()
	}
	return err
}

// tryWrite writes b unless another write is in progress (ephemeral
// messages are dropped rather than queued behind a slow device).
func (c *conn) tryWrite(b []byte) bool {
	if !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	c.moveWriteDeadline()
	if _, err := c.nc.Write(b); err != nil {
		c.closeAsync()
		return false
	}
	return true
}

// moveWriteDeadline keeps the write deadline WriteTimeout (less up to
// deadlineSlack) ahead. Called with wmu held.
func (c *conn) moveWriteDeadline() {
	if now := c.s.now(); now.Sub(c.wdlSet) > deadlineSlack {
		c.nc.SetWriteDeadline(now.Add(c.s.opt.WriteTimeout))
		c.wdlSet = now
	}
}

func (c *conn) close() {
	c.closeMu.Lock()
	if c.closed.Load() {
		c.closeMu.Unlock()
		return
	}
	c.closed.Store(true)
	c.closeMu.Unlock()
	c.nc.Close()
	c.dmu.Lock()
	stop := c.stopWatch
	c.stopWatch = nil
	c.dmu.Unlock()
	if stop != nil {
		stop()
	}
	c.s.unregister(c)
}

// closeAsync closes from a writer without waiting on the caller's locks.
func (c *conn) closeAsync() { go c.close() }
