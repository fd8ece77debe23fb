package relay

import (
	"bytes"
	"crypto/sha256"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// send handles a SendMessage from the device: a direct send, or a fan-out
// when it is addressed to the sender's own token. It answers with
// SendMessageAck (preceded, for a fan-out, by one c = 255 answer per
// destination) once what was accepted is durable. A storage failure
// closes the connection without an answer; the device retries.
func (c *conn) send(f *courier.Frame) error {
	s := c.s
	s.nSends.Add(1)
	topicB, _ := f.Get(courier.SendTopic)
	to, _ := f.Get(courier.SendTo)
	payload, _ := f.Get(courier.SendPayload)
	id, _ := f.Get(courier.SendID)
	topic, okTopic := topicOf(topicB)
	if len(id) != courier.IDSize {
		id = make([]byte, courier.IDSize) // answered with a zero id
		okTopic = false
	}
	if !okTopic || len(to) != courier.TokenSize || f.Count(courier.SendPayload) != 1 {
		return c.write(sendAck(c.token[:], id, courier.SendMalformed))
	}
	if bytes.Equal(to, c.token[:]) {
		return c.fanout(topic, payload, id)
	}
	if len(payload) > courier.MaxPayload {
		return c.write(sendAck(c.token[:], id, courier.SendTooLarge))
	}
	dest := mailbox.Token(to)
	if _, ok, err := s.tokens.Lookup(s.ctx, dest); err != nil {
		s.failed("relay: looking up a token", err)
		return err
	} else if !ok {
		return c.write(sendAck(c.token[:], id, courier.SendUnknownToken))
	}
	now := s.now()
	d := mailbox.Delivery{Device: dest, Topic: mailbox.Topic(topic), Time: now, Expires: now.Add(s.opt.TTL),
		SenderToken: c.token, Payload: bytes.Clone(payload)}
	h := sha256.New()
	h.Write(c.token[:])
	h.Write(topic[:])
	h.Write(id)
	h.Write(payload)
	copy(d.UUID[:], h.Sum(nil))
	if _, err := s.mbox.Enqueue(s.ctx, []mailbox.Delivery{d}); err != nil {
		s.failed("relay: storing a delivery", err)
		return err
	}
	return c.write(sendAck(c.token[:], id, courier.SendStored))
}

func sendAck(token, id []byte, status byte) []byte {
	f := courier.Frame{Command: courier.CmdSendMessageAck}
	f.Add(courier.SendAckToken, token).Add(courier.SendAckID, id).Add(courier.SendAckStatus, []byte{status})
	return f.Marshal()
}

// fanout splits an IDS message into one delivery per destination device.
func (c *conn) fanout(topic courier.Topic, payload, id []byte) error {
	s := c.s
	if len(payload) > courier.LargePayload {
		return c.write(sendAck(c.token[:], id, courier.SendTooLarge))
	}
	o, err := ids.ParseOutgoing(payload)
	if err != nil {
		return c.write(sendAck(c.token[:], id, courier.SendMalformed))
	}
	now := s.now()
	expires := now.Add(s.opt.TTL)
	msgExpiry := false
	if o.HasExpiry && o.Expiry > 0 && time.Duration(o.Expiry) < s.opt.TTL/time.Second {
		expires = now.Add(time.Duration(o.Expiry) * time.Second)
		msgExpiry = true
	}
	status := make([]int, len(o.Destinations))
	var verdict []int
	if s.opt.CheckFanout != nil {
		if verdict = s.opt.CheckFanout(s.ctx, c.token, o); len(verdict) != len(o.Destinations) {
			verdict = nil
		}
	}
	var ds []mailbox.Delivery
	for i, dst := range o.Destinations {
		if len(dst.Token) != courier.TokenSize || dst.Payload == nil {
			status[i] = ids.StatusMalformed
			continue
		}
		if verdict != nil && verdict[i] != ids.StatusAccepted {
			status[i] = verdict[i]
			continue
		}
		tok := mailbox.Token(dst.Token)
		if _, ok, err := s.tokens.Lookup(s.ctx, tok); err != nil {
			s.failed("relay: looking up a token", err)
			return err
		} else if !ok {
			status[i] = ids.StatusUnknownToken
			continue
		}
		in := ids.Incoming{Command: o.Command, Payload: dst.Payload, Sender: o.Sender, Recipient: dst.URI,
			SenderToken: c.token[:], UUID: o.UUID, Scheme: o.Scheme, Timestamp: now.UnixNano()}
		b := in.Marshal()
		if len(b) > courier.LargePayload {
			status[i] = ids.StatusTooLarge
			continue
		}
		if len(o.Sender) > mailbox.MaxSender || len(o.Scheme) > mailbox.MaxScheme {
			status[i] = ids.StatusMalformed
			continue
		}
		ds = append(ds, mailbox.Delivery{Device: tok, UUID: mailbox.UUID(o.UUID), Topic: mailbox.Topic(topic),
			Time: now, Expires: expires, MessageExpiry: msgExpiry, Sender: o.Sender, SenderToken: c.token,
			Scheme: o.Scheme, Payload: b})
	}
	if o.Ephemeral() {
		for _, d := range ds {
			c.pushEphemeral(&d)
		}
	} else if len(ds) > 0 {
		if _, err := s.mbox.Enqueue(s.ctx, ds); err != nil {
			s.failed("relay: storing deliveries", err)
			return err
		}
	}
	// One Write: the per-destination answers, then the ack.
	var out []byte
	for i, dst := range o.Destinations {
		a := ids.ServerAck{UUID: o.UUID, ID: o.ID, Token: dst.Token, Status: status[i]}
		f := courier.Frame{Command: courier.CmdSendMessage}
		f.Add(courier.DeliverToken, c.token[:]).Add(courier.DeliverTopic, topic[:]).Add(courier.DeliverPayload, a.Marshal())
		f.Add(courier.DeliverID, courier.U32(c.nextEphemeral())).Add(courier.DeliverExpiry, courier.U32(courier.NoExpiry))
		f.Add(courier.DeliverTimestamp, courier.U64(uint64(now.UnixNano())))
		out = f.AppendTo(out)
	}
	out = append(out, sendAck(c.token[:], id, courier.SendStored)...)
	return c.write(out)
}

func (c *conn) nextEphemeral() uint32 { return ephemeralID | c.ephSeq.Add(1)&^ephemeralID }

// pushEphemeral pushes d to its device if it is online with the topic
// enabled, and drops it otherwise.
func (c *conn) pushEphemeral(d *mailbox.Delivery) {
	dst := c.s.lookupOnline(d.Device)
	if dst == nil {
		return
	}
	dst.dmu.Lock()
	ok := dst.filtered
	if ok {
		ok = false
		for _, t := range dst.topics {
			if t == courier.Topic(d.Topic) {
				ok = true
			}
		}
	}
	dst.dmu.Unlock()
	if ok {
		dst.tryWrite(appendDelivery(nil, d, dst.nextEphemeral()))
	}
}
