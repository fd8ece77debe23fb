package relay

import (
	"slices"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// kick asks the connection's pump to look at the queue. The pump runs in
// its own goroutine only while there is work; kicks while it runs make it
// look once more.
func (c *conn) kick() {
	for {
		switch st := c.pump.Load(); st {
		case 0:
			if c.pump.CompareAndSwap(0, 1) {
				go c.runPump()
				return
			}
		case 1:
			if c.pump.CompareAndSwap(1, 2) {
				return
			}
		default:
			return
		}
	}
}

func (c *conn) runPump() {
	for {
		c.deliver()
		if c.pump.CompareAndSwap(1, 0) {
			return
		}
		c.pump.Store(1) // asked again meanwhile
	}
}

// writeBatch is how many bytes of delivery frames go in one Write.
const writeBatch = 32 << 10

// deliver pushes the device's queued deliveries on enabled topics, oldest
// first, until the queue is exhausted or MaxInflight are unacknowledged.
func (c *conn) deliver() {
	if c.closed.Load() {
		return
	}
	c.dmu.Lock()
	if !c.filtered {
		c.dmu.Unlock()
		return
	}
	if c.rescan {
		c.cursor, c.rescan = 0, false
	}
	report := c.reportNS
	c.reportNS = false
	topics := c.topics
	after := c.cursor
	room := c.s.opt.MaxInflight - len(c.inflight)
	c.dmu.Unlock()

	var buf []byte
	sent := 0
	flush := func() bool {
		if len(buf) == 0 {
			return true
		}
		err := c.write(buf)
		buf = buf[:0]
		return err == nil
	}
	stalled := false
	for d, err := range c.s.mbox.Pending(c.s.ctx, c.token, after) {
		if err != nil {
			c.s.failed("relay: reading the queue", err)
			break
		}
		after = d.Seq
		if !slices.Contains(topics, courier.Topic(d.Topic)) {
			continue
		}
		id := uint32(d.Seq) &^ ephemeralID
		c.dmu.Lock()
		_, dup := c.inflight[id]
		if !dup {
			if room <= 0 {
				c.stalled = true
				c.dmu.Unlock()
				stalled = true
				after = d.Seq - 1
				break
			}
			if c.inflight == nil {
				c.inflight = make(map[uint32]struct{})
			}
			c.inflight[id] = struct{}{}
			room--
		}
		c.dmu.Unlock()
		if dup {
			continue // pushed earlier on this connection (a rescan)
		}
		buf = appendDelivery(buf, &d, id)
		sent++
		if len(buf) >= writeBatch && !flush() {
			return
		}
	}
	if !flush() {
		return
	}
	c.dmu.Lock()
	if !c.rescan {
		c.cursor = after
	}
	c.dmu.Unlock()
	c.s.nDeliveries.Add(int64(sent))
	if report && sent == 0 && !stalled {
		f := courier.Frame{Command: courier.CmdNoStorage}
		f.Add(courier.NoStorageToken, c.token[:])
		c.write(f.Marshal())
	}
}

// appendDelivery appends the SendMessage frame that pushes d.
func appendDelivery(b []byte, d *mailbox.Delivery, id uint32) []byte {
	expiry := uint32(courier.NoExpiry)
	if d.MessageExpiry {
		expiry = uint32(max(0, min(d.Expires.Unix(), courier.NoExpiry-1)))
	}
	f := courier.Frame{Command: courier.CmdSendMessage, Fields: make([]courier.Field, 0, 6)}
	f.Add(courier.DeliverToken, d.Device[:])
	f.Add(courier.DeliverTopic, d.Topic[:])
	f.Add(courier.DeliverPayload, d.Payload)
	f.Add(courier.DeliverID, courier.U32(id))
	f.Add(courier.DeliverExpiry, courier.U32(expiry))
	f.Add(courier.DeliverTimestamp, courier.U64(uint64(d.Time.UnixNano())))
	return f.AppendTo(b)
}
