package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/message"
)

// The receive pipeline, one delivery at a time, in the order that keeps
// the format oracle closed and never shows a message twice:
//
//	delivery ─▶ IDS dictionary ─▶ sender's device (lookup cache; sP + the
//	            (ids.ParseIncoming)  relay-stamped sender token)
//	         ─▶ envelope.Open (verify, decrypt, then decode) ─▶ checks
//	            (inner ID = U, sender among the participants)
//	         ─▶ duplicate? ─▶ fetch + verify attachments and long text
//	         ─▶ store durably (messages.jsonl, seen.log) ─▶ show (fn)
//	         ─▶ ack to the relay ─▶ delivery receipt to the sending device
//
// A delivery that fails anywhere before "store" is dropped: acknowledged to
// the relay (so it is not pushed again) but never answered with a receipt,
// so a forger learns nothing, and logged locally with its UUID and claimed
// sender, never its content. A duplicate is acknowledged and not shown.

// Message is a message received.
type Message struct {
	// ID is the message UUID (canonical upper-case form).
	ID string `json:"id"`
	// From is the sender's handle; FromName its contact name, or "".
	From     string `json:"from"`
	FromName string `json:"from_name"`
	// FromMe is true for a copy of a message sent by another device of
	// this account.
	FromMe bool `json:"from_me"`
	// FromDevice is the id of the sending device.
	FromDevice string `json:"from_device"`
	// Group is the group id (gid), empty outside a group; GroupName is
	// this device's name for the group, if it has one.
	Group     string `json:"group"`
	GroupName string `json:"group_name,omitempty"`
	// Participants are everyone in the conversation, the sender included.
	Participants []string `json:"participants"`
	Text         string   `json:"text"`
	// SentAt is when the relay accepted the message.
	SentAt      time.Time    `json:"sent_at"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is an attachment received (and saved) or sent.
type Attachment struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	MimeType string `json:"mime_type,omitempty"`
	// SHA256 is the hex SHA-256 of the plaintext file.
	SHA256 string `json:"sha256,omitempty"`
	// Path is where the file was saved (received) or read from (sent).
	Path string `json:"path,omitempty"`
	// Error says why a received attachment could not be fetched; Path is
	// then empty.
	Error string `json:"error,omitempty"`
}

// Receipt reports that a device of a recipient stored (Kind "delivered")
// or showed (Kind "read") a message this device sent.
type Receipt struct {
	MessageID  string `json:"message_id"`
	Kind       string `json:"kind"`
	From       string `json:"from"`
	FromName   string `json:"from_name"`
	FromDevice string `json:"from_device,omitempty"`
	// FromDeviceName is the name the device registered with.
	FromDeviceName string    `json:"from_device_name,omitempty"`
	At             time.Time `json:"at"`
}

// Event is what Receive hands its callback: a Message or a Receipt.
type Event struct {
	Message *Message
	Receipt *Receipt
}

// ReceiveOptions tune Receive.
type ReceiveOptions struct {
	// Wait keeps receiving until nothing new has arrived for this long.
	// Zero returns once the relay has pushed everything queued.
	Wait time.Duration
	// Forever receives until ctx ends, reconnecting after a lost
	// connection (for chat and long-running apps).
	Forever bool
	// SaveDir is where attachments are saved (<home>/attachments if empty).
	SaveDir string
}

// errTransient marks a failure that is not the message's fault (the
// directory or blob store unreachable): the delivery is left in the queue
// and Receive returns.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Receive connects to the relay and hands each message and receipt to fn,
// in the order the relay pushes them, until the queue is drained (or
// opt.Wait passes with nothing new, or ctx ends with opt.Forever). A
// message is stored durably before fn sees it and acknowledged to the
// relay after fn returns; if fn returns an error, Receive stops and
// returns it.
func (d *Device) Receive(ctx context.Context, opt ReceiveOptions, fn func(Event) error) error {
	if opt.SaveDir == "" {
		opt.SaveDir = defaultSaveDir(d.home)
	}
	var idle <-chan time.Time
	var timer *time.Timer
	if opt.Wait > 0 {
		timer = time.NewTimer(opt.Wait)
		defer timer.Stop()
		idle = timer.C
	}
	defer d.pendingReceipts.Wait()
	backoff := 100 * time.Millisecond
	for {
		l, err := d.getLink(ctx)
		if err != nil {
			if !opt.Forever && (opt.Wait == 0 || backoff > opt.Wait) {
				return err
			}
			d.log.Warn("relay unreachable; retrying", "err", err.Error(), "in", backoff.String())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		// A lost connection (the relay restarting, or another process of
		// this device connecting: the relay keeps the newer) is
		// reconnected while waiting or receiving forever.
		err = d.receiveOn(ctx, l, opt, fn, timer, idle)
		if err == nil || !errors.Is(err, errLinkLost) || !(opt.Forever || opt.Wait > 0) {
			if errors.Is(err, errLinkLost) {
				d.dropLink(l)
			}
			return err
		}
		d.dropLink(l)
		backoff = 100 * time.Millisecond
	}
}

var errLinkLost = errors.New("the connection to the relay was lost")

func (d *Device) receiveOn(ctx context.Context, l *link, opt ReceiveOptions, fn func(Event) error, timer *time.Timer, idle <-chan time.Time) error {
	if err := l.filter(); err != nil {
		return fmt.Errorf("%w: %v", errLinkLost, err)
	}
	drained, needProbe := false, false
	handle := func(ev linkEvent, ok bool) error {
		if !ok {
			return errLinkLost
		}
		if ev.noStorage {
			drained = true
			return nil
		}
		needProbe = true
		if timer != nil {
			timer.Reset(opt.Wait)
		}
		return d.handleDelivery(ctx, l, ev.msg, opt, fn)
	}
	for {
		if drained && !opt.Forever && opt.Wait == 0 {
			return nil
		}
		select {
		case ev, ok := <-l.events:
			if err := handle(ev, ok); err != nil {
				return err
			}
			continue
		default:
		}
		// Nothing buffered. If deliveries came since the last Filter, ask
		// again: the relay answers NoStorage once nothing is left.
		if needProbe {
			needProbe, drained = false, false
			if err := l.filter(); err != nil {
				return fmt.Errorf("%w: %v", errLinkLost, err)
			}
			continue
		}
		select {
		case ev, ok := <-l.events:
			if err := handle(ev, ok); err != nil {
				return err
			}
		case <-idle:
			return nil
		case <-ctx.Done():
			if opt.Forever {
				return ctx.Err()
			}
			return ctx.Err()
		}
	}
}

// handleDelivery runs one delivery through the pipeline.
func (d *Device) handleDelivery(ctx context.Context, l *link, m courier.Message, opt ReceiveOptions, fn func(Event) error) error {
	queued := m.ID[0]&0x80 == 0 // ephemeral ids are not in the queue: no ack
	ack := func() error {
		if !queued {
			return nil
		}
		if err := l.ack(m.ID); err != nil {
			return fmt.Errorf("%w: %v", errLinkLost, err)
		}
		return nil
	}
	in, err := ids.ParseIncoming(m.Payload)
	if err != nil {
		d.log.Warn("dropped a delivery that is not an IDS message", "reason", err.Error())
		return ack()
	}
	uuid := message.ID(in.UUID)
	switch in.Command {
	case ids.CmdIMessage:
	case ids.CmdDeliveryReceipt, ids.CmdReadReceipt:
		kind := "delivered"
		if in.Command == ids.CmdReadReceipt {
			kind = "read"
		}
		// The relay stores a UUID once per device, so each receipt has a
		// UUID of its own and names the message in its payload (16 bytes).
		ref := uuid
		if len(in.Payload) == len(ref) {
			copy(ref[:], in.Payload)
		}
		r := &Receipt{MessageID: ref.String(), Kind: kind, From: in.Sender, FromName: d.contactName(in.Sender),
			At: time.Unix(0, in.Timestamp)}
		if rd, ok, err := d.cache.senderDevice(ctx, in.Sender, in.SenderToken); err == nil && ok {
			r.FromDevice, r.FromDeviceName = rd.ID, rd.Name
		}
		d.log.Info("receipt", "kind", kind, "message", r.MessageID, "from", in.Sender)
		if err := fn(Event{Receipt: r}); err != nil {
			return err
		}
		return ack()
	default:
		d.log.Debug("ignored an IDS command", "c", in.Command)
		return ack()
	}

	msg, sender, err := d.open(ctx, in, opt)
	if err != nil {
		var te *transientError
		if errors.As(err, &te) {
			return te.err
		}
		if errors.Is(err, envelope.ErrDuplicate) {
			d.log.Debug("duplicate message", "message", uuid.String())
			return ack()
		}
		d.log.Warn("dropped a message", "message", uuid.String(), "claimed_sender", in.Sender,
			"scheme", in.Scheme, "reason", dropReason(err))
		return ack()
	}
	if err := fn(Event{Message: msg}); err != nil {
		return err
	}
	if err := ack(); err != nil {
		return err
	}
	if !msg.FromMe {
		d.sendReceipt(ctx, l, ids.CmdDeliveryReceipt, uuid, sender)
		if d.ReadReceipts() {
			d.sendReceipt(ctx, l, ids.CmdReadReceipt, uuid, sender)
		}
	}
	return nil
}

// open verifies, decrypts, checks, deduplicates, fetches and stores one
// message.
func (d *Device) open(ctx context.Context, in *ids.Incoming, opt ReceiveOptions) (*Message, remoteDevice, error) {
	h, err := dirapi.ParseHandle(in.Sender)
	if err != nil || string(h) != in.Sender {
		return nil, remoteDevice{}, errors.New("sender handle is not in normal form")
	}
	sender, ok, err := d.cache.senderDevice(ctx, in.Sender, in.SenderToken)
	if err != nil {
		return nil, sender, &transientError{fmt.Errorf("looking up the sender of a message: %w", err)}
	}
	if !ok {
		return nil, sender, errors.New("the sending device is not registered under the sender handle")
	}
	opened, err := envelope.Open(d.keys, sender.Keys, in.Scheme, in.Payload)
	if err != nil {
		return nil, sender, err
	}
	m := opened.Message
	if m.ID != message.ID(in.UUID) {
		return nil, sender, errors.New("inner message ID differs from the IDS UUID")
	}
	if !slices.Contains(m.Participants, in.Sender) {
		return nil, sender, errors.New("sender is not among the participants")
	}
	mine := d.ownHandles(ctx, false)
	forMe := func() bool {
		return slices.Contains(mine, in.Sender) || slices.ContainsFunc(m.Participants, func(p string) bool { return slices.Contains(mine, p) })
	}
	if !forMe() {
		// Perhaps a handle another device of the account verified since.
		mine = d.ownHandles(ctx, true)
		if !forMe() {
			return nil, sender, errors.New("none of this account's handles is among the participants")
		}
	}
	fromMe := slices.Contains(mine, in.Sender)
	sent := time.Unix(0, in.Timestamp)
	if d.store.has(m.ID) {
		return nil, sender, envelope.ErrDuplicate
	}
	out := &Message{
		ID: m.ID.String(), From: in.Sender, FromName: d.contactName(in.Sender), FromMe: fromMe,
		FromDevice: sender.ID, Group: m.GroupID, Participants: m.Participants, Text: m.Text, SentAt: sent,
		Attachments: []Attachment{},
	}
	if fromMe {
		out.FromName = ""
	}
	if err := d.fetchAttachments(ctx, m, out, opt.SaveDir); err != nil {
		return nil, sender, err
	}
	if m.GroupID != "" {
		out.GroupName = d.noteGroup(m.GroupID, m.Participants)
	}
	rec := &Record{Dir: "in", ID: out.ID, From: out.From, Group: out.Group, Participants: out.Participants,
		Text: out.Text, At: sent, Attachments: out.Attachments}
	if err := d.store.received(m.ID, sent, rec); err != nil {
		if errors.Is(err, envelope.ErrDuplicate) || errors.Is(err, envelope.ErrStale) {
			return nil, sender, err
		}
		return nil, sender, &transientError{fmt.Errorf("storing a message: %w", err)}
	}
	d.log.Info("received", "message", out.ID, "from", out.From, "device", sender.ID[:12], "attachments", len(out.Attachments))
	return out, sender, nil
}

// sendReceipt tells the sending device that a message was stored (or
// read). Receipts carry no content; a failure to send one is logged only.
func (d *Device) sendReceipt(ctx context.Context, l *link, cmd int, id message.ID, to remoteDevice) {
	me := d.Handles()
	if len(me) == 0 {
		return
	}
	// A receipt has a UUID of its own (the relay keeps one delivery per
	// device and UUID, and every recipient of a group message answers the
	// same sender) and carries the message's UUID as its payload.
	o := ids.Outgoing{Command: cmd, Version: ids.Version, UUID: message.NewID(), Sender: me[0],
		Destinations: []ids.Destination{{URI: to.Handle, Token: to.PushToken, SessionToken: to.SessionToken, Payload: id[:]}}}
	// Receipts are sent in the background; Receive waits for them before it
	// returns.
	d.pendingReceipts.Add(1)
	go func() {
		defer d.pendingReceipts.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := l.send(ctx, func(fid uint32) []byte { o.ID = fid; return o.Marshal() }); err != nil {
			d.log.Warn("receipt not sent", "message", id.String(), "err", err.Error())
		}
	}()
}

// dropReason names why a message was dropped, for the local log: the
// opaque open error's exact reason (kept inside the module), or the check
// that failed.
func dropReason(err error) string {
	if r, ok := openerr.ReasonOf(err); ok {
		return "cannot open: " + string(r)
	}
	return err.Error()
}
