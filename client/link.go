package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
)

// The device's connection to the relay (courier protocol, protocol.md §4):
//
//	dialLink: TLS 1.3 + ALPN ─▶ Connect(cert, nonce, signature) ─▶ token
//	reader goroutine: ReadFrame ─┬─ SendMessageAck ──────────────▶ pending[id] (a send waiting)
//	                             ├─ SendMessage c=255 (server ack) ▶ pending[i]
//	                             ├─ SendMessage (a delivery) ─────▶ events (in order)
//	                             └─ NoStorage ────────────────────▶ events (in order)
//	keep-alive goroutine: KeepAlive every keepAliveEvery
//
// Deliveries and NoStorage share one ordered channel, so a receiver that
// sees NoStorage has seen every delivery pushed before it. Answers to
// sends go straight to the waiting sender, so sending never waits for the
// receiver. The relay pushes at most 256 unacknowledged deliveries, far
// below the channel's capacity, so the reader does not block on it.

const (
	keepAliveEvery = 60 * time.Second
	eventBuffer    = 1024
	// ephemeralBit marks relay ids that are not in the device's queue
	// (answers to sends, ephemeral messages).
	ephemeralBit = 0x80000000
)

var topicIMessage = courier.TopicOf(courier.TopicIMessage)

type linkEvent struct {
	noStorage bool
	msg       courier.Message // payload and token copied out of the frame
}

type sendResult struct {
	status byte
	acks   []ids.ServerAck
}

type pendingSend struct {
	acks []ids.ServerAck
	done chan sendResult
}

type link struct {
	d      *Device
	c      *courier.Conn
	token  []byte
	events chan linkEvent

	mu      sync.Mutex
	pending map[uint32]*pendingSend
	err     error
	dead    chan struct{}

	nextID   atomic.Uint32
	filtered atomic.Bool
	stop     chan struct{}
	once     sync.Once
}

// dialLink connects to the relay and authenticates with the push
// certificate; token is the device's token (nil on the first connect).
func (d *Device) dialLink(ctx context.Context, token []byte) (*link, error) {
	dctx, cancel := context.WithTimeout(ctx, d.opt.DialTimeout)
	defer cancel()
	c, err := courier.Dial(dctx, d.addr, d.tlsCfg)
	if err != nil {
		return nil, d.serverError(err)
	}
	if dl, ok := dctx.Deadline(); ok {
		c.NetConn().SetDeadline(dl)
	}
	ack, err := c.Connect(d.cert, d.pushKey, token)
	if err != nil {
		c.Close()
		return nil, d.serverError(fmt.Errorf("connecting to the relay: %w", err))
	}
	if ack.Status != courier.StatusOK {
		c.Close()
		return nil, withHint(errors.New("the relay refused this device's push certificate"),
			"check this computer's clock; a device whose certificate expired must be set up again with sealpost init")
	}
	c.NetConn().SetDeadline(time.Time{})
	l := &link{d: d, c: c, token: ack.Token, events: make(chan linkEvent, eventBuffer),
		pending: make(map[uint32]*pendingSend), dead: make(chan struct{}), stop: make(chan struct{})}
	l.nextID.Store(uint32(d.now().UnixNano()) & 0x3fffffff)
	go l.read()
	go l.keepAlive()
	return l, nil
}

// getLink returns the device's connection, connecting if needed.
func (d *Device) getLink(ctx context.Context) (*link, error) {
	d.linkMu.Lock()
	defer d.linkMu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	if d.link != nil {
		select {
		case <-d.link.dead:
			d.link = nil
		default:
			return d.link, nil
		}
	}
	l, err := d.dialLink(ctx, d.PushToken())
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(l.token, d.PushToken()) {
		if err := d.updatePushToken(ctx, l.token); err != nil {
			l.close()
			return nil, err
		}
	}
	d.link = l
	return l, nil
}

// dropLink forgets l if it is the current link (after an error).
func (d *Device) dropLink(l *link) {
	d.linkMu.Lock()
	if d.link == l {
		d.link = nil
	}
	d.linkMu.Unlock()
	l.close()
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.stop)
		l.c.Close()
	})
}

func (l *link) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
		close(l.dead)
		for id, p := range l.pending {
			delete(l.pending, id)
			close(p.done)
		}
	}
	l.mu.Unlock()
	close(l.events)
}

func (l *link) read() {
	for {
		f, err := l.c.ReadFrame()
		if err != nil {
			l.fail(fmt.Errorf("relay connection: %w", err))
			l.close()
			return
		}
		switch f.Command {
		case courier.CmdSendMessageAck:
			a, err := courier.ParseSendAck(f)
			if err != nil {
				continue
			}
			id := uint32(a.ID[0])<<24 | uint32(a.ID[1])<<16 | uint32(a.ID[2])<<8 | uint32(a.ID[3])
			l.mu.Lock()
			p := l.pending[id]
			delete(l.pending, id)
			l.mu.Unlock()
			if p != nil {
				p.done <- sendResult{status: a.Status, acks: p.acks}
			}
		case courier.CmdSendMessage:
			m, err := courier.ParseMessage(f)
			if err != nil {
				continue
			}
			if sa, err := ids.ParseServerAck(m.Payload); err == nil {
				l.mu.Lock()
				if p := l.pending[sa.ID]; p != nil {
					sa.Token = bytes.Clone(sa.Token)
					p.acks = append(p.acks, *sa)
				}
				l.mu.Unlock()
				continue
			}
			m.Token = bytes.Clone(m.Token)
			m.Payload = bytes.Clone(m.Payload)
			l.events <- linkEvent{msg: m}
		case courier.CmdNoStorage:
			l.events <- linkEvent{noStorage: true}
		}
	}
}

func (l *link) keepAlive() {
	t := time.NewTicker(keepAliveEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.dead:
			return
		case <-t.C:
			if err := l.c.KeepAlive(); err != nil {
				l.close()
				return
			}
		}
	}
}

// filter enables the iMessage topic: the relay then pushes the queue and,
// when nothing is left to push, answers NoStorage.
func (l *link) filter() error {
	l.filtered.Store(true)
	return l.c.Filter(l.token, topicIMessage)
}

// send writes one fan-out frame (an IDS dictionary addressed to our own
// token) and waits for the relay's answer: its SendMessageAck status and
// the per-destination answers (c = 255) that precede it.
func (l *link) send(ctx context.Context, build func(id uint32) []byte) (sendResult, error) {
	id := l.nextID.Add(1) &^ ephemeralBit
	p := &pendingSend{done: make(chan sendResult, 1)}
	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return sendResult{}, err
	}
	l.pending[id] = p
	l.mu.Unlock()
	var fid [courier.IDSize]byte
	fid[0], fid[1], fid[2], fid[3] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
	if err := l.c.Send(topicIMessage, l.token, build(id), fid); err != nil {
		l.close()
		return sendResult{}, fmt.Errorf("relay connection: %w", err)
	}
	select {
	case r, ok := <-p.done:
		if !ok {
			l.mu.Lock()
			err := l.err
			l.mu.Unlock()
			return sendResult{}, err
		}
		return r, nil
	case <-ctx.Done():
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
		return sendResult{}, ctx.Err()
	}
}

// ack acknowledges a delivery: the relay deletes it from the queue.
func (l *link) ack(id [courier.IDSize]byte) error {
	return l.c.Ack(l.token, id)
}
